"""The command line as users and CI pipelines meet it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from callqa import __version__
from callqa.cli.app import app
from callqa.model import STAGES

from conftest import ROOT, SAMPLES

GOOD = ROOT / "transcripts" / "01_broadband_good.txt"
BAD = ROOT / "transcripts" / "03_refund_bad.txt"


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def test_version_and_help():
    assert run("--version").stdout.strip() == f"callqa {__version__}"
    result = run("score", "--help")
    assert result.exit_code == 0
    assert "--rubric" in result.stdout and "--format" in result.stdout and "Exit codes" in result.stdout


@pytest.mark.parametrize(
    ("command", "install"), [(("train", "forbidden"), "callqa[train]"), (("score",), "callqa[dask]")]
)
def test_help_names_the_extra_to_install(command, install):
    # Rich markup reads "[train]" as a tag and drops it unless escaped: the hint must survive.
    result = run(*command, "--help", env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert f"pip install '{install}'" in result.stdout


def test_text_report_names_file_score_stages_findings_and_suggestions():
    result = run("score", BAD, "--format", "text")
    assert result.exit_code == 1  # the bad call fails the pass mark
    out = result.stdout
    assert "质检报告" in out and str(BAD) in out and "不合格" in out
    assert all(stage in out for stage in STAGES)
    assert "【不归我们管】" in out  # the offending words, marked in plain text
    assert "建议:" in out and "forbidden.shift_blame" in out
    assert "\x1b[" not in out  # no colour codes when not on a terminal
    assert result.stderr == ""


def test_good_call_passes_with_exit_0():
    result = run("score", GOOD)
    assert result.exit_code == 0, result.stderr
    assert "合格" in result.stdout


def test_json_is_exactly_one_object_with_the_contract(tmp_path):
    result = run("score", BAD, "--rubric", ROOT / "rubrics" / "default.yaml", "--format", "json")
    report = json.loads(result.stdout)  # fails on anything but one JSON document
    assert report["schema"] == "callqa.report/1"
    assert (report["transcript"]["path"], report["transcript"]["format"]) == (str(BAD), "text")
    assert report["rubric"]["name"] == "default" and report["rubric"]["version"] == "1"
    assert {"score", "max_score", "passed", "grade", "fatal"} <= report.keys()
    assert report["passed"] is False
    utterance = report["utterances"][0]
    assert set(utterance) >= {"index", "line", "speaker", "role", "start", "end", "text", "stage"}
    assert all(u["stage"] in STAGES for u in report["utterances"])
    assert [s["name"] for s in report["stages"]] == list(STAGES)
    blame = next(f for f in report["findings"] if f["rule"] == "forbidden.shift_blame")
    assert blame["kind"] == "forbidden" and blame["category"] == "推诿"
    assert report["utterances"][blame["utterance"]]["line"] == blame["line"]
    assert blame["matched"] in report["utterances"][blame["utterance"]]["text"]
    assert blame["points"] < 0 and blame["suggestion"]
    for stage in report["stages"]:
        if stage["first"] is None:
            assert stage["last"] is None


def test_jsonl_prints_one_object_per_file_as_calls_finish():
    result = run("score", *SAMPLES, "--format", "jsonl")
    lines = result.stdout.splitlines()
    assert len(lines) == len(SAMPLES)
    assert sorted(json.loads(line)["transcript"]["path"] for line in lines) == sorted(str(p) for p in SAMPLES)
    assert result.exit_code == 1  # some samples fail the pass mark


def test_json_with_several_files_is_a_usage_error():
    result = run("score", GOOD, BAD, "--format", "json")
    assert result.exit_code == 2
    assert "jsonl" in result.stderr and result.stdout == ""


def test_a_bad_file_is_one_error_line_and_the_others_are_still_scored(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = run("score", GOOD, empty, tmp_path / "missing.txt", "--format", "jsonl", "--jobs", "1")
    assert result.exit_code == 2
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["transcript"]["path"] for r in records if r["schema"] == "callqa.report/1"] == [str(GOOD)]
    assert [r["path"] for r in records if r["schema"] == "callqa.error/1"] == [
        str(empty),
        str(tmp_path / "missing.txt"),
    ]
    assert result.stderr.splitlines() == [
        f"callqa: error: {empty}: no utterances found (expected lines like 客服:您好…, or a supported ASR format)",
        f"callqa: error: {tmp_path / 'missing.txt'}: no such file",
    ]


def test_bad_rubric_is_one_line_with_file_and_line(tmp_path):
    rubric = tmp_path / "x.yaml"
    rubric.write_text("extends: default\nforbidden:\n  - id: forbidden.hedging\n    deduct: many\n", encoding="utf-8")
    result = run("score", GOOD, "--rubric", rubric)
    assert result.exit_code == 2
    assert result.stderr == f"callqa: error: {rubric}:4: forbidden[0].deduct: must be a number\n"
    assert "Traceback" not in result.stdout + result.stderr


def test_transcript_text_with_brackets_is_printed_verbatim(tmp_path):
    call = tmp_path / "call.txt"
    call.write_text(
        "客服:您好,工号1234为您服务\n客户:[VIP] 我的[bold]会员[/bold]怎么回事\n客服:这个不归我们管[red]\n",
        encoding="utf-8",
    )
    result = run("score", call, "--format", "text")
    assert "这个【不归我们管】[red]" in result.stdout


def test_rich_format_colours_and_highlights():
    result = run("score", BAD, "--format", "rich", env={"COLUMNS": "120", "FORCE_COLOR": "1"})
    assert "质检报告" in result.stdout
    assert "█" in result.stdout  # the stage strip


def test_auto_format_is_plain_under_no_color():
    result = run("score", BAD, env={"NO_COLOR": "1"})
    assert "【不归我们管】" in result.stdout and "\x1b[" not in result.stdout


def test_rubric_is_compiled_once_per_run(monkeypatch):
    from callqa.cli import common

    calls = []
    original = common.load_rubric
    monkeypatch.setattr(common, "load_rubric", lambda path, **kw: calls.append(path) or original(path, **kw))
    assert run("score", *SAMPLES[:3], "--format", "jsonl").exit_code in (0, 1)
    assert len(calls) == 1


def test_module_entry_point_works_from_any_directory(tmp_path):
    """`python -m callqa` with the built-in rubric, run where there is no rubrics/ folder."""
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    result = subprocess.run(
        [sys.executable, "-m", "callqa", "score", str(GOOD), "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["passed"] is True
    assert result.stderr == ""  # jieba's loading chatter stays quiet


def test_the_command_leaves_its_exit_code_and_every_output_file_whole(tmp_path):
    """The command skips the interpreter's teardown at exit: what exit would flush must be written."""
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "callqa", "score", str(GOOD), str(BAD), "--jobs", "1", "--out", str(out), "-f", "jsonl"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr  # 03_refund_bad fails the pass mark
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["transcript"]["path"].rsplit("/", 1)[-1] for r in printed) == [GOOD.name, BAD.name]
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["calls"] == 2
    assert len((out / "calls.jsonl").read_text(encoding="utf-8").splitlines()) == 2
    version = subprocess.run([sys.executable, "-m", "callqa", "--version"], capture_output=True, text=True, timeout=60)
    assert (version.returncode, version.stdout) == (0, f"callqa {__version__}\n")


