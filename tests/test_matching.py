"""Forbidden phrases and recommended scripts, including the near-misses QA staff care about."""

from __future__ import annotations

from pathlib import Path

import pytest

from callqa.model import Utterance
from callqa.scoring.pipeline import compile_rubric
from callqa.text.normalize import normalize


@pytest.fixture(scope="module")
def hedging_on():
    """The default rubric with its (off by default) single-word hedging rule switched on."""
    return compile_rubric(Path(__file__).parent / "data" / "rubrics" / "hedging-on.yaml")


def utterance(compiled, text: str, role: str = "agent") -> Utterance:
    norm = normalize(text, compiled.fillers)
    return Utterance(index=0, line=1, speaker="客服", role=role, text=text, norm=norm.text, norm_index=norm.index)


def rule_hits(compiled, text: str, role: str = "agent", stage: str = "切入") -> dict[str, list[str]]:
    hits = compiled.forbidden_hits(utterance(compiled, text, role), stage)
    return {compiled.rules[i].rule.id: [h.text for h in found] for i, found in hits.items()}


@pytest.mark.parametrize(
    "text, rule",
    [
        ("这不是我们的责任", "forbidden.shift_blame"),
        ("这个不归我们管", "forbidden.shift_blame"),
        ("这事跟我们没关系啊", "forbidden.shift_blame"),
        ("这个不由我们部门负责", "forbidden.shift_blame"),  # by regex
        ("改天给您处理吧", "forbidden.vague_delay"),
        ("您的要求无法满足", "forbidden.flat_refusal"),
        ("可能要等几天", "forbidden.hedging"),
        ("好像是系统的问题", "forbidden.hedging"),
        ("我已经放假了,处理不了", "forbidden.cold"),
        ("我们是有全程录音的", "forbidden.pressure"),
        ("這不是我們的責任", "forbidden.shift_blame"),  # Traditional text, Simplified rubric
        ("这个 不归 我们 管", "forbidden.shift_blame"),  # ASR spacing
        ("这个嗯不归我们管", "forbidden.shift_blame"),  # filler inside
    ],
)
def test_forbidden_phrasings_are_caught(hedging_on, text, rule):
    assert rule in rule_hits(hedging_on, text)


@pytest.mark.parametrize(
    "text, role",
    [
        ("我们不可能让您白跑一趟", "agent"),
        ("应该的,这是我们应该做的", "agent"),
        ("系统显示可能是网络波动造成的", "agent"),
        ("我们会尽可能帮您争取", "agent"),
        ("这不是我的责任,卡一直在我身上", "customer"),
        ("你们这个是不是不归你们管", "customer"),
        ("我们会在今天17点前给您回复", "agent"),
    ],
)
def test_near_misses_are_not_violations(default_rubric, text, role):
    assert rule_hits(default_rubric, text, role) == {}


def test_short_phrase_needs_jieba_word_boundaries(rubric_file):
    """可能 inside 不可能 is no hedge, even for a rule with no exceptions."""
    compiled = compile_rubric(
        rubric_file(
            "extends: default\nforbidden:\n"
            "  - {id: forbidden.hedging, enabled: true, exceptions: [], exception_regexes: []}\n"
        )
    )
    assert rule_hits(compiled, "这个不可能") == {}
    assert rule_hits(compiled, "这可能不行") == {"forbidden.hedging": ["可能"]}


def test_word_boundary_can_be_switched_off(rubric_file):
    compiled = compile_rubric(
        rubric_file(
            "extends: default\nforbidden:\n"
            "  - {id: forbidden.hedging, enabled: true, word_boundary: never, exceptions: []}\n"
        )
    )
    assert rule_hits(compiled, "这个不可能")["forbidden.hedging"] == ["可能"]


def test_stage_scope(default_rubric):
    assert rule_hits(default_rubric, "我们有录音", stage="问候") == {}
    assert "forbidden.pressure" in rule_hits(default_rubric, "我们有录音", stage="转化")


