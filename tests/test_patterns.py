"""The rubric's pattern language: every operator with hits and misses, Traditional and ASR-style text
included, as a rule author writes it in YAML, and its errors as `callqa rubric check` reports them."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from callqa.cli.app import app
from callqa.model import Utterance
from callqa.scoring.pipeline import compile_rubric
from callqa.text.normalize import normalize

RUBRIC = """\
extends: default
classes:
  WE: [我们, 我这边, 本部门, 咱们]
  ELSEWHERE: [营业厅, 银行, 快递公司, 物业]
forbidden:
  - id: t.ordered_gap
    category: 推诿
    patterns: ["$WE … (管不了|负责不了)"]
    deduct: 5
    message: m
  - id: t.bounded_gap
    category: 推诿
    patterns: ["您 …4 去 $ELSEWHERE"]
    deduct: 5
    message: m
  - id: t.negation
    category: 含糊
    patterns: ["!可能"]
    exceptions: ["系统显示 … 可能"]
    context_window: 0
    deduct: 5
    message: m
  - id: t.optional
    category: 冷漠
    patterns: ["您 (当时)? 自己 … (点|签|确认)"]
    deduct: 5
    message: m
  - id: t.pinyin
    category: 拖延
    patterns: ["改天 … 再 说"]
    pinyin: true
    deduct: 5
    message: m
  - id: t.alternative_sequence
    category: 推诿
    patterns: ["(不归 … 管|$WE …4 负责不了)"]
    deduct: 5
    message: m
  - id: t.negated_alternative
    category: 含糊
    patterns: ["(!可能|大概 …2 吧)"]
    deduct: 5
    message: m
  - id: t.full_width
    category: 推诿
    patterns: ["您 …4 去 （营业厅｜银行）"]
    deduct: 5
    message: m
  - id: t.pinyin_negation
    category: 含糊
    patterns: ["!可能"]
    pinyin: true
    deduct: 5
    message: m
