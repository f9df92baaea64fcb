"""Batch grading: folders in, ranked summary, per-trainee feedback and shareable reports out."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from callqa.batch.runner import KEEP_WEAKEST, BatchSummary, Outcome, find_transcripts, summarize
from callqa.cli.app import app

from conftest import CHROMIUM, SAMPLES, rendered_dom


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def trainees(tmp_path):
    """Three trainees' folders of sample calls; one call names its agent in a header; one file is bad."""
    root = tmp_path / "calls"
    for name, picks in (("张三", SAMPLES[0:3]), ("李四", SAMPLES[3:6]), ("王五", SAMPLES[6:10])):
        (root / name).mkdir(parents=True)
        for sample in picks:
            shutil.copy(sample, root / name / sample.name)
    (root / "王五" / "11_headed.txt").write_text(
        '# agent: =HYPERLINK("http://x")\n客服:您好,工号1234为您服务\n客户:<script>alert(1)</script>怎么回事\n'
        "客服:这个不归我们管\n",
        encoding="utf-8",
    )
    (root / "李四" / "broken.json").write_text('{"Sentences": [', encoding="utf-8")
    (root / ".hidden").mkdir()
    shutil.copy(SAMPLES[0], root / ".hidden" / "skipped.txt")
    return root


def test_find_transcripts_walks_folders_filters_and_deduplicates(trainees):
    found, errors = find_transcripts([trainees, trainees / "张三" / SAMPLES[0].name], pattern=None)
    assert len(found) == 12 and errors == []  # 11 calls + broken.json, nothing from .hidden, no duplicate
    json_only, _ = find_transcripts([trainees], pattern="*.json")
    assert [p.name for p in json_only] == ["broken.json"]
    globbed, _ = find_transcripts([str(trainees / "*" / "0[12]*.txt")])
    assert sorted(p.name for p in globbed) == sorted(p.name for p in SAMPLES[:2])
    empty = trainees / "empty"
    empty.mkdir()
    assert find_transcripts([empty, str(trainees / "*.nothing")])[1] == [
        f"{empty}: no transcripts found in this folder",
        f"{trainees / '*.nothing'}: no file matches",
    ]


