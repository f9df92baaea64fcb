"""Scoring arithmetic: bases, gains, deductions, caps, fatal rules, pass mark and grade."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from callqa.reports.terminal import TerminalRenderer
from callqa.scoring.pipeline import compile_rubric, score_file

from conftest import SAMPLES


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_point_is_explained_by_a_finding(path, default_rubric):
    """Stage score = base + the points of its findings, shown within [0, max]; total = base + every
    finding's points (a deduction past a stage's 0 still counts), never below 0."""
    report = score_file(path, default_rubric)
    left = {}
    for stage in report.stages:
        left[stage.name] = default_rubric.stage_bases[stage.name] + sum(
            f.points for f in report.findings if f.stage == stage.name
        )
        assert stage.score == pytest.approx(max(left[stage.name], 0))
        assert 0 <= stage.score <= stage.max_score
    expected_total = 0 if report.fatal else max(sum(left.values()), 0)
    assert report.score == pytest.approx(expected_total)
    for finding in report.findings:
        assert finding.rule and finding.message
        if finding.kind == "forbidden":
            assert finding.line is not None and finding.matched and finding.suggestion


RUBRIC = """\
name: arithmetic
version: 1
pass_mark: 70
grades: [{name: A, min: 90}, {name: B, min: 70}, {name: C, min: 0}]
stages:
  - {name: 问候, points: 10, position: [0, 0.3], cues: {agent: [您好]}}
  - {name: 切入, points: 30, position: [0.2, 0.6], cues: {customer: [怎么回事]}}
  - {name: 转化, points: 20, position: [0.3, 0.8]}
  - {name: 协议, points: 20, position: [0.4, 0.9]}
  - {name: 结束, points: 20, position: [0.7, 1], cues: {agent: [再见]}}
forbidden:
  - {id: blame, category: 推诿, phrases: [不归我们管], deduct: 12, message: m, suggestion: s}
  - {id: hedge, category: 含糊, phrases: [大概], deduct: 4, max_deduct: 6, message: m, suggestion: s}
  - {id: insult, category: 辱骂, phrases: [神经病], deduct: 0, severity: fatal, message: m}
recommended:
  - {id: hello, stage: 问候, sentences: [您好工号1234为您服务], points: 6}
  - {id: bye, stage: 结束, sentences: [感谢来电再见], points: 5}
  - {id: sorry, stage: 问候, sentences: [让您久等了], points: 3, bonus: true}
