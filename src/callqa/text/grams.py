"""Which known n-grams each of many short texts holds, looked up for all of them at once.

The stage model and the forbidden-expression detector weigh a line by the character n-grams it
contains (of a few sizes, 1 to 4), and most n-grams of a line have no weight. Listing every n-gram of
every line as a string and looking each up, or finding them with an Aho-Corasick automaton, costs a
Python object per n-gram; here a call's texts are joined into one array of character ids, every
n-gram of a size is packed into one 64-bit key (an id takes a fixed number of bits) and all keys are
looked up in a sorted table at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Joins the texts. It has no id (no n-gram of a table holds it), so no n-gram spans two texts.
SEPARATOR = "\x00"


#: The top bits of a key hold its n-gram's size, so that n-grams of all sizes share one table.
_SIZE_BITS = 3


class GramTable:
    """The n-grams of a model (of at most 7 characters), each known by its index in the sequence it
    was built from."""

    def __init__(self, grams: Sequence[str]):
        """`grams`: distinct n-grams, in an order that is the same in every process (sorted, say)."""
        if any(len(g) >= 2**_SIZE_BITS for g in grams):
            raise ValueError(f"n-grams of {2**_SIZE_BITS} or more characters do not fit a key")
        usable = [(k, g) for k, g in enumerate(grams) if g and SEPARATOR not in g]
        # Characters of the n-grams get ids 1..K; every other character (the separator too) gets
        # 0, so a key holding one matches no n-gram of the table.
        alphabet = sorted({c for _, g in usable for c in g})
        self._alphabet = np.array([ord(c) for c in alphabet], dtype=np.uint32)
        self._bits = max(1, len(alphabet).bit_length())
        self._size = len(grams)
        self._sizes = sorted({len(g) for _, g in usable})
        if self._sizes and self._sizes[-1] * self._bits > 64 - _SIZE_BITS:
            raise ValueError(f"{self._sizes[-1]}-grams over {len(alphabet)} distinct characters do not fit a key")
        keys, indices = [], []
        for n in self._sizes:
            group = [(k, g) for k, g in usable if len(g) == n]
            ids = self._ids("".join(g for _, g in group)).reshape(len(group), n)
            keys.append(self._pack([ids[:, j] for j in range(n)], n))
            indices.append(np.array([k for k, _ in group], dtype=np.int64))
        key = np.concatenate(keys) if keys else np.zeros(0, dtype=np.uint64)
        order = np.argsort(key, kind="stable")
        self._keys = key[order]
        self._indices = np.concatenate(indices)[order] if indices else np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return self._size

    def _ids(self, text: str) -> np.ndarray:
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        if not len(self._alphabet):
            return np.zeros(len(codes), dtype=np.uint64)
        at = np.minimum(np.searchsorted(self._alphabet, codes), len(self._alphabet) - 1)
        return np.where(self._alphabet[at] == codes, at + 1, 0).astype(np.uint64)

    def _pack(self, columns: Sequence[np.ndarray], n: int) -> np.ndarray:
        """The keys of n-grams of n characters from their characters' ids, column by column."""
        bits = np.uint64(self._bits)
        key = np.full(len(columns[0]), n, dtype=np.uint64)
        for column in columns:
            key = (key << bits) | column
        return key << np.uint64(64 - _SIZE_BITS - n * self._bits)  # the size in the top bits

    def find(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(text index, n-gram index) of every n-gram of the table found in `texts`, each pair once
        however often it occurs, sorted by text and then n-gram."""
        ids = self._ids(SEPARATOR.join(texts))
        starts, keys = [], []
        for n in self._sizes:
            count = len(ids) - n + 1
            if count > 0:
                keys.append(self._pack([ids[j : j + count] for j in range(n)], n))
                starts.append(np.arange(count))
        if not keys or not len(self._keys):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        key, start = np.concatenate(keys), np.concatenate(starts)
        at = np.minimum(np.searchsorted(self._keys, key), len(self._keys) - 1)
        hit = np.flatnonzero(self._keys[at] == key)
        ends = np.cumsum([len(text) + 1 for text in texts]) - 1  # each text's separator
        # Each (text, n-gram) once: sorted, then every repeat of the one before dropped (np.unique
        # costs several times more on arrays this small).
        pairs = np.sort(np.searchsorted(ends, start[hit]) * self._size + self._indices[at[hit]])
        if len(pairs):
            pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
        owner, gram = np.divmod(pairs, self._size)
        return owner, gram
