"""callqa rubric check / test / schema: rubrics as code."""

from __future__ import annotations

import json
import re
import subprocess
from xml.etree import ElementTree

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

import callqa
from callqa.cli.app import app

from conftest import ROOT

DEFAULT = ROOT / "rubrics" / "default.yaml"


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def diagnostics(result) -> list[tuple[int, str]]:
    return [(d["line"], d["rule"]) for d in json.loads(result.stdout)["diagnostics"]]


def test_default_rubric_checks_clean_and_all_its_examples_pass():
    check = run("rubric", "check", DEFAULT)
    assert (check.exit_code, check.stdout) == (0, "")
    test = run("rubric", "test", "default")
    assert test.exit_code == 0, test.stdout
    ran = int(test.stderr.split(": ")[1].split(" examples")[0])
    assert test.stderr.strip() == f"callqa rubric test: {ran} examples, {ran} passed, 0 failed"


def test_rubric_check_ends_with_a_summary_line_on_stderr_and_keeps_stdout_for_the_format(tmp_path):
    chat = ROOT / "rubrics" / "chat.yaml"
    clean = run("rubric", "check", DEFAULT, chat)
    assert (clean.exit_code, clean.stdout) == (0, "")
    assert clean.stderr == "callqa rubric check: 2 rubrics, no problems\n"
    for fmt, parse in (("json", json.loads), ("sarif", json.loads), ("junit", ElementTree.fromstring)):
        formatted = run("rubric", "check", DEFAULT, "--format", fmt)
        parse(formatted.stdout)  # stdout is the format's alone
        assert formatted.stderr == "callqa rubric check: 1 rubric, no problems\n", fmt
    noexamples = tmp_path / "team.yaml"
    noexamples.write_text(
        "extends: default\nforbidden:\n  - id: t.x\n    category: 推诿\n    phrases: [不归我管, 管不了]\n"
        "    deduct: 1\n    message: m\n",
        encoding="utf-8",
    )
    found = run("rubric", "check", noexamples, tmp_path / "missing.yaml")
    assert found.exit_code == 2
    assert found.stderr.splitlines()[-1] == "callqa rubric check: 2 rubrics, 1 load error, 1 finding (1 info)"


def test_the_chat_rubric_asks_no_job_number_and_suggests_chat_lines():
    chat = callqa.load_rubric(ROOT / "rubrics" / "chat.yaml")
    default = callqa.load_rubric()
    text = "客户:[订单x] 在吗\n客服:亲，在的呢～请问有什么可以帮您？\n客户:什么时候发货\n客服:亲，今天16点前发出哦"

    def findings(rubric):
        report = callqa.score(callqa.read_transcript(text=text, name="chat.txt", rubric=rubric), rubric)
        return {f.rule: f for f in report.findings}

    assert "check.job_number_first" in findings(default) and "check.job_number_first" not in findings(chat)
    missed = findings(chat)["recommended.thanks_goodbye"]
    assert missed.points == 0 and missed.suggestion == "感谢您的咨询，祝您生活愉快，再见"
    assert findings(default)["recommended.thanks_goodbye"].suggestion.startswith("感谢您的来电")


def test_every_default_rule_has_hit_and_miss_examples_including_the_near_misses():
    rubric = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    for rule in rubric["forbidden"] + rubric["recommended"]:
        assert rule["examples"]["hit"] and rule["examples"]["miss"], rule["id"]
    misses = {m for r in rubric["forbidden"] for m in r["examples"]["miss"]}
    assert {"我们不可能让您白跑一趟", "应该的", "系统显示可能是网络波动"} <= misses


CHILD = """\
extends: default
name: team
forbidden:
  - id: forbidden.hedging
    enabled: true
    phrases: [可能, 应该, 好]
  - id: team.sorry
    category: 推诿
    phrases: [与我们无关]
    deduct: 5
    message: m
recommended:
  - id: team.goodbye
    stage: 结束
    sentences: [再见, 好的,再见]
    points: 2
"""


def test_check_finds_duplicates_short_phrases_conflicts_and_missing_examples(tmp_path):
    rubric = tmp_path / "team.yaml"
    rubric.write_text(CHILD, encoding="utf-8")
    result = run("rubric", "check", rubric, "--format", "json")
    found = diagnostics(result)
    assert (6, "rubric.short-phrase") in found  # 好
    assert (9, "rubric.duplicate-phrase") in found  # 与我们无关 is in forbidden.shift_blame too
    assert (15, "rubric.short-sentence") in found  # [再见, 好的,再见] split by the ASCII comma
    assert (15, "rubric.conflict") in found  # 好的 triggers the new one-character phrase 好
    assert (7, "rubric.no-examples") in found
    assert result.exit_code == 1  # the conflict is an error


