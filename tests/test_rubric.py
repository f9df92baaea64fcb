"""Rubric loading: validation errors name file, line and field; extends; the default rubric's content."""

from __future__ import annotations

import textwrap

import pytest

from callqa.errors import RubricError
from callqa.model import STAGES
from callqa.rules.schema import default_rubric_path, load_rubric

MINIMAL = """\
name: tiny
version: 2
stages:
  - {name: 问候, points: 20}
  - {name: 切入, points: 20}
  - {name: 转化, points: 20}
  - {name: 协议, points: 20}
  - {name: 结束, points: 20}
forbidden:
  - id: a
    category: 推诿
    phrases: [不归我们管]
    deduct: 10
    message: m
  - id: b
    category: 拖延
    phrases: [改天]
    deduct: 5
    message: m
"""


def load_error(rubric_file, text) -> str:
    path = rubric_file(textwrap.dedent(text))
    with pytest.raises(RubricError) as caught:
        load_rubric(path)
    return str(caught.value).replace(str(path), "R")


def test_minimal_rubric_loads_with_defaults(rubric_file):
    rubric, _source = load_rubric(rubric_file(MINIMAL))
    assert rubric.version == "2"
    assert rubric.max_score == 100
    assert [g.name for g in rubric.grades] == ["优秀", "良好", "合格", "不合格"]
    assert rubric.forbidden[0].roles == ["agent"]


@pytest.mark.parametrize(
    "replace, expected",
    [
        (("deduct: 5", "deduct: lots"), "R:18: forbidden[1].deduct: must be a number"),
        (
            ("    message: m\n  - id: b", "    message: m\n    colour: red\n  - id: b"),
            "R:15: forbidden[0].colour: unknown field",
        ),
        (("phrases: [改天]", "regexes: ['改天(']"), "R:17: forbidden[1].regexes: item 0: invalid regex"),
        (
            ("{name: 转化, points: 20}", "{name: 转化, points: -1}"),
            "R:6: stages[2].points: input should be greater than or equal to 0",
        ),
        (("    category: 拖延\n", ""), "R:15: forbidden[1].category: is required"),
        (("id: b", "id: a"), "R:15: forbidden[1].id: duplicate rule id 'a'"),
        (("{name: 结束, points: 20}", "{name: 结尾, points: 20}"), "R:8: stages[4].name: input should be"),
        (("version: 2", "version: 2\nname: again"), "R:3: duplicate key 'name' (first on line 1)"),
        (("phrases: [改天]", "phrases: [改天"), "R:18: invalid YAML"),
        (
            ("phrases: [改天]\n", "phrases: []\n"),
            "R:15: forbidden[1]: a forbidden rule needs phrases, patterns or regexes",
        ),
    ],
)
def test_errors_name_file_line_and_field(rubric_file, replace, expected):
    old, new = replace
    assert old in MINIMAL
    message = load_error(rubric_file, MINIMAL.replace(old, new, 1))
    assert message.startswith(expected), message


def test_stage_list_must_be_the_five_stages_in_order(rubric_file):
    text = MINIMAL.replace("  - {name: 切入, points: 20}\n", "").replace("问候, points: 20", "问候, points: 40")
    assert load_error(rubric_file, text).startswith("R:3: stages: must list the five stages in order")


def test_scripts_cannot_be_worth_more_than_their_stage(rubric_file):
    text = MINIMAL + "recommended:\n  - {id: s, stage: 问候, sentences: [您好], points: 25}\n"
    assert "问候 is worth 20 but its recommended scripts add up to 25" in load_error(rubric_file, text)


def test_a_file_that_is_not_a_mapping_is_rejected(rubric_file):
    assert (
        load_error(rubric_file, "- just\n- a list\n")
        == "R:1: a rubric must be a YAML mapping (name, version, stages, …)"
    )


def test_missing_rubric_file(tmp_path):
    with pytest.raises(RubricError, match="no such file"):
        load_rubric(tmp_path / "nope.yaml")


def test_extends_overrides_rules_by_id_and_adds_new_ones(rubric_file):
    rubric_file(MINIMAL, "base.yaml")
    child = rubric_file(
        textwrap.dedent("""\
        extends: base.yaml
        name: child
        pass_mark: 70
        forbidden:
          - {id: a, deduct: 2}
          - {id: b, enabled: false}
          - {id: c, category: 冷漠, phrases: [下班了], deduct: 4, message: m}
        """),
        "child.yaml",
    )
    rubric, _ = load_rubric(child)
    by_id = {r.id: r for r in rubric.forbidden}
    assert (rubric.name, rubric.version, rubric.pass_mark) == ("child", "2", 70)
    assert (by_id["a"].deduct, by_id["a"].phrases) == (2, ["不归我们管"])
    assert by_id["b"].enabled is False
    assert by_id["c"].category == "冷漠"


def test_extends_default_and_errors_point_into_the_child_file(rubric_file):
    child = rubric_file("extends: default\nname: mine\nforbidden:\n  - id: forbidden.hedging\n    deduct: oops\n")
    with pytest.raises(RubricError) as caught:
        load_rubric(child)
    assert str(caught.value) == f"{child}:5: forbidden[0].deduct: must be a number"


def test_extends_cycle_is_an_error(rubric_file):
    rubric_file("extends: b.yaml\nname: a\n", "a.yaml")
    b = rubric_file("extends: a.yaml\nname: b\n", "b.yaml")
    with pytest.raises(RubricError, match="extends: cycle"):
        load_rubric(b)


def test_default_rubric_covers_the_domain():
    rubric, source = load_rubric(None)
    assert source == str(default_rubric_path())
    assert [s.name for s in rubric.stages] == list(STAGES)
    assert rubric.max_score == 100
    categories = {r.category for r in rubric.forbidden}
    assert {"推诿", "拖延", "否定", "含糊", "冷漠", "强势"} <= categories
    # Every rule has something to match; one pattern (ordered terms, classes, gaps) covers many phrasings.
    assert all(len(r.phrases) + len(r.regexes) >= 3 or r.patterns for r in rubric.forbidden)
    assert any(r.severity == "fatal" for r in rubric.forbidden)
    scripts = {s.id for s in rubric.recommended}
    assert {
        "recommended.greeting",
        "recommended.apology_wait",
        "recommended.empathy",
        "recommended.time_commitment",
        "recommended.further_help",
        "recommended.thanks_goodbye",
    } <= scripts
