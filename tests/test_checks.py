"""Rule kinds beyond phrase lists: keyword logic, position, trigger -> response, required scripts,
timing and repetition — each explained line by line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from callqa.cli.app import app
from callqa.rules.checks import CompiledMatch
from callqa.rules.schema import Match
from callqa.scoring.pipeline import compile_rubric

from conftest import ROOT


def findings(report, rule: str):
    return [f for f in report.findings if f.rule == rule]


@pytest.mark.parametrize(
    "match, text, expected",
    [
        ({"any": ["退款", "退钱"]}, "我要退钱", True),
        ({"all": ["退款", "今天"]}, "今天能退款吗", True),
        ({"all": ["退款", "今天"]}, "能退款吗", False),
        ({"at_least": 2, "of": ["抱歉", "理解", "马上"]}, "抱歉,我马上处理", True),
        ({"at_least": 2, "of": ["抱歉", "理解", "马上"]}, "抱歉", False),
        ({"none": ["工号"]}, "您好", True),
        ({"none": ["工号"]}, "您好,工号1234", False),
        ({"all": [{"any": ["退", "赔"]}, {"none": ["不能", "无法"]}]}, "可以给您退", True),
        ({"all": [{"any": ["退", "赔"]}, {"none": ["不能", "无法"]}]}, "不能退", False),
        ({"regex": "\\d+个?工作日", "not_regex": "超过"}, "3个工作日内到账", True),
        ({"regex": "\\d+个?工作日", "not_regex": "超过"}, "超过5个工作日", False),
    ],
)
def test_keyword_logic(match, text, expected):
    assert (CompiledMatch(Match.model_validate(match), {}).spans(text) is not None) is expected


CHECKS = """\
extends: default
name: checks
checks:
  - id: t.first_agent_job_number
    kind: keyword
    match: {any: [工号]}
    scope: {roles: [agent], position: {first: 1, of: role}}
    expect: present
    deduct: 3
    stage: 问候
    message: 第一句没有工号
  - id: t.no_maybe_in_last_two
    kind: keyword
    match: {any: [可能]}
    scope: {roles: [agent], position: {last: 2, of: call}}
    exceptions: [系统显示]
    context_window: 2
    deduct: 2
    message: 结尾不能含糊
  - id: t.silence
    kind: silence
    max_seconds: 10
    bridge: {any: [请您稍等, 稍等]}
    deduct: 2
    message: 长时间沉默
  - id: t.rate
    kind: speech_rate
    max_cpm: 300
    deduct: 1
    message: 语速过快
  - id: t.interrupt
    kind: interruption
    tolerance_seconds: 0.5
    deduct: 2
    message: 抢话
  - id: t.duration
    kind: duration
    max_seconds: 60
    deduct: 1
    message: 通话过长
  - id: t.ratio
    kind: talk_ratio
    max: 0.7
    deduct: 1
    message: 客服说得太多
  - id: t.repeat
    kind: repetition
    min_count: 3
    deduct: 3
    message: 客户反复问同一个问题
