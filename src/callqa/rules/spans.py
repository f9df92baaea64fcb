"""Small text helpers shared by the rubric's matchers and checks: where a phrase occurs, whether two
spans are near each other, and the key that script similarity compares."""

from __future__ import annotations

import re
from functools import lru_cache

# Placeholders and numbers are the same to a model sentence: 工号××××, 工号1234, 十七点 -> #
_NUMBER = re.compile(r"[0-9零〇一二三四五六七八九十两百千万]+|[×xX*＊]{2,}")
_NOT_WORD = re.compile(r"[^\w#]+")


def occurrences(text: str, phrase: str) -> list[tuple[int, int]]:
    """Every (start, end) of `phrase` in `text`, overlapping ones included."""
    found, at = [], text.find(phrase) if phrase else -1
    while at != -1:
        found.append((at, at + len(phrase)))
        at = text.find(phrase, at + 1)
    return found


def near(a: int, b: int, start: int, end: int, window: int) -> bool:
    """Does span [a, b) overlap [start, end), or lie at most `window` characters from it?"""
    if a < end and b > start:
        return True
    return window > 0 and max(a - end, start - b) <= window


@lru_cache(maxsize=8192)
def script_key(text: str) -> str:
    """What similarity compares: normalised text without punctuation, numbers folded to #."""
    return _NOT_WORD.sub("", _NUMBER.sub("#", text))