"""
CALL = "## 问候\n客服:您好工号1234为您服务\n## 切入\n客户:怎么回事\n客服:{cut_in}\n## 结束\n客服:{closing}\n"


@pytest.fixture
def tiny(rubric_file):
    return compile_rubric(rubric_file(RUBRIC))


def score_call(write, compiled, cut_in="好的我看一下", closing="感谢来电再见"):
    return score_file(write("call.txt", CALL.format(cut_in=cut_in, closing=closing)), compiled)


def stage_scores(report):
    return {s.name: s.score for s in report.stages}


def test_clean_call_scores_full_base_plus_scripts(write, tiny):
    report = score_call(write, tiny)
    # 问候 base 10-6 + hello 6; 切入, 转化, 协议 full (no scripts); 结束 base 20-5 + bye 5.
    assert stage_scores(report) == {"问候": 10, "切入": 30, "转化": 20, "协议": 20, "结束": 20}
    assert (report.score, report.grade, report.passed) == (100, "A", True)


def test_deductions_and_missed_scripts(write, tiny):
    report = score_call(write, tiny, cut_in="这个不归我们管", closing="好的")
    assert stage_scores(report)["切入"] == 30 - 12
    assert stage_scores(report)["结束"] == 20 - 5  # bye not said: its points are not earned
    missed = next(f for f in report.findings if f.rule == "bye")
    assert (missed.points, missed.nominal_points, missed.suggestion) == (0, 5, "感谢来电再见")
    assert report.score == 100 - 12 - 5
    assert (report.grade, report.passed) == ("B", True)


def test_rule_cap_limits_repeated_hits(write, tiny):
    text = "## 切入\n" + "客服:大概明天吧\n" * 3
    report = score_file(write("call.txt", text), tiny)
    hedges = [f.points for f in report.findings if f.rule == "hedge"]
    assert hedges == [-4, -2, 0]  # max_deduct 6


def test_a_stage_shows_no_less_than_zero_but_every_deduction_counts_against_the_total(write, tiny):
    """Two violations in one stage cost more than one, however few points the stage holds: a stage
    floor would let the second go free and rank a worse call level with a better one."""
    one = score_file(write("one.txt", "## 问候\n客服:不归我们管\n## 结束\n客服:感谢来电再见\n"), tiny)
    two = score_file(
        write("two.txt", "## 问候\n客服:不归我们管\n客服:你好,不归我们管\n## 结束\n客服:感谢来电再见\n"), tiny
    )
    assert stage_scores(one)["问候"] == stage_scores(two)["问候"] == 0  # base 4 - 12, shown as 0
    assert [(f.points, f.nominal_points) for f in two.findings if f.rule == "blame"] == [(-12, -12), (-12, -12)]
    assert one.score == 100 - 6 - 12  # hello not said (its 6 not earned), one blame
    assert two.score == one.score - 12
    many = score_file(write("many.txt", "## 问候\n" + "客服:不归我们管\n" * 12), tiny)
    assert many.score == 0  # the total never goes below 0
    out = io.StringIO()
    TerminalRenderer(Console(file=out, width=120), plain=True).render(two)
    assert "超出阶段得分的扣分 -20 分,计入总分" in out.getvalue()  # 问候: base 4 - 24


def test_bonus_adds_but_never_above_the_stage_maximum(write, tiny):
    text = "## 问候\n客服:您好工号1234为您服务\n客服:让您久等了\n"
    report = score_file(write("call.txt", text), tiny)
    assert stage_scores(report)["问候"] == 10
    sorry = next(f for f in report.findings if f.rule == "sorry")
    assert sorry.points == 0 and sorry.nominal_points == 3


def test_fatal_rule_zeroes_the_call(write, tiny):
    report = score_call(write, tiny, cut_in="你是不是神经病")
    assert (report.score, report.fatal, report.passed, report.grade) == (0, True, False, "C")


def test_pass_mark_and_grade_bands(write, tiny):
    above = score_call(write, tiny, cut_in="不归我们管,大概吧", closing="嗯")
    assert above.score == 100 - 12 - 4 - 5  # blame, hedge, bye not said
    assert (above.passed, above.grade) == (True, "B")
    below = score_call(write, tiny, cut_in="不归我们管,大概吧", closing="不归我们管")
    assert below.score == 100 - 12 - 4 - 5 - 12
    assert (below.passed, below.grade) == (False, "C")


def test_only_if_stage_present_scripts_depend_on_the_stage_not_on_who_spoke(rubric_file, write):
    compiled = compile_rubric(rubric_file(RUBRIC.replace("points: 5}", "points: 5, only_if_stage_present: true}")))
    absent = score_file(write("a.txt", "## 问候\n客服:您好工号1234为您服务\n"), compiled)
    bye = next(f for f in absent.findings if f.rule == "bye")
    assert (bye.points, bye.utterance) == (5, None)  # no 结束 at all: given
    customer_only = score_file(write("b.txt", "## 问候\n客服:您好工号1234为您服务\n## 结束\n客户:再见\n"), compiled)
    bye = next(f for f in customer_only.findings if f.rule == "bye")
    assert bye.points == 0  # 结束 happened, and the agent did not say it


def test_a_script_counted_for_its_own_stage_earns_its_points_there_and_is_not_missed(rubric_file, write):
    """A chat's customer opens, so the agent's greeting falls in 切入: `counts_for: 问候` credits it."""
    late = """\
  - id: hello_late
    stage: 切入
    sentences: [您好很高兴为您服务]
    points: 6
    bonus: true
    counts_for: 问候