def test_batch_outputs_agree_with_each_other(trainees, tmp_path):
    out = tmp_path / "out"
    result = run("score", trainees, "--out", out, "--format", "text", "--jobs", "2")
    assert result.exit_code == 2  # broken.json could not be read
    assert sorted(p.name for p in out.iterdir()) == [
        "calls.csv",
        "calls.jsonl",
        "feedback",
        "report.html",
        "summary.csv",
        "summary.json",
        "summary.md",
    ]
    records = [json.loads(line) for line in (out / "calls.jsonl").read_text(encoding="utf-8").splitlines()]
    reports = [r for r in records if r["schema"] == "callqa.report/1"]
    assert len(reports) == 11
    assert [r["path"] for r in records if r["schema"] == "callqa.error/1"] == [str(trainees / "李四" / "broken.json")]

    by_group: dict[str, list[float]] = {}
    for report in reports:
        name = report["transcript"]["agent_name"] or Path(report["transcript"]["path"]).parent.name
        by_group.setdefault(name, []).append(report["score"])
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert {g["group"]: g["calls"] for g in summary["groups"]} == {k: len(v) for k, v in by_group.items()}
    for group in summary["groups"]:
        assert group["mean"] == round(sum(by_group[group["group"]]) / len(by_group[group["group"]]), 1)
    means = [g["mean"] for g in summary["groups"]]
    assert means == sorted(means, reverse=True)  # ranked
    assert summary["errors"][0]["path"].endswith("broken.json")

    with (out / "summary.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    # the CSV guards formula-like cells with a leading quote; the numbers are the same
    assert [(r["group"].removeprefix("'"), float(r["mean"])) for r in rows] == [
        (g["group"], g["mean"]) for g in summary["groups"]
    ]
    with (out / "calls.csv").open(encoding="utf-8-sig") as handle:
        calls = list(csv.DictReader(handle))
    assert sorted(float(c["score"]) for c in calls if c["score"]) == sorted(r["score"] for r in reports)

    for group in summary["groups"]:  # the terminal summary shows the same numbers
        assert f"{group['mean']:.1f}" in result.stdout
    assert sum(summary["histogram"]["counts"]) == 11
    assert "无法读取" in result.stdout and "broken.json" in (out / "summary.md").read_text(encoding="utf-8")


def test_csv_cells_that_look_like_formulas_are_neutralised(trainees):
    result = run("score", trainees, "--format", "csv", "--jobs", "1")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    headed = next(r for r in rows if r["path"].endswith("11_headed.txt"))
    assert headed["group"] == '\'=HYPERLINK("http://x")'
    assert {r["group"] for r in rows if r["group"]} >= {"张三", "李四", "王五"}
    assert next(r for r in rows if r["path"].endswith("broken.json"))["error"].startswith(str(trainees))


@pytest.mark.parametrize(
    "group_by, expected",
    [
        ("none", {"全部"}),
        ("folder", {"张三", "李四", "王五"}),
        ("header", {'=HYPERLINK("http://x")', "(无 agent 标记)"}),
    ],
)
def test_group_by(trainees, group_by, expected):
    result = run(
        "score",
        trainees,
        "--format",
        "jsonl",
        "--group-by",
        group_by,
        "--jobs",
        "1",
        "--out",
        trainees.parent / f"out-{group_by}",
    )
    summary = json.loads((trainees.parent / f"out-{group_by}" / "summary.json").read_text(encoding="utf-8"))
    assert {g["group"] for g in summary["groups"]} == expected
    assert result.exit_code == 2


def test_feedback_sheet_lists_every_lost_point_with_line_words_and_suggestion(trainees, tmp_path):
    run("score", trainees / "张三", "--out", tmp_path / "out", "--jobs", "1")
    sheet = (tmp_path / "out" / "feedback" / "张三.md").read_text(encoding="utf-8")
    assert sheet.startswith("# 张三 的质检反馈\n\n通话 3 通")
    assert (
        "| 6 | 切入 | 推诿责任:急于为自己辩解,只会激化客户情绪 | 这个是第三方商家发的货,**不归我们管**,你去找商家吧。 |"
        in sheet
    )
    assert "先接受客户意见" in sheet
    assert "未使用推荐话术" in sheet


def test_html_report_is_self_contained_and_escapes_transcript_text(trainees, tmp_path):
    run("score", trainees, "--out", tmp_path / "out", "--jobs", "1")
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for external in ('src="http', 'href="http', "<link", "@import", "url("):
        assert external not in page
    assert page.count('class="call"') == 11
    assert '<svg id="histogram"' in page


def test_a_bad_file_never_costs_the_others_and_temp_files_are_gone(trainees, tmp_path):
    out = tmp_path / "out"
    run("score", trainees, "--out", out, "--jobs", "2")
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".") or p.suffix in (".tmp", ".part")]
    assert leftovers == []


def test_interrupted_run_still_writes_what_was_finished(trainees, tmp_path, monkeypatch):
    from callqa.batch import runner as batch

    original, seen = batch._score, []

    def ctrl_c_during_fourth(path):
        seen.append(path)
        if len(seen) == 4:
            os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C while the 4th call is scored
        return original(path)

    monkeypatch.setattr(batch, "_score", ctrl_c_during_fourth)
    out = tmp_path / "out"
    result = run("score", trainees, "--out", out, "--jobs", "1", "--format", "jsonl")
    assert result.exit_code == 130
    assert "interrupted after 4 of 12 calls" in result.stderr  # the call under way is finished, no more
    assert len((out / "calls.jsonl").read_text(encoding="utf-8").splitlines()) == 4
    assert len(result.stdout.splitlines()) == 4
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["calls"] + len(summary["errors"]) == 4