def test_one_finding_per_rule_and_utterance_keeps_the_longest_overlapping_phrase(default_rubric):
    hits = rule_hits(default_rubric, "这不是我们的责任,跟我们没关系")
    assert hits == {"forbidden.shift_blame": ["这不是我们的责任", "跟我们没关系"]}


def test_highlight_maps_back_to_the_original_traditional_text(score_text):
    report = score_text("客服人員:您好\n客戶:喂\n客服人員:這個 不歸我們管\n")
    (finding,) = [f for f in report.findings if f.rule == "forbidden.shift_blame"]
    assert finding.matched == "不歸我們管"
    text = report.utterances[finding.utterance].text
    assert [text[s:e] for s, e in finding.spans] == ["不歸我們管"]


def script_similarity(compiled, script_id: str, text: str):
    index = next(i for i, s in enumerate(compiled.scripts) if s.id == script_id)
    return compiled.script_match(index, utterance(compiled, text)), compiled.scripts[index]


@pytest.mark.parametrize(
    "text",
    [
        "您好,工号1234很高兴为您服务,有什么可以帮您",
        "您好 工号５５２０ 很高兴为您服务 请问有什么可以帮您",
        "您好,工號8866為您服務,請問有什麼可以幫您?",
    ],
)
def test_greeting_paraphrases_count(default_rubric, text):
    match, script = script_similarity(default_rubric, "recommended.greeting", text)
    assert match.counts(script), match


def test_a_greeting_without_job_number_counts_and_the_job_number_check_says_what_is_missing(score_text):
    report = score_text("客服:您好,请问有什么可以帮您?\n客户:查一下话费\n客服:好的,您的余额50元\n")
    rules = {f.rule: f for f in report.findings}
    assert rules["recommended.greeting"].points > 0  # the gold greeting label does not require 工号
    assert rules["check.job_number_first"].points < 0  # the check deducts for the missing 工号


@pytest.mark.parametrize(
    "text, counts",
    [
        ("维修师傅会在今天下午6点前联系您", True),
        ("我们会在3个工作日内给您回复处理结果", True),
        ("改天给您处理", False),
        ("我们尽快处理", False),
    ],
)
def test_time_commitment_needs_a_concrete_time(default_rubric, text, counts):
    match, script = script_similarity(default_rubric, "recommended.time_commitment", text)
    assert match.counts(script) is counts


def test_unrelated_sentence_is_not_a_script(default_rubric):
    match, script = script_similarity(default_rubric, "recommended.further_help", "您的话费余额是56.8元")
    assert match.similarity < 0.5 and not match.counts(script)


def test_allow_context_window_cancels_a_hit_near_an_exception(rubric_file):
    compiled = compile_rubric(
        rubric_file(
            "extends: default\nforbidden:\n"
            "  - {id: forbidden.hedging, enabled: true, exceptions: [仅供参考], context_window: 4}\n"
        )
    )
    assert rule_hits(compiled, "预计可能明天到,仅供参考") == {}  # 可能 is 4 characters from 仅供参考
    assert "forbidden.hedging" in rule_hits(compiled, "可能明天到,具体时间以短信为准,仅供参考")


@pytest.mark.parametrize(
    "text, kept", [("退款我呢边做唔到", "做不到"), ("你唔使再填表", "不用"), ("唔好意思俾你等咗", "不好意思")]
)
def test_cantonese_negation_is_not_dropped_as_a_filler(default_rubric, text, kept):
    # 唔 is "not" in Cantonese: dropping it would read 「做唔到」 (cannot be done) as 「做到」 (done);
    # normalised, it is read in the Mandarin words the rules are written in
    assert kept in utterance(default_rubric, text).norm


def test_mandarin_hums_are_still_dropped_as_fillers(default_rubric):
    assert utterance(default_rubric, "嗯,呃,我查一下").norm == ",,我查一下"
