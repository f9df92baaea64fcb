"""The library API as a Python user meets it: the README's example, typed results, the report schema,
and scale-out on Dask giving the same reports as the local batch."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import jsonschema
import pytest
from typer.testing import CliRunner

import callqa
from callqa.cli.app import app

from conftest import ROOT, SAMPLES


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"## Python API\n.*?```python\n(.*?)```", readme, re.S)
    assert match, "the README has a '## Python API' section with a python example"
    return match.group(1)


def test_readme_example_runs_as_a_user_would_from_outside_the_repository(tmp_path):
    example = readme_example()
    assert len([line for line in example.splitlines() if line.strip()]) <= 12
    call = tmp_path / "call.txt"
    call.write_bytes(SAMPLES[2].read_bytes())  # 03_refund_bad: it loses points
    script = tmp_path / "example.py"
    script.write_text(example.replace("call.txt", str(call)), encoding="utf-8")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "forbidden" in result.stdout  # the example prints the rules that cost points


def test_score_returns_the_report_that_format_json_prints():
    report = callqa.score_file(SAMPLES[2])
    printed = CliRunner().invoke(app, ["score", str(SAMPLES[2]), "--format", "json"]).stdout
    assert json.loads(report.model_dump_json()) == json.loads(printed)
    assert isinstance(report, callqa.Report) and report.findings and not report.passed


def test_every_report_validates_against_the_shipped_schema():
    schema = json.loads(CliRunner().invoke(app, ["schema", "report"]).stdout)
    for sample in SAMPLES:
        jsonschema.validate(json.loads(callqa.score_file(sample).model_dump_json()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"schema": "callqa.report/1", "score": "high"}, schema)


def test_a_transcript_reads_the_same_from_a_path_bytes_or_text():
    data = SAMPLES[1].read_bytes()
    from_path = callqa.read_transcript(SAMPLES[1])
    from_bytes = callqa.read_transcript(data, name=str(SAMPLES[1]))
    from_text = callqa.read_transcript(text=data.decode("utf-8"), name=str(SAMPLES[1]))
    assert from_path.utterances == from_bytes.utterances == from_text.utterances
    assert callqa.segment(from_text).stages == callqa.score(from_path).utterance_stages


def test_bad_input_raises_a_callqa_error_naming_the_source():
    with pytest.raises(callqa.CallqaError, match=r"pasted\.txt"):
        callqa.read_transcript(text="\n\n", name="pasted.txt")
    with pytest.raises(callqa.CallqaError, match=r"nope\.yaml"):
        callqa.load_rubric("nope.yaml")


def test_score_many_scores_every_file_and_reports_the_bad_one(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"Sentences": [', encoding="utf-8")
    results = {r.path: r for r in callqa.score_many([*SAMPLES[:4], bad], jobs=2)}
    assert results[str(bad)].report is None and "bad.json" in results[str(bad)].error
    for sample in SAMPLES[:4]:
        assert results[str(sample)].report == callqa.score_file(sample)


def test_dask_cluster_gives_exactly_the_reports_of_the_local_batch(tmp_path):
    distributed = pytest.importorskip("distributed", reason="the dask extra is installed with dev")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, scheduler_port=0, host="127.0.0.1"
    ) as cluster:
        address = cluster.scheduler_address
        on_dask = CliRunner().invoke(app, ["score", *map(str, SAMPLES), "--format", "jsonl", "--scheduler", address])
        with distributed.Client(cluster) as client:
            from_api = {r.path: r.report for r in callqa.score_many(SAMPLES, scheduler=client)}
    local = CliRunner().invoke(app, ["score", *map(str, SAMPLES), "--format", "jsonl", "--jobs", "2"])
    assert on_dask.exit_code == local.exit_code
    assert sorted(on_dask.stdout.splitlines()) == sorted(local.stdout.splitlines())
    assert len(on_dask.stdout.splitlines()) == len(SAMPLES)
    assert all(from_api[str(s)] == callqa.score_file(s) for s in SAMPLES)


def test_an_unreachable_scheduler_is_one_line_and_exit_2():
    pytest.importorskip("distributed")
    result = CliRunner().invoke(app, ["score", str(SAMPLES[0]), "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "tcp://127.0.0.1:9: cannot reach the Dask scheduler" in result.stderr and "Traceback" not in result.stderr