def _make_batch(folder: Path, copies: int) -> None:
    folder.mkdir()
    texts = [p.read_text(encoding="utf-8") for p in SAMPLES]
    for i in range(copies):
        (folder / f"call_{i:05d}.txt").write_text(texts[i % len(texts)], encoding="utf-8")


def test_ctrl_c_stops_workers_promptly_and_keeps_finished_work(tmp_path):
    calls = tmp_path / "many"
    _make_batch(calls, 4000)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "callqa", "score", str(calls), "--jobs", "2", "--out", str(out), "--format", "csv"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60

    def rows_written() -> int:  # calls.csv is flushed row by row
        return sum(len(p.read_text(encoding="utf-8-sig").splitlines()) - 1 for p in out.glob(".callqa-tmp-*/calls.csv"))

    while rows_written() < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert time.monotonic() - sent < 10
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    finished = len((out / "calls.jsonl").read_text(encoding="utf-8").splitlines())
    assert 0 < finished < 4000 and summary["calls"] == finished
    assert "Traceback" not in stderr


def test_summary_memory_is_bounded():
    report = json.loads(
        subprocess.run(
            [sys.executable, "-m", "callqa", "score", str(SAMPLES[2]), "-f", "json"], capture_output=True, text=True
        ).stdout
    )
    call, _ = summarize(report, SAMPLES[2], "auto")
    summary = BatchSummary()
    for i in range(KEEP_WEAKEST * 3):
        scored = dataclasses.replace(call, path=f"call{i}.txt", score=float(i % 100))
        summary.add(Outcome(scored.path, call=scored, json=json.dumps(report)))
    assert summary.calls == KEEP_WEAKEST * 3
    assert len(summary._weakest) == KEEP_WEAKEST  # whole reports are kept for the weakest calls only
    assert [(c.path, c.score) for c, _ in summary.weakest(3)] == [
        ("call0.txt", 0.0),
        ("call100.txt", 0.0),
        ("call200.txt", 0.0),
    ]


def test_jobs_2_gives_the_same_results_as_jobs_1(trainees):
    def scores(jobs):
        result = run("score", trainees, "--format", "jsonl", "--jobs", jobs)
        return sorted(
            (r.get("transcript", {}).get("path", r.get("path")), r.get("score"))
            for r in map(json.loads, result.stdout.splitlines())
        )

    assert scores("1") == scores("2")


def test_progress_stays_off_a_non_terminal_stderr(trainees, tmp_path):
    result = run("score", trainees, "--format", "csv", "--out", tmp_path / "o")
    assert [line for line in result.stderr.splitlines() if not line.startswith("callqa: ")] == []


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs Debian's chromium)")
def test_html_report_renders_in_a_real_browser_without_script_errors(trainees, tmp_path):
    out = tmp_path / "out"
    run("score", trainees, "--out", out, "--jobs", "1")
    dom, log = rendered_dom(out / "report.html")
    assert 'data-ready="yes"' in dom  # the page's script ran to the end
    assert "Uncaught" not in log and "CONSOLE" not in log, log
    assert 'id="summary"' in dom and "合格率" in dom
    assert dom.count("<rect") == 10  # the histogram's ten bins
    assert "批量质检报告" in dom


def test_a_batch_that_fails_midway_leaves_no_half_written_output_folder(trainees, tmp_path, monkeypatch):
    from callqa.reports import batch_files

    added = []

    def add_then_fail(self, outcome):
        added.append(outcome)
        if len(added) == 2:
            raise RuntimeError("disk went away")

    monkeypatch.setattr(batch_files.OutputFolder, "add", add_then_fail)
    out = tmp_path / "out"
    result = run("score", str(trainees), "--jobs", "1", "--out", str(out), "--format", "jsonl")
    assert isinstance(result.exception, RuntimeError)
    assert len(added) == 2
    assert not list(out.glob(".callqa-tmp-*")) and not (out / "summary.json").exists()
