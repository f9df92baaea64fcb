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
        "| 6 | 切入 | 推诿责任:急于为自己辩解,只会激化客户情绪 | "
        "这个是第三方商家发的货,**不归我们管**,**你去找商家**吧。 |" in sheet
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


def _callqa(*args):
    return [sys.executable, "-m", "callqa", *map(str, args)]


def _perfect_calls(folder, copies):
    """Calls that pass with every stage's points: scoring them exits 0."""
    folder.mkdir()
    perfect = [s for s in SAMPLES if s.name.startswith(("01_", "04_", "07_", "08_"))]
    for i in range(copies):
        shutil.copy(perfect[i % len(perfect)], folder / f"{i:02d}_{perfect[i % len(perfect)].name}")
    return folder


def test_a_reader_that_stops_early_loses_no_stored_call_and_no_out_folder(tmp_path):
    """`callqa score calls/ --format jsonl --db … --out … | head -1`: the database and the --out folder
    still get every call, and the exit code is the batch's own, not a broken pipe's."""
    calls = _perfect_calls(tmp_path / "calls", 24)
    database, out = tmp_path / "calls.db", tmp_path / "out"
    command = _callqa("score", calls, "--format", "jsonl", "--db", f"sqlite:///{database}", "--out", out)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert json.loads(process.stdout.readline())["schema"] == "callqa.report/1"
    process.stdout.close()  # the reader goes away, as `head -1` does
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr and b"internal error" not in stderr
    assert len((out / "calls.jsonl").read_text(encoding="utf-8").splitlines()) == 24
    history = subprocess.run(
        _callqa("history", "--db", f"sqlite:///{database}", "--format", "json"), capture_output=True, check=True
    )
    assert len(json.loads(history.stdout)["calls"]) == 4  # 24 copies of 4 transcripts