"""
    compiled = compile_rubric(rubric_file(RUBRIC + late))
    text = "## 切入\n客户:[订单卡片]我的快递怎么回事\n客服:您好很高兴为您服务\n## 结束\n客服:感谢来电再见\n"
    report = score_file(write("chat.txt", text), compiled)
    credited = next(f for f in report.findings if f.rule == "hello_late")
    assert (credited.stage, credited.points, credited.utterance) == ("问候", 6, 1)
    assert not [f for f in report.findings if f.rule == "hello"]  # not reported missed
    assert stage_scores(report)["问候"] == 10  # base 4 + 6, as if greeted in 问候
    without = score_file(write("plain.txt", text), compile_rubric(rubric_file(RUBRIC, "plain.yaml")))
    assert stage_scores(without)["问候"] == 4 and any(f.rule == "hello" for f in without.findings)


def test_a_closing_offer_in_the_agreement_stage_counts_for_the_closing_once(write, default_rubric):
    """The default rubric: a closing offer the segmenter put in 协议 earns 结束 its points; said again
    in 结束, it is paid once; a diagnostic question in 协议 (还有其他问题吗) is no closing offer."""
    head = "## 切入\n客户:宽带又断了\n客服:我帮您看一下线路\n## 协议\n客服:明天上午十点前师傅上门\n客户:好的\n"

    def closing(report):
        return [(f.rule, f.stage, f.points) for f in report.findings if f.rule.startswith("recommended.further_help")]

    said_in_agreement = score_file(
        write("a.txt", head + "客服:请问还有其他可以帮您的吗\n## 结束\n客户:没有了\n"), default_rubric
    )
    assert closing(said_in_agreement) == [("recommended.further_help.late", "结束", 8)]
    twice = score_file(
        write("b.txt", head + "客服:请问还有其他可以帮您的吗\n## 结束\n客服:请问还有什么可以帮您的吗\n"), default_rubric
    )
    assert closing(twice) == [("recommended.further_help", "结束", 8)]
    diagnostic = score_file(
        write("c.txt", head + "客服:除了断网，您家里网络还有其他问题吗\n客户:没有\n## 结束\n客户:好\n"), default_rubric
    )
    assert closing(diagnostic) == [("recommended.further_help", "结束", -2)]


def test_a_reported_findings_points_before_caps_are_the_scorers_own(monkeypatch, default_rubric):
    """What a review's recomputation starts from (points_before_caps, read off the report) is what the
    scorer put into its caps, finding for finding, on every sample call."""
    import callqa.scoring.score as scoring

    given = []
    real = scoring.apply_caps
    monkeypatch.setattr(scoring, "apply_caps", lambda items, *rest: given.append(items) or real(items, *rest))
    for sample in SAMPLES:
        given.clear()
        report = score_file(sample, default_rubric)
        assert [scoring.points_before_caps(f.kind, f.severity, f.nominal_points) for f in report.findings] == [
            item.points for item in given[0]
        ], sample.name


def test_a_plain_enquiry_with_no_agreement_is_not_docked_for_a_time_commitment(write, default_rubric):
    """The default rubric asks for a concrete time in 协议; a call that never reaches 协议 (a question
    answered in 切入) has nothing to put a time on, and one that does and gives none loses the points."""
    enquiry = "## 问候\n客服:您好,很高兴为您服务\n## 切入\n客户:请问你们营业厅几点关门\n客服:晚上六点关门\n"
    report = score_file(write("enquiry.txt", enquiry), default_rubric)
    commitment = next(f for f in report.findings if f.rule == "recommended.time_commitment")
    assert (commitment.points, commitment.utterance) == (8, None)
    vague = enquiry + "## 协议\n客户:那我的宽带什么时候修\n客服:我们会安排师傅处理的\n"
    report = score_file(write("vague.txt", vague), default_rubric)
    commitment = next(f for f in report.findings if f.rule == "recommended.time_commitment")
    assert commitment.points == 0 and commitment.nominal_points == 8


@pytest.mark.parametrize(
    ("greeting", "points"),
    [
        ("你好", 0),
        ("你好。", 0),
        ("喂，你好。", 0),
        ("您好、", 0),
        ("您好！", 0),
        ("你好。这里是物业服务中心，请讲。", 8),
    ],
)
def test_a_curt_hello_earns_no_greeting_whatever_punctuation_ends_it(write, default_rubric, greeting, points):
    """The default greeting refuses a bare 你好; normalised text keeps 。 and 、 (they have no half-width
    form), so 「你好。」 must be refused as 「你好」 and 「你好！」 are."""
    call = f"客服:{greeting}\n客户:我的快递丢了。\n客服:我帮您查一下。\n"
    report = score_file(write("hello.txt", call), default_rubric)
    assert next(f.points for f in report.findings if f.rule == "recommended.greeting") == points


def test_the_shipped_bad_refund_call_earns_no_greeting_for_its_curt_hello(default_rubric):
    """transcripts/03_refund_bad.txt opens 「客服小李:你好。」: 问候 keeps only its base less the missing 工号."""
    report = score_file(next(s for s in SAMPLES if s.name == "03_refund_bad.txt"), default_rubric)
    assert next(f.points for f in report.findings if f.rule == "recommended.greeting") == 0
    assert next(s.score for s in report.stages if s.name == "问候") == 4  # 15 - 8 (the greeting) - 3 (工号)
