"""Normalisation as matching sees it: written Cantonese read in Mandarin words, offsets kept."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callqa.model import Utterance
from callqa.text.normalize import normalize


def original(text: str) -> str:
    """The original characters each normalised character came from."""
    return "".join(text[i] for i in normalize(text).index)


@pytest.mark.parametrize(
    "text, mandarin",
    [
        ("唔該晒你幫我睇咗", "谢谢你帮我看了"),  # Traditional Cantonese
        ("仲有冇其他嘢要问?", "还有没有其他东西要问?"),
        ("佢哋讲咁快我听唔明", "他们讲这么快我听不明"),
        ("即係要我喺度等", "就是要我在度等"),
        ("唔知,但系统话已经到账", "不知道,但系统话已经到账"),  # 系统 stays the system
        ("仲有咩可以帮到你", "还有咩可以帮到你"),
    ],
)
def test_written_cantonese_is_read_in_mandarin_words(text, mandarin):
    assert normalize(text).text == mandarin


@pytest.mark.parametrize(
    "text, mainland",
    [
        ("您別著急，我們會用簡訊通知您", "您别着急,我们会用短信通知您"),
        ("為您著想，睡不著，帶著證件", "为您着想,睡不着,带着证件"),
        ("網路上列印就可以", "网络上打印就可以"),
        ("他是著名的專家，效果顯著，著作很多", "他是著名的专家,效果显著,著作很多"),  # 著 that is not 着
    ],
)
def test_taiwan_usage_is_read_in_mainland_words(text, mainland):
    assert normalize(text).text == mainland


def test_traditional_empathy_is_credited_as_the_simplified_is(default_rubric):
    """「您別著急」 is the empathy script 「您别着急」 (OpenCC alone keeps 著)."""
    index = next(i for i, s in enumerate(default_rubric.scripts) if s.id == "recommended.empathy")
    for text in ("您別著急，我幫您查一下", "您别着急，我帮您查一下"):
        norm = normalize(text, default_rubric.fillers)
        line = Utterance(
            index=0, line=1, speaker="客服", role="agent", text=text, norm=norm.text, norm_index=norm.index
        )
        assert default_rubric.script_match(index, line).counts(default_rubric.scripts[index])


@pytest.mark.parametrize("text", ["系统显示已经到账", "希望快点解决", "能弄清晰咩", "仲裁委员会", "今日头条"])
def test_mandarin_text_is_left_alone(text):
    """Only a text holding a character Mandarin does not use is read as Cantonese: 系统 stays 系统."""
    assert normalize(text).text == text


def test_every_mandarin_word_points_back_at_the_cantonese_it_replaced():
    text = "冇办法,唔该晒"
    norm = normalize(text)
    assert norm.text == "没有办法,谢谢"
    assert original(text) == "冇冇办法,唔该"  # 没有 both highlight 冇; 谢谢 highlights 唔该


def test_a_cantonese_refusal_is_caught_by_the_mandarin_rule(default_rubric):
    text = "呢个唔归我哋管,你自己揾银行啦"
    norm = normalize(text, default_rubric.fillers)
    line = Utterance(index=0, line=1, speaker="客服", role="agent", text=text, norm=norm.text, norm_index=norm.index)
    hits = default_rubric.forbidden_hits(line, "切入")
    assert {default_rubric.rules[i].rule.id for i in hits} == {"forbidden.shift_blame"}
    (first,) = next(iter(hits.values()))[:1]
    start, end = line.original_span(first.start, first.end)
    assert text[start:end].startswith("唔归")


@given(st.text(alphabet="唔该晒冇嘅咗仲有系咪统即但头先今日好的,。 \u3000ａ嗯呃", max_size=30))
def test_every_normalised_character_points_at_a_character_of_the_text(text):
    """Whatever mix of Cantonese, Mandarin, width and fillers: highlights stay inside the text, in order."""
    norm = normalize(text, re.compile("嗯|呃"))
    assert len(norm.index) == len(norm.text)
    assert all(0 <= i < len(text) for i in norm.index)
    assert list(norm.index) == sorted(norm.index)