def test_a_reader_that_stops_early_stops_a_batch_nothing_else_keeps(tmp_path):
    calls = _perfect_calls(tmp_path / "calls", 60)
    process = subprocess.Popen(
        _callqa("score", calls, "--format", "jsonl"), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    process.stdout.readline()
    process.stdout.close()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr.decode()  # every call scored passed: not click's 1 for a broken pipe
    assert "reader stopped after" in stderr.decode() and "of 60 calls" in stderr.decode()


def test_an_out_path_that_is_a_file_is_one_line_before_any_call_is_scored(trainees, tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a folder", encoding="utf-8")
    result = run("score", trainees, "--out", target)
    assert result.exit_code == 2
    assert result.stdout == ""  # no call was scored for nothing
    assert "taken: cannot write the --out folder" in result.stderr and "internal error" not in result.stderr
    assert target.read_text(encoding="utf-8") == "not a folder"


def test_one_unreadable_file_is_an_error_record_in_jsonl_and_csv(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\x00\x01\x02binary")
    jsonl = run("score", bad, "--format", "jsonl")
    assert jsonl.exit_code == 2
    [record] = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert record["schema"] == "callqa.error/1" and record["path"] == str(bad)
    rows = list(csv.DictReader(io.StringIO(run("score", bad, "--format", "csv").stdout)))
    assert [r["path"] for r in rows] == [str(bad)] and rows[0]["error"]


def test_an_out_folder_used_again_keeps_no_feedback_sheet_of_a_group_now_gone(trainees, tmp_path):
    out = tmp_path / "out"
    assert run("score", trainees, "--out", out).exit_code in (0, 1, 2)
    assert (out / "feedback" / "张三.md").exists()
    run("score", trainees / "李四", "--out", out)
    assert sorted(p.name for p in (out / "feedback").glob("*.md")) == ["李四.md"]


def test_files_in_the_current_folder_are_grouped_by_its_name(trainees, monkeypatch):
    monkeypatch.chdir(trainees / "张三")
    rows = list(csv.DictReader(io.StringIO(run("score", ".", "--format", "csv").stdout)))
    assert rows and {r["group"] for r in rows} == {"张三"}


def test_a_group_with_every_point_has_no_weakest_stage(tmp_path):
    calls = _perfect_calls(tmp_path / "全对", 4)
    out = tmp_path / "out"
    assert run("score", calls, "--out", out).exit_code == 0
    [row] = list(csv.DictReader(io.StringIO((out / "summary.csv").read_text(encoding="utf-8-sig"))))
    assert row["weakest_stage"] == "—"
    assert "最弱阶段:—" in (out / "feedback" / "全对.md").read_text(encoding="utf-8")


CAPPED = Path(__file__).resolve().parents[1] / "training" / "calls" / "complaints" / "204_credit_card_annual_fee.txt"


def test_a_script_said_in_a_stage_already_full_is_said_not_missed(tmp_path):
    """204's agent apologises for the wait (line 3) once 问候 has its 15 points: the script earns 0
    because of the cap, and every output says it was said, none lists it as missed."""
    report = json.loads(run("score", CAPPED, "--format", "json").stdout)
    apology = next(f for f in report["findings"] if f["rule"] == "recommended.apology_wait")
    assert apology["points"] == 0 < apology["nominal_points"] and apology["matched"]  # the case itself
    text = run("score", CAPPED, "--format", "text").stdout
    line = next(line for line in text.splitlines() if "recommended.apology_wait" in line)
    assert line.startswith("✔ 第3行 [问候]") and "已说,因本阶段已满分不另加分" in line and "未得" not in line
    assert "相似度 100%" not in text
    stage_row = next(line.split() for line in text.splitlines() if line.split()[:1] == ["问候"])
    assert stage_row[-1] == "0"  # 问候 has nothing to fix
    folder = tmp_path / "calls" / "张三"
    folder.mkdir(parents=True)
    shutil.copy(CAPPED, folder / CAPPED.name)
    out = tmp_path / "out"
    assert run("score", folder, "--out", out, "--jobs", "1").exit_code == 1  # the call fails
    sheet = (out / "feedback" / "张三.md").read_text(encoding="utf-8")
    assert "未得 8" in sheet and "未得 3" not in sheet  # empathy was missed, the apology was not
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "客户抱怨难打通时致歉" not in html.split('<ul class="lost">')[1].split("</ul>")[0]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert "recommended.apology_wait" not in [r["rule"] for r in summary["frequent_rules"]]
    assert "recommended.apology_wait" not in (out / "summary.md").read_text(encoding="utf-8")
    row = next(csv.DictReader((out / "calls.csv").open(encoding="utf-8-sig")))
    assert row["missed_scripts"] == "1"


def test_feedback_and_html_mark_the_words_the_finding_matched_not_the_first_alike(tmp_path):
    """Under `!可能`, 「这不可能，可能要等一下」 hits the second 可能 only: the terminal, the feedback
    sheet and report.html all mark that one, from the finding's spans."""
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(
        'extends: default\nforbidden:\n  - id: forbidden.maybe\n    category: 含糊\n    patterns: ["!可能"]\n'
        "    deduct: 5\n    message: 含糊其辞\n",
        encoding="utf-8",
    )
    folder = tmp_path / "calls" / "张三"
    folder.mkdir(parents=True)
    call = folder / "maybe.txt"
    call.write_text(
        "客服:您好,工号1234很高兴为您服务\n客户:我的快递怎么还没到\n客服:这不可能，可能要等一下\n客服:感谢您的来电,再见\n",
        encoding="utf-8",
    )
    report = json.loads(run("score", call, "--rubric", rubric, "--format", "json").stdout)
    assert [f["spans"] for f in report["findings"] if f["rule"] == "forbidden.maybe"] == [[[5, 7]]]
    assert "这不可能，【可能】要等一下" in run("score", call, "--rubric", rubric, "--format", "text").stdout
    out = tmp_path / "out"
    run("score", folder, "--rubric", rubric, "--out", out, "--jobs", "1")
    sheet = (out / "feedback" / "张三.md").read_text(encoding="utf-8")
    assert "| 含糊其辞 | 这不可能，**可能**要等一下 |" in sheet
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<td>这不可能，<mark>可能</mark>要等一下</td>" in html


def test_marked_joins_overlapping_spans_and_escapes_the_rest():
    from html import escape

    from callqa.reports.marks import marked

    assert marked("<您>自己不看自己", [[3, 5], [4, 6], [7, 8], [8, 99]], lambda w: f"[{w}]", escape) == (
        "&lt;您&gt;[自己不]看[自己]"
    )


def test_html_and_feedback_give_each_lost_points_points_and_say_when_a_model_judged(tmp_path):
    """204's lines 11 and 13 are the trained detector's findings (source "model"): the HTML list and
    the feedback sheet say so with its confidence, as the terminal does, and the HTML gives the points."""
    folder = tmp_path / "calls" / "张三"
    folder.mkdir(parents=True)
    shutil.copy(CAPPED, folder / CAPPED.name)
    report = json.loads(run("score", CAPPED, "--format", "json").stdout)
    model = {f["line"]: f for f in report["findings"] if f["source"] == "model"}
    assert sorted(model) == [11, 13]
    said = {
        line: f"模型判断,把握 {f['confidence']:.0%},其中「{f['category']}」{f['category_confidence']:.0%}"
        for line, f in model.items()
    }  # sure that it is a forbidden expression, and of which of the six
    text = run("score", CAPPED, "--format", "text").stdout
    assert all(f"[{words}]" in text for words in said.values())
    out = tmp_path / "out"
    run("score", folder, "--out", out, "--jobs", "1")
    html = (out / "report.html").read_text(encoding="utf-8")
    items = html.split('<ul class="lost">')[1].split("</ul>")[0].split("<li>")[1:]
    by_line: dict[str, str] = {}
    for item in items:  # line 9 has two
        line = item.split("行")[0].removeprefix("第")
        by_line[line] = by_line.get(line, "") + item
    assert '<b class="bad">-20 分</b> 态度强势' in by_line["9"] and "模型判断" not in by_line["9"]
    assert '<b class="bad">未得 8 分</b> 未使用推荐话术:共情安抚客户情绪' in by_line["9"]
    for line, words in said.items():
        assert f"{model[line]['points']:g} 分</b>" in by_line[str(line)] and f"({words})" in by_line[str(line)]
    sheet = (out / "feedback" / "张三.md").read_text(encoding="utf-8")
    rows = [row for row in sheet.splitlines() if row.startswith("| ")]
    for line, words in said.items():
        (row,) = [row for row in rows if row.startswith(f"| {line} |")]
        assert f"({words}) |" in row and row.endswith(f"| {model[line]['points']:g} |")
    assert not any("模型判断" in row for row in rows if row.startswith("| 9 |"))