@pytest.mark.parametrize("args", [["score"], ["score", GOOD, "--format", "xml"], ["nonsense"]])
def test_usage_errors_exit_2(args):
    assert run(*args).exit_code == 2


def test_an_internal_error_in_one_file_does_not_lose_the_others(monkeypatch, tmp_path):
    from callqa.batch import runner as batch

    original = batch.score_file

    def flaky(path, compiled, options):
        if path == str(BAD):
            raise RuntimeError("boom")
        return original(path, compiled, options)

    monkeypatch.setattr(batch, "score_file", flaky)
    result = run("score", BAD, GOOD, "--format", "jsonl", "--jobs", "1")
    assert result.exit_code == 2
    assert [json.loads(line)["schema"] for line in result.stdout.splitlines()] == ["callqa.error/1", "callqa.report/1"]
    assert result.stderr.startswith(f"callqa: error: {BAD}: internal error: RuntimeError: boom")
    assert "Traceback" not in result.stderr


def test_a_bug_is_one_line_and_exit_3_never_a_traceback(monkeypatch, capsys):
    from callqa.cli import app as cli
    from callqa.cli import common

    def broken(path, **kw):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(common, "load_rubric", broken)
    monkeypatch.setattr(sys, "argv", ["callqa", "score", str(GOOD)])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 3
    assert capsys.readouterr().err == "callqa: error: internal error: RuntimeError: unexpected (please report this)\n"