def test_check_reports_schema_errors_with_lines_and_keeps_going(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "extends: default\nforbidden:\n  - id: forbidden.cold\n    regexes: ['(']\n"
        "  - id: forbidden.hedging\n    enabled: true\n    stages: [寒暄]\n",
        encoding="utf-8",
    )
    loop_a, loop_b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    loop_a.write_text("extends: b.yaml\n", encoding="utf-8")
    loop_b.write_text("extends: a.yaml\n", encoding="utf-8")
    result = run("rubric", "check", bad, loop_b, DEFAULT)
    lines = result.stderr.splitlines()  # a rubric that does not validate is an input error, not a finding
    bad_lines = [line for line in lines if line.startswith(f"callqa: error: {bad}:")]
    assert bad_lines[0].startswith(f"callqa: error: {bad}:4: forbidden[0].regexes: item 0: invalid regex '('")
    assert bad_lines[1].startswith(f"callqa: error: {bad}:7: forbidden[1].stages[0]: input should be")
    assert any(
        line.startswith(f"callqa: error: {loop_a}:1: extends: cycle")
        or line.startswith(f"callqa: error: {loop_b}:1: extends: cycle")
        for line in lines
    )
    assert result.stdout == ""  # the default rubric, checked as well, is clean
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("name", "text", "where", "message"),
    [
        ("missing.yaml", None, "", "no such file"),
        ("broken.yaml", "name: x\nversion: '1'\n  pass_mark: [\n", ",line=3", "invalid YAML: "),
        ("schema.yaml", "extends: default\npass_mark: high\n", ",line=2", "pass_mark: "),
    ],
)
def test_a_rubric_that_cannot_be_loaded_is_an_input_error_whatever_fail_on_says(tmp_path, name, text, where, message):
    """A mistyped path or a broken rubric in CI must not pass as clean: exit 2 for rubric check, rubric
    test and lint --rubric, even with --fail-on fatal, and every output format says why."""
    rubric = tmp_path / name
    if text is not None:
        rubric.write_text(text, encoding="utf-8")
    library = tmp_path / "scripts.txt"
    library.write_text("您好,请问有什么可以帮您?\n", encoding="utf-8")
    commands = {
        "rubric check": ("rubric", "check", rubric, "--fail-on", "fatal"),
        "rubric test": ("rubric", "test", rubric),
        "lint": ("lint", library, "--rubric", rubric, "--fail-on", "fatal"),
    }
    for tool, command in commands.items():
        text_run = run(*command)
        assert text_run.exit_code == 2, (tool, text_run.stdout)
        assert f"callqa: error: {rubric}" in text_run.stderr, tool
        document = json.loads(run(*command, "--format", "json").stdout)
        assert document["summary"]["exit_code"] == 2, tool
        [error] = document["errors"]
        assert error.startswith(f"{rubric}") and message in error, tool
        github = run(*command, "--format", "github")
        assert github.exit_code == 2, tool
        assert github.stdout.startswith(f"::error file={rubric}{where}::{message}"), (tool, github.stdout)