"""


@pytest.fixture
def checks(rubric_file):
    return compile_rubric(rubric_file(CHECKS))


def test_position_first_utterance_of_a_role(score_text, checks):
    missing = score_text("客服:您好,请问有什么可以帮您\n客户:查话费\n客服:工号1234为您查询\n", checks)
    (finding,) = findings(missing, "t.first_agent_job_number")
    assert (finding.line, finding.stage, finding.points) == (1, "问候", -3)
    present = score_text("客服:您好,工号1234为您服务\n客户:查话费\n", checks)
    assert findings(present, "t.first_agent_job_number") == []


def test_position_last_of_call_with_an_allow_context(score_text, checks):
    early = score_text("客服:可能要等等\n客户:好\n客服:好的\n客户:谢谢\n", checks)
    assert findings(early, "t.no_maybe_in_last_two") == []  # not in the last two utterances
    late = score_text("客服:您好,工号1\n客户:什么时候到\n客服:可能明天吧\n客户:好\n", checks)
    assert [f.line for f in findings(late, "t.no_maybe_in_last_two")] == [3]
    allowed = score_text("客服:您好,工号1\n客户:什么时候到\n客服:系统显示可能明天\n客户:好\n", checks)
    assert findings(allowed, "t.no_maybe_in_last_two") == []


def test_position_restricts_a_forbidden_rule(rubric_file, score_text):
    compiled = compile_rubric(
        rubric_file(
            "extends: default\nforbidden:\n  - {id: forbidden.hedging, enabled: true, position: {first: 1, of: role}}\n"
        )
    )
    report = score_text("客服:您好,工号1\n客户:在吗\n客服:可能明天到\n", compiled)
    assert findings(report, "forbidden.hedging") == []  # the hedge is not in the agent's first turn


def test_response_must_follow_and_the_finding_cites_the_trigger(score_text, default_rubric):
    report = score_text("客服:您好,工号1234为您服务\n客户:终于打通了,等了半天\n客服:请问什么事\n客户:查话费\n")
    (finding,) = findings(report, "check.apology_after_wait")
    assert finding.line == 2 and finding.matched == "终于打通"
    assert "第2行「终于打通」之后 2 句内没有回应" in finding.message
    ok = score_text("客服:您好,工号1234为您服务\n客户:终于打通了\n客服:不好意思,让您久等了\n")
    assert findings(ok, "check.apology_after_wait") == []


def test_response_must_not_follow_cites_both_lines(score_text):
    report = score_text("客服:您好,工号1234为您服务\n客户:我根本没同意开通\n客服:我们是有全程录音的\n")
    (finding,) = findings(report, "check.no_pressure_after_complaint")
    assert (finding.line, finding.trigger_line, finding.matched) == (3, 2, "有全程")


def test_required_script_missed_costs_points_and_explains_the_near_miss(score_text):
    report = score_text(
        # markers fix the split: this test is about the script, not about where 结束 begins
        "## 问候\n客服:您好,工号1234为您服务\n## 切入\n客户:查话费\n客服:您的余额是50元\n客户:好的\n"
        "## 结束\n客服:还有要说的吗\n客户:没有了,谢谢\n客服:再见\n"
    )
    (finding,) = findings(report, "recommended.further_help")
    assert finding.points == -2 and finding.severity == "error"
    assert finding.message.startswith("必说话术缺失")
    closest = report.utterances[finding.utterance]
    assert closest.text == "还有要说的吗" and 0 < finding.similarity < 0.8
    assert (
        finding.missing_words and "还有" not in finding.missing_words
    )  # the words of the closest model sentence it lacks
    document = json.loads(CliRunner().invoke(app, ["score", str(report.transcript.path), "-f", "json"]).stdout)
    as_json = next(f for f in document["findings"] if f["rule"] == "recommended.further_help")
    assert as_json["missing_words"] == finding.missing_words and as_json["points"] == -2


TIMED = """\
[00:00~00:03] 客服:您好,工号1234为您服务
[00:04~00:07] 客户:我想问一下我的快递到哪了
[00:05~00:09] 客服:请问您的单号是多少
[00:10~00:12] 客户:SF123
[00:30~00:33] 客服:查到了明天送到
[00:34~00:36] 客户:到底什么时候到
[00:37~00:38] 客户:到底什么时候能到
[00:39~00:40] 客户:到底什么时候到啊
[01:20~01:22] 客服:谢谢再见
"""


def test_timing_checks(score_text, checks):
    report = score_text(TIMED, checks)
    (silence_before_5, silence_before_9) = findings(report, "t.silence")
    assert (silence_before_5.line, silence_before_9.line) == (5, 9)
    assert "第5行前沉默 18 秒" in silence_before_5.message
    (cut,) = findings(report, "t.interrupt")
    assert (cut.line, cut.trigger_line) == (3, 2)
    assert "通话时长 82 秒" in findings(report, "t.duration")[0].message
    assert findings(report, "t.rate") == [] and findings(report, "t.ratio") == []
    (repeat,) = findings(report, "t.repeat")
    assert "同一问题问了 3 次:第6、7、8行" in repeat.message
    assert report.notes == []


def test_a_bridged_silence_and_speech_rate_bounds(score_text, checks):
    report = score_text("[00:00~00:02] 客服:请您稍等,我查一下\n[00:20~00:22] 客服:查到了\n", checks)
    assert findings(report, "t.silence") == []
    words = "您好工号一二三四为您服务请问有什么可以帮您"
    fast = score_text(f"[00:00~00:01] 客服:{words}\n", checks)
    assert (
        f"每分钟 {len(words) * 60} 字,允许 0–300)" in findings(fast, "t.rate")[0].message
    )  # bounds as the rule gives them


def test_timing_checks_are_skipped_with_a_note_without_times(score_text, checks):
    report = score_text("客服:您好,工号1\n客户:你好\n", checks)
    assert not [
        f for f in report.findings if f.kind in ("silence", "speech_rate", "interruption", "duration", "talk_ratio")
    ]
    assert report.notes == ["转写没有时间戳,时间类检查未执行:t.silence、t.rate、t.interrupt、t.duration、t.ratio"]
    assert (
        "说明: 转写没有时间戳"
        in CliRunner().invoke(app, ["score", str(report.transcript.path), "-r", str(report.rubric.path)]).stdout
    )


def test_default_rubric_reproduces_the_seed_trainers_critique(default_rubric):
    from callqa.scoring.pipeline import score_file

    report = score_file(ROOT / "transcripts" / "02_ringtone_traditional.txt", default_rubric)
    rules = {f.rule for f in report.findings if f.points < 0}
    assert {"check.job_number_first", "check.apology_after_wait", "forbidden.pressure"} <= rules


def test_check_examples_run_in_rubric_test(rubric_file):
    path = rubric_file(
        CHECKS.replace(
            "    message: 客户反复问同一个问题\n",
            '    message: 客户反复问同一个问题\n    examples:\n      hit: ["客户:在吗\\n客户:在吗"]\n',
        )
    )
    result = CliRunner().invoke(app, ["rubric", "test", str(path)])
    assert result.exit_code == 1
    assert "t.repeat: hit example「客户:在吗 / 客户:在吗」gives no finding" in result.stdout


def test_rubric_diff_lists_changed_calls_largest_first_with_pass_fail_flips(tmp_path):
    stricter = tmp_path / "stricter.yaml"
    stricter.write_text(
        "extends: default\nname: stricter\nversion: 2\npass_mark: 85\n"
        "forbidden:\n  - {id: forbidden.hedging, enabled: true, deduct: 14, max_deduct: 30}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        app, ["rubric", "diff", "default", str(stricter), str(ROOT / "transcripts"), "--format", "json", "--jobs", "1"]
    )
    assert result.exit_code == 0, result.stderr
    diff = json.loads(result.stdout)
    assert diff["calls"] == 10
    changed = {Path(c["path"]).name: c for c in diff["changed"]}
    hedging = changed["05_express_hedging.txt"]
    assert hedging["delta"] == hedging["new_score"] - hedging["old_score"] < 0
    flips = [c for c in diff["changed"] if c["old_passed"] != c["new_passed"]]
    assert flips and all(not c["new_passed"] for c in flips)  # a higher pass mark only fails calls
    order = diff["changed"][len(flips) :]
    assert [abs(c["delta"]) for c in order] == sorted((abs(c["delta"]) for c in order), reverse=True)
    assert diff["changed"][: len(flips)] == flips  # pass/fail changes come first
    assert diff["groups"][0]["group"] == "transcripts"
    text = CliRunner().invoke(app, ["rubric", "diff", "default", str(stricter), str(ROOT / "transcripts"), "-j", "1"])
    assert "default v1 -> stricter v2: 10 calls" in text.stdout and "合格→不合格" in text.stdout


def test_rubric_diff_of_a_rubric_with_itself_is_empty():
    result = CliRunner().invoke(app, ["rubric", "diff", "default", "default", str(ROOT / "transcripts"), "-f", "json"])
    assert json.loads(result.stdout)["changed"] == []