@pytest.mark.parametrize(
    "args, words",
    [
        (["score", "call.txt", "--format", "xml"], "'xml' is not one of"),
        (["score"], "Missing argument 'paths'"),
        (["scroe", "call.txt"], "No such command 'scroe'"),
        (["score", "call.txt", "--bogus"], "No such option: --bogus"),
    ],
)
def test_a_usage_error_is_one_line_on_stderr_and_exit_2(args, words):
    """The README's promise for every error: `callqa: error: what is wrong (hint)`, one line, also for
    the mistakes click catches (not a box of several lines)."""
    result = subprocess.run([sys.executable, "-m", "callqa", *args], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("callqa: error: ") and words in line and "--help" in line
    assert result.stdout == ""


def test_h_is_help_too():
    result = subprocess.run([sys.executable, "-m", "callqa", "score", "-h"], capture_output=True, text=True)
    assert result.returncode == 0 and "--format" in result.stdout


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.name.startswith(("03_", "05_", "06_", "10_"))])
def test_the_stage_tables_findings_are_the_problems_the_report_lists(sample):
    """Each stage's 发现 count is its forbidden expressions, deductions and scripts not said: what the
    report lists below the table (a stage that lost points shows them, not 0)."""
    report = json.loads(run("score", str(sample), "--format", "json").stdout)
    expected = {s: 0 for s in STAGES}
    for f in report["findings"]:
        if (
            f["kind"] == "forbidden"
            or f["points"] < 0
            or (f["kind"] == "recommended" and not f["matched"] and f["points"] <= 0 < f["nominal_points"])
        ):
            expected[f["stage"]] += 1
    text = run("score", str(sample), "--format", "text").stdout
    rows = {
        line.split()[0]: line.split()
        for line in text.splitlines()
        if line.split()[:1] and line.split()[0] in STAGES and len(line.split()) == 5
    }
    assert {s: int(rows[s][4]) for s in STAGES} == expected
    for stage, (*_, lost, count) in rows.items():
        if float(lost) < 0:
            assert int(count) > 0, stage


def test_a_call_on_standard_input_is_scored_as_the_file_is():
    sample = next(s for s in SAMPLES if s.name.startswith("05_"))
    piped = subprocess.run(
        [sys.executable, "-m", "callqa", "score", "-", "--format", "json"],
        input=sample.read_bytes(),
        capture_output=True,
        check=True,
    )
    report = json.loads(piped.stdout)
    assert report["transcript"]["path"] == "<stdin>"
    assert report["score"] == json.loads(run("score", str(sample), "--format", "json").stdout)["score"]
    empty = subprocess.run([sys.executable, "-m", "callqa", "score", "-"], input=b"", capture_output=True)
    assert empty.returncode == 2 and empty.stderr.decode().startswith("callqa: error: <stdin>: ")


README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_says_what_model_dump_json_is_to_the_json_the_command_prints():
    """The command pretty-prints the report: equal to `model_dump_json()` as data, not as bytes (those
    are `to_json()`'s), and a jsonl line is `model_dump_json()` itself. The README says so, not "exactly"."""
    import callqa

    report = callqa.score(callqa.read_transcript(GOOD), callqa.load_rubric())
    printed = run("score", str(GOOD), "--format", "json").stdout
    assert printed != report.model_dump_json() + "\n" and json.loads(printed) == json.loads(report.model_dump_json())
    assert printed == report.to_json() + "\n"
    assert run("score", str(GOOD), "--format", "jsonl").stdout == report.model_dump_json() + "\n"
    api = README[README.index("## Python API") :]
    assert "`report.model_dump_json()` is exactly" not in api
    assert "equal as data, not byte for byte" in api and "`report.to_json()`" in api


def test_readme_lists_every_csv_column_and_the_rubric_diff_schema(tmp_path):
    from callqa.reports.batch_files import CALL_COLUMNS

    listed = README[README.index("- `--format csv`: one row per call") :].split(". A cell")[0]
    named = [c for c in CALL_COLUMNS if c not in STAGES]
    assert [c for c in named if c not in listed] == []
    assert [listed.index(c) for c in named] == sorted(listed.index(c) for c in named)  # in the file's order
    diff = run("rubric", "diff", "default", "default", str(ROOT / "transcripts"), "-f", "json", "-j", "1")
    schema = json.loads(diff.stdout)["schema"]
    assert schema == "callqa.rubric-diff/1" and f"schema `{schema}`" in README