"""

CASES = {
    "t.ordered_gap": (
        [
            "这个我们这边确实管不了",
            "這個我們這邊確實管不了",
            "这个 我这边 也 负责不了",
        ],  # plain, Traditional, ASR spacing
        [
            "我们马上帮您处理",
            "管不了我们也得管",
            "我们已经登记了。客户那边管不了",
        ],  # no order, gap across a sentence end
    ),
    "t.bounded_gap": (
        ["您得去营业厅问问", "您自己去銀行那邊問吧", "您 可以 去 物业 看看"],
        ["您先别急，我帮您联系营业厅", "您的问题我们会转给银行"],
    ),
    "t.negation": (
        ["可能要等几天", "可能吧我也不清楚", "可能 要 等 几天"],
        ["不可能让您白跑一趟", "没可能出错的", "系统显示可能是网络波动"],
    ),
    "t.optional": (
        ["您当时自己点的确认", "您自己签的字", "您當時自己點的確認"],
        ["我帮您确认一下", "您稍等我自己查一下"],
    ),
    "t.pinyin": (
        ["改天再说吧", "那个 改天 在 说", "改天再說"],  # ASR homophone 在 for 再, Traditional
        ["今天下午五点前给您回电", "改天见"],
    ),
    # An alternative is a pattern itself: terms, gaps, classes, `!`.
    "t.alternative_sequence": (
        ["这个不归我们管", "这事我们这边也负责不了"],
        ["归我们管", "我们这边。负责不了"],
    ),
    "t.negated_alternative": (
        ["可能要等几天", "大概明天吧"],
        ["不可能让您白跑一趟", "大概。那就明天吧"],
    ),
    # Parentheses and bar as an input method types them are operators, not literals.
    "t.full_width": (["您得去营业厅问问", "您可以去银行看看"], ["营业厅那边会联系您"]),
    # Under pinyin a negation must be a real 不/没/未/无/非, not a sound-alike (为 wei, 费 fei, 务 wu).
    "t.pinyin_negation": (
        ["因为可能是线路问题", "运费可能要您承担", "这项业务可能要等三天", "可能 要 等"],
        ["不可能让您白跑一趟", "没可能出错", "未可能"],
    ),
}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    path = tmp_path_factory.mktemp("patterns") / "rubric.yaml"
    path.write_text(RUBRIC, encoding="utf-8")
    return compile_rubric(path)


def hits(compiled, text: str) -> set[str]:
    norm = normalize(text, compiled.fillers)
    utterance = Utterance(
        index=0, line=1, speaker="客服", role="agent", text=text, norm=norm.text, norm_index=norm.index
    )
    return {compiled.rules[i].rule.id for i in compiled.forbidden_hits(utterance, "切入")}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_each_operator_hits_and_misses(compiled, rule):
    should_hit, should_miss = CASES[rule]
    for text in should_hit:
        assert rule in hits(compiled, text), f"{rule} should match {text!r}"
    for text in should_miss:
        assert rule not in hits(compiled, text), f"{rule} should not match {text!r}"


def test_a_phrase_rule_and_a_pattern_rule_on_the_same_words_both_hit(tmp_path):
    # a pattern is tried only where the automaton finds a literal it requires; the phrase 我这边 of
    # one rule is such a literal of another rule's pattern, and neither may hide the other
    path = tmp_path / "r.yaml"
    path.write_text(
        RUBRIC + "  - id: t.phrase\n    category: 推诿\n    phrases: [我这边]\n    deduct: 5\n    message: m\n",
        encoding="utf-8",
    )
    both = compile_rubric(path)
    assert {"t.phrase", "t.ordered_gap"} <= hits(both, "这个我这边管不了")
    assert hits(both, "这个我这边帮您办") & {"t.phrase", "t.ordered_gap"} == {"t.phrase"}


def test_a_pattern_hit_points_at_the_words_in_the_original_text(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(RUBRIC, encoding="utf-8")
    call = tmp_path / "call.txt"
    call.write_text("客服:您好\n客户:我的话费有问题\n客服:这个我們這邊確實管不了\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["score", str(call), "--rubric", str(path), "--format", "text"])
    assert "【我們這邊確實管不了】" in result.stdout


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("$NOPE … 管", "undefined class $NOPE"),
        ("… 管", "a gap must stand between two terms"),
        ("管 …", "a gap must stand between two terms"),
        ("(管|)", "empty alternative"),
        ("不归 …4294967296 管", "a gap of at most 1000 characters"),
        ("(不归 … 管", "a '(' without its ')'"),
        ("不归 ) 管", "a ')' without its '('"),
    ],
)
def test_bad_patterns_are_reported_with_file_and_line(tmp_path, pattern, message):
    path = tmp_path / "bad.yaml"
    path.write_text(
        f'extends: default\nforbidden:\n  - id: t.bad\n    category: 推诿\n    patterns: ["{pattern}"]\n'
        "    deduct: 1\n    message: m\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["rubric", "check", str(path)])
    assert result.exit_code in (1, 2)
    assert message in result.stdout + result.stderr
    assert f"{path}:5:" in result.stdout + result.stderr  # the line of the patterns
    assert "Traceback" not in result.stdout + result.stderr


def test_patterns_serve_checks_and_scripts_too(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(
        "extends: default\n"
        "classes:\n  WAIT: [等了, 排了, 打了]\n"
        "checks:\n"
        "  - id: check.apology_after_wait\n"
        "    kind: response\n    category: 致歉\n    deduct: 5\n    message: 客户抱怨等待后未致歉\n"
        "    trigger: {roles: [customer], match: {pattern: '$WAIT … (半天|很久|[0-9]+分钟|二十分钟)'}}\n"
        "    response: {roles: [agent], within: 2, match: {any: [久等, 抱歉, 对不起, 不好意思]}}\n",
        encoding="utf-8",
    )
    call = tmp_path / "call.txt"
    call.write_text("客服:您好,请讲\n客户:我等了二十分钟才打通\n客服:请问什么问题\n", encoding="utf-8")
    report = CliRunner().invoke(app, ["score", str(call), "--rubric", str(path), "--format", "json"]).stdout
    assert "check.apology_after_wait" in report


def test_the_literal_prefilter_never_hides_a_match_the_regex_finds():
    """A pattern runs its regex only on text holding a literal every match must contain: on every
    line of the samples, for every pattern of the default rubric and a few edge cases, the spans are
    exactly the regex's own."""
    import re

    from callqa.rules.patterns import compile_pattern, fold_homophones
    from callqa.transcripts.reader import read_transcript

    from conftest import SAMPLES

    compiled = compile_rubric()
    classes = {**compiled.rubric.classes, "EMPTY": [" "], "WE": ["我们", "我这边"]}
    sources = [p.source for c in compiled.rules for p in (*c.patterns, *c.exceptions)]
    sources += [p.source for group in compiled._script_patterns for p in group]
    sources += ["好 (谢谢|$EMPTY)", "$EMPTY 好", "!可能 … 到", "您 (当时)? 自己 … 确认", "(不归|$WE) 管"]
    lines = [u.norm for sample in SAMPLES for u in read_transcript(sample, compiled).utterances]
    lines += ["好的", "您当时自己点的确认", "不归我们管", "这个可能明天到", "在见"]
    checked = 0
    for source in sources:
        for pinyin in (False, True):
            pattern = compile_pattern(source, classes, pinyin=pinyin)
            for line in lines:
                text = fold_homophones(line) if pinyin else line
                expected = [m.span() for m in re.finditer(pattern.expression, text) if m.end() > m.start()]
                assert pattern.spans(line, text if pinyin else None) == expected, (source, line)
                checked += bool(expected)
    assert checked > 50  # the comparison saw matches, not only empty lists


def test_a_script_pattern_is_skipped_only_on_lines_where_it_finds_nothing():
    """script_match tries only the patterns the scripts' automaton finds a required literal of: on every
    line of the samples, every pattern that matches is among them."""
    from callqa.transcripts.reader import read_transcript

    from conftest import SAMPLES

    compiled = compile_rubric()
    lines = [u.norm for sample in SAMPLES for u in read_transcript(sample, compiled).utterances]
    matched = 0
    for line in lines:
        candidates = compiled._script_patterns_in(line)
        for script_index, group in enumerate(compiled._script_patterns):
            for k, pattern in enumerate(group):
                if pattern.spans(line):
                    matched += 1
                    assert k in candidates.get(script_index, ()), (pattern.source, line)
    assert matched > 10  # the comparison saw matches