def _detector_document() -> dict:
    return json.loads((ROOT / "src" / "callqa" / "rules" / "default_detector.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("key", "model", "message"),
    [
        ("detectors", None, "no such forbidden-expression model file"),
        ("detectors", '{"format": "callqa.forbidden-model/1", "thre', "not readable JSON"),
        ("detectors", {"thresholds": {"default": "high"}}, "model file has a bad thresholds.default"),
        ("detectors", {"format": "callqa.forbidden-model/9"}, "format 'callqa.forbidden-model/9'"),
        ("stage_model", None, "no such stage model file"),
    ],
)
def test_a_model_the_rubric_names_that_cannot_be_loaded_is_an_input_error_on_its_line(tmp_path, key, model, message):
    """rubric check and rubric test load the rubric's models as scoring does: a missing or broken one is
    reported on the rubric's `model:` / `stage_model:` line with the model's own error, exit 2 whatever
    --fail-on says (not an internal error, and not a clean check that only `score` then fails)."""
    (tmp_path / "m").mkdir()
    folder = tmp_path / "rub"
    folder.mkdir()
    rubric = folder / "team.yaml"
    if key == "detectors":
        rubric.write_text(
            "# team rubric\nextends: default\ndetectors:\n  - id: forbidden.model\n    model: ../m/bad.json\n",
            encoding="utf-8",
        )
        line = 5
    else:
        rubric.write_text("# team rubric\nextends: default\nstage_model: ../m/bad.json\n", encoding="utf-8")
        line = 3
    if isinstance(model, str):
        (tmp_path / "m" / "bad.json").write_text(model, encoding="utf-8")
    elif isinstance(model, dict):
        (tmp_path / "m" / "bad.json").write_text(json.dumps({**_detector_document(), **model}), encoding="utf-8")
    commands = {
        "rubric check": ("rubric", "check", rubric, "--fail-on", "fatal"),
        "rubric test": ("rubric", "test", rubric),
    }
    for tool, command in commands.items():
        text_run = run(*command)
        assert text_run.exit_code == 2, (tool, text_run.stderr)
        [line_out] = [x for x in text_run.stderr.splitlines() if x.startswith("callqa: error:")]
        assert line_out.startswith(f"callqa: error: {rubric}:{line}: "), (tool, line_out)
        assert str(tmp_path / "m" / "bad.json") in line_out and message in line_out, (tool, line_out)
        assert "internal error" not in text_run.stderr
        document = json.loads(run(*command, "--format", "json").stdout)
        assert document["summary"]["exit_code"] == 2
        [error] = document["errors"]
        assert error.startswith(f"{rubric}:{line}: ") and message in error, tool
    scored = run("score", ROOT / "transcripts" / "07_balance_enquiry.txt", "--rubric", rubric)
    assert scored.exit_code == 2 and scored.stderr.startswith(f"callqa: error: {rubric}:{line}: ")


CHECK_WITH_UNDEFINED_CLASSES = """\
# team rubric
extends: default
checks:
  - id: check.q
    kind: keyword
    match: {pattern: "$WAIT … (半天|很久)"}
    scope: {roles: [customer]}
    expect: absent
    deduct: 2
    message: m
  - id: check.reply
    kind: response
    trigger:
      roles: [customer]
      match: {any: [投诉, {pattern: "$ANGRY 了"}]}
    response: {roles: [agent], match: {pattern: "$SORRY"}}
    deduct: 1
    message: m
"""


def test_an_undefined_class_in_a_checks_pattern_is_reported_on_the_patterns_line(tmp_path):
    """As in a forbidden rule's patterns: every command reports it as a rubric error at the pattern's
    file:line, exit 2 (not an internal error, exit 3; not a line-less error from score)."""
    rubric = tmp_path / "team.yaml"
    rubric.write_text(CHECK_WITH_UNDEFINED_CLASSES, encoding="utf-8")
    expected = [
        f"callqa: error: {rubric}:6: checks[0].match.pattern: check.q: pattern '$WAIT … (半天|很久)' "
        "uses undefined class $WAIT",
        f"callqa: error: {rubric}:15: checks[1].trigger.match.any[1].pattern: check.reply: pattern '$ANGRY 了' "
        "uses undefined class $ANGRY",
        f"callqa: error: {rubric}:16: checks[1].response.match.pattern: check.reply: pattern '$SORRY' "
        "uses undefined class $SORRY",
    ]
    for command in (("rubric", "check", rubric, "--fail-on", "fatal"), ("rubric", "test", rubric)):
        result = run(*command)
        assert result.exit_code == 2, result.stderr
        assert [x for x in result.stderr.splitlines() if x.startswith("callqa: error:")] == expected
    scored = run("score", ROOT / "transcripts" / "07_balance_enquiry.txt", "--rubric", rubric)
    assert scored.exit_code == 2 and scored.stderr.splitlines()[0] == expected[0]


def test_the_readme_check_pattern_example_uses_only_classes_the_default_rubric_defines(tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [pattern] = re.findall(r'`match: \{pattern: "([^"]+)"\}`', readme)
    rubric = tmp_path / "team.yaml"
    rubric.write_text(
        "extends: default\nchecks:\n  - id: check.waited\n    kind: keyword\n"
        f'    match: {{pattern: "{pattern}"}}\n    scope: {{roles: [customer]}}\n    deduct: 1\n    message: m\n'
        '    examples: {hit: ["客服:您好\\n客户:我等了好半天了"]}\n',
        encoding="utf-8",
    )
    check = run("rubric", "check", rubric)
    assert check.exit_code == 0, check.stderr
    assert run("rubric", "test", rubric).exit_code == 0


CUSTOMER_RULES = """\
extends: default
forbidden:
  - id: forbidden.customer_threat
    category: 强势
    phrases: [投诉你们]
    roles: [customer]
    deduct: 1
    message: m
    examples: {hit: [我要投诉你们], miss: [我不想投诉]}
checks:
  - id: check.waited
    kind: keyword
    match: {any: [等了半天]}
    scope: {roles: [customer]}
    deduct: 1
    message: m
    examples:
      hit: [我都等了半天了, "客服:您好\\n客户:我都等了半天了"]
      miss: [我刚打进来, "客服:让您等了半天\\n客户:没事"]
"""


def test_examples_of_a_rule_that_watches_customers_are_said_by_a_customer(tmp_path):
    rubric = tmp_path / "team.yaml"
    rubric.write_text(CUSTOMER_RULES, encoding="utf-8")
    result = run("rubric", "test", rubric)
    assert result.exit_code == 0, result.stdout
    assert result.stdout == ""
    # the same rules watching agents (the default): a labelled dialogue's roles still count, on its line
    rubric.write_text(
        CUSTOMER_RULES.replace("    roles: [customer]\n", "").replace("scope: {roles: [customer]}", "scope: {}"),
        encoding="utf-8",
    )
    failed = run("rubric", "test", rubric, "--format", "json")
    assert failed.exit_code == 1
    assert [(d["line"], d["message"]) for d in json.loads(failed.stdout)["diagnostics"]] == [
        (17, "check.waited: hit example「客服:您好 / 客户:我都等了半天了」gives no finding"),
        (18, "check.waited: miss example「客服:让您等了半天 / 客户:没事」gives a finding: m"),
    ]


def test_a_missing_extends_target_is_reported_on_the_extends_line(tmp_path):
    """Not on line 1 of the file that is not there: no editor or CI can show that one."""
    folder = tmp_path / "rub"
    folder.mkdir()
    child = folder / "ext.yaml"
    child.write_text("# team rubric\nname: ext\nextends: nothere.yaml\n", encoding="utf-8")
    github = run("rubric", "check", child, "--format", "github")
    assert github.exit_code == 2
    assert github.stdout == (
        f"::error file={child},line=3::extends: nothere.yaml: no such file "
        f"(looked for {folder / 'nothere.yaml'}: a path is relative to this rubric's folder, or 'default')\n"
    )
    expected = f"callqa: error: {child}:3: extends: nothere.yaml: no such file (looked for {folder / 'nothere.yaml'}"
    assert run("rubric", "check", child).stderr.startswith(expected)
    assert run("score", ROOT / "transcripts" / "07_balance_enquiry.txt", "--rubric", child).stderr.startswith(expected)
    # a parent that is there but names a missing one of its own: that parent's `extends:` line
    grandchild = tmp_path / "team.yaml"
    grandchild.write_text("extends: rub/ext.yaml\n", encoding="utf-8")
    assert run("rubric", "check", grandchild).stderr.startswith(expected)


def test_failing_examples_name_the_rule_and_what_matched(tmp_path):
    rubric = tmp_path / "r.yaml"
    rubric.write_text(
        "extends: default\nforbidden:\n  - id: forbidden.hedging\n    enabled: true\n    examples:\n"
        "      hit: [这个绝对没问题]\n      miss: [可能明天到]\nrecommended:\n"
        "  - id: recommended.greeting\n    examples: {hit: [您好]}\n",
        encoding="utf-8",
    )
    result = run("rubric", "test", rubric)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        f"{rubric}:6:1: error rubric.example forbidden.hedging: hit example「这个绝对没问题」is not matched",
        f"{rubric}:7:1: error rubric.example forbidden.hedging: miss example「可能明天到」is matched on「可能」",
    ]
    assert lines[2].startswith(
        f"{rubric}:10:1: error rubric.example recommended.greeting: hit example「您好」is not recognised: similarity "
    )
    assert lines[2].endswith("(threshold 75%), closest to「您好,工号1234为您服务,请问有什么可以帮您?」")
    assert len(lines) == 3
    assert "3 failed" in result.stderr


def test_a_near_miss_the_model_flags_for_the_same_fault_fails_the_rule_test(tmp_path):
    """A miss example the phrases leave alone but the detector flags as the rule's own category would
    still be deducted when scored; flagged as another category, it is not the rule's business."""
    rubric = tmp_path / "r.yaml"
    rubric.write_text(
        "extends: default\nforbidden:\n"
        "  - id: team.unsure\n    category: 含糊\n    phrases: [说不准]\n    deduct: 5\n    message: m\n"
        "    examples:\n      hit: [这个说不准]\n      miss: [应该是吧，我也不太清楚, 明天上午十点前给您答复]\n"
        "  - id: team.later\n    category: 拖延\n    phrases: [改天吧]\n    deduct: 5\n    message: m\n"
        "    examples:\n      hit: [改天吧]\n      miss: [应该是吧，我也不太清楚]\n",
        encoding="utf-8",
    )
    result = run("rubric", "test", rubric)
    assert result.exit_code == 1
    [line] = result.stdout.splitlines()
    assert line.startswith(
        f"{rubric}:10:1: error rubric.example team.unsure: miss example「应该是吧，我也不太清楚」is not matched, "
        "but forbidden.model flags it as 含糊 ("
    )
    assert "1 failed" in result.stderr


def test_a_rubric_without_examples_tests_nothing_and_fails(tmp_path):
    document = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    for kind in ("forbidden", "detectors", "recommended", "checks"):
        for rule in document[kind]:
            rule.pop("examples", None)
    rubric = tmp_path / "bare.yaml"
    rubric.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    result = run("rubric", "test", rubric)
    assert result.exit_code == 1
    assert "rubric.no-examples no rule has examples: nothing was tested" in result.stdout


def test_schema_command_matches_the_shipped_schema_file_and_validates_the_rubrics():
    printed = json.loads(run("rubric", "schema").stdout)
    shipped = json.loads((ROOT / "rubrics" / "schema.json").read_text(encoding="utf-8"))
    assert printed == shipped, "rubrics/schema.json is stale: run `callqa rubric schema > rubrics/schema.json`"
    for path in (ROOT / "rubrics").glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# yaml-language-server: $schema=schema.json\n"), path
        jsonschema.validate(yaml.safe_load(text), shipped)
    jsonschema.validate({"extends": "default", "pass_mark": 70}, shipped)  # an overlay needs no name or stages
    # ... and changes a parent's rule, script or check by its id alone (the README's example)
    overlay = {"extends": "default", "forbidden": [{"id": "forbidden.hedging", "deduct": 5}]}
    jsonschema.validate(overlay | {"checks": [{"id": "check.job_number_first", "enabled": False}]}, shipped)
    jsonschema.validate({"extends": "default", "stages": [{"name": "转化", "description": "安抚"}]}, shipped)
    for entry, message in (({"deduct": 5}, "'id' is a required property"), ({"id": "x", "deduct": "5"}, "not of type")):
        with pytest.raises(jsonschema.ValidationError, match=message):
            jsonschema.validate({"extends": "default", "forbidden": [entry]}, shipped)
    try:
        jsonschema.validate({"name": "x", "version": "1", "stages": [], "pass_mark": "high"}, shipped)
    except jsonschema.ValidationError as exc:
        assert "'high' is not of type 'number'" in exc.message
    else:
        raise AssertionError("a string pass_mark validated")


def test_every_shipped_rubric_checks_clean_and_passes_its_examples():
    for rubric in sorted((ROOT / "rubrics").glob("*.yaml")):
        assert run("rubric", "check", rubric).stdout == "", rubric
        assert run("rubric", "test", rubric).exit_code == 0, rubric


def test_the_readme_pre_commit_snippet_pins_a_revision_pre_commit_can_check_out():
    """pre-commit checks out `rev`: a tag this repository does not have fails every user's hook install
    (`pathspec 'v0.1.0' did not match`). The snippet pins a full commit SHA, or a tag that exists."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [block] = re.findall(r"```yaml\n(# \.pre-commit-config\.yaml\n.*?)```", readme, re.DOTALL)
    [repo] = yaml.safe_load(block)["repos"]
    rev = str(repo["rev"])
    tags = subprocess.run(["git", "tag"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert re.fullmatch(r"[0-9a-f]{40}", rev) or rev in tags, rev
    offered = {hook["id"] for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))}
    assert {hook["id"] for hook in repo["hooks"]} <= offered
