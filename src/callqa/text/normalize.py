"""Text normalisation for matching: NFKC width folding, Traditional->Simplified, no spaces or fillers.

The report shows the original text, so `normalize` also returns, for each character of the normalised
text, the offset of the original character it came from: a match found in normalised text can then
be highlighted in the words the speaker actually said.
"""

from __future__ import annotations

import re
import unicodedata
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
    folded_text, index = _fold(text)
    simplified = _T2S.convert(folded_text)
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
