"""The n-gram lookup both trained models weigh lines with: it must find exactly the known n-grams of
each text, as listing every n-gram of every text and looking each up would."""

from hypothesis import given, settings
from hypothesis import strategies as st

from callqa.text.grams import SEPARATOR, GramTable

_CHARS = st.sampled_from([*"您好请问还有什么可以帮您退款0#a", SEPARATOR, "😀"])


def _listed(texts: list[str], grams: list[str]) -> set[tuple[int, int]]:
    index = {g: k for k, g in enumerate(grams)}
    return {
        (t, index[text[i : i + n]])
        for t, text in enumerate(texts)
        for n in range(1, 8)
        for i in range(len(text) - n + 1)
        if text[i : i + n] in index and SEPARATOR not in text[i : i + n]
    }


@settings(max_examples=300, deadline=None)
@given(
    grams=st.lists(st.text(_CHARS, min_size=1, max_size=4), max_size=30, unique=True),
    texts=st.lists(st.text(_CHARS, max_size=25), max_size=6),
)
def test_every_known_ngram_of_every_text_is_found_once(grams, texts):
    owner, gram = GramTable(grams).find(texts)
    pairs = list(zip(owner.tolist(), gram.tolist(), strict=True))
    assert pairs == sorted(set(pairs))  # each once, by text then n-gram
    assert set(pairs) == _listed(texts, grams)


def test_no_ngram_is_found_across_two_texts():
    table = GramTable(["好请"])
    assert table.find(["您好", "请问"])[0].tolist() == []
    assert table.find(["您好请问"])[0].tolist() == [0]


def test_ngrams_too_long_for_a_key_are_refused_not_dropped():
    import pytest

    with pytest.raises(ValueError, match="do not fit a key"):
        GramTable(["八个字的一个词组", "您好"])
