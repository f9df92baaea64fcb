"""Which known n-grams each of many short texts holds, found with one pass of one automaton.

The stage model and the forbidden-expression detector weigh a line by the n-grams it contains, and
most n-grams of a line have no weight. Listing every n-gram of every line and looking each up cost
more than the rest of their work; instead an Aho-Corasick automaton of the n-grams that have a
weight goes once over all the lines of a call, joined by a separator no n-gram holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any

import ahocorasick
import numpy as np

#: Joins the texts: a character no n-gram in an automaton of `gram_finder` holds.
SEPARATOR = "\x00"


def gram_finder(grams: Sequence[str]) -> Any:  # an ahocorasick.Automaton: the library ships no types
    """An automaton whose value for each n-gram is its index in `grams` (give them in an order that
    is the same in every process, such as sorted), or None when there are none (an automaton cannot
    be empty). An n-gram holding the separator is left out, so that no match spans two texts."""
    finder = ahocorasick.Automaton()
    for row, gram in enumerate(grams):
        if SEPARATOR not in gram:
            finder.add_word(gram, row)
    if not len(finder):
        return None
    finder.make_automaton()
    return finder


def grams_in(finder: Any, texts: Sequence[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    """(text index, n-gram index) of every n-gram of `finder` (of `size` n-grams) found in `texts`,
    each pair once however often it occurs, sorted by text."""
    if finder is None or not texts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # (end, value) pairs straight into an array: np.array of the list of tuples is twice as slow.
    found = np.fromiter(chain.from_iterable(finder.iter(SEPARATOR.join(texts))), dtype=np.int64).reshape(-1, 2)
    ends = np.cumsum([len(text) + 1 for text in texts]) - 1  # each text's separator (a match ends before it)
    pairs = np.unique(np.searchsorted(ends, found[:, 0]) * size + found[:, 1])
    owner, gram = np.divmod(pairs, size)
    return owner, gram
