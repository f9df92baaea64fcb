"""Text normalisation for matching: NFKC width folding, Traditional->Simplified, no spaces or fillers.

The report shows the original text, so `normalize` also returns, for each character of the normalised
text, the offset of the original character it came from: a match found in normalised text can then
be highlighted in the words the speaker actually said.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import opencc

_T2S = opencc.OpenCC("t2s")


@lru_cache(maxsize=65536)
def _fold_char(char: str) -> str:
    folded = unicodedata.normalize("NFKC", char).lower()
    return "" if folded.isspace() else folded


@dataclass(frozen=True, slots=True)
class Normalized:
    text: str
    index: tuple[int, ...]  # index[i]: offset in the original text of text[i]


def to_simplified(text: str) -> str:
    """Traditional -> Simplified Chinese (OpenCC t2s, phrase-aware)."""
    simplified: str = _T2S.convert(text)  # opencc ships no types
    return simplified


_SPACE = re.compile(r"\s+")
# OpenCC reads an ideographic description sequence (⿰女子 …) as one character, whatever its parts are,
# a newline too; U+31EF is the operator Unicode 15.1 added.
_IDS_OPERATOR = re.compile("[\u2ff0-\u2fff\u31ef]")


def to_simplified_each(texts: list[str]) -> list[str]:
    """`to_simplified` of each text, in one OpenCC call where that is provably the same, since a call
    costs more than converting an utterance: OpenCC matches dictionary phrases, and as no phrase holds
    or yields a newline, a newline between texts ends every match. Only an IDS runs across one."""
    if len(texts) > 1:
        joined = "\n".join(texts)
        if not _IDS_OPERATOR.search(joined):
            simplified = to_simplified(joined).split("\n")
            if len(simplified) == len(texts):  # else a text held a newline of its own
                return simplified
    return [to_simplified(text) for text in texts]


def _fold(text: str) -> tuple[str, list[int]]:
    """NFKC + lower case without white space, with the offset of each kept character."""
    folded = unicodedata.normalize("NFKC", text).lower()
    if len(folded) == len(text):  # the usual case: each character folds to one character
        if not _SPACE.search(folded):
            return folded, list(range(len(text)))
        index = [i for i, c in enumerate(folded) if not c.isspace()]
        return "".join(folded[i] for i in index), index
    chars: list[str] = []
    index = []
    for offset, char in enumerate(text):
        for piece in _fold_char(char):
            chars.append(piece)
            index.append(offset)
    return "".join(chars), index


def normalize(text: str, fillers: re.Pattern[str] | None = None) -> Normalized:
    """Fold width and case, drop white space, convert to Simplified and drop filler words."""
    (normalized,) = normalize_all([text], fillers)
    return normalized


def normalize_all(texts: Sequence[str], fillers: re.Pattern[str] | None = None) -> list[Normalized]:
    """`normalize` of each text, converted to Simplified together (see `to_simplified_each`)."""
    folded = [_fold(text) for text in texts]
    simplified = to_simplified_each([folded_text for folded_text, _ in folded])
    return [_normalized(*pair, each, fillers) for pair, each in zip(folded, simplified, strict=True)]


def _normalized(folded_text: str, index: list[int], simplified: str, fillers: re.Pattern[str] | None) -> Normalized:
    """The rest of `normalize`, given the folded text, its offsets and its Simplified form."""
    if len(simplified) != len(folded_text):
        # OpenCC changed the length (rare): convert char by char so the offsets stay exact.
        simplified_chars = [_T2S.convert(c) for c in folded_text]
        index = [i for c, i in zip(simplified_chars, index, strict=True) for _ in c]
        simplified = "".join(simplified_chars)
    if fillers is not None and fillers.search(simplified):
        keep = [True] * len(simplified)
        for match in fillers.finditer(simplified):
            for i in range(match.start(), match.end()):
                keep[i] = False
        simplified = "".join(c for c, k in zip(simplified, keep, strict=True) if k)
        index = [i for i, k in zip(index, keep, strict=True) if k]
    return Normalized(simplified, tuple(index))


@lru_cache(maxsize=16384)  # a rubric's class words are normalised again in every pattern that names them
def normalize_phrase(phrase: str) -> str:
    """Normalise a rubric phrase the same way as transcript text (fillers are kept: the author wrote them)."""
    return normalize(phrase).text


def filler_pattern(fillers: list[str]) -> re.Pattern[str] | None:
    """One regex for the filler words, longest first so 那个 wins over a shorter filler inside it."""
    words = sorted({normalize_phrase(f) for f in fillers if f.strip()}, key=len, reverse=True)
    if not words:
        return None
    return re.compile("|".join(re.escape(w) for w in words))
