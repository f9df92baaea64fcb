"""A linear-chain CRF's weights, read from CRFsuite's own model file, and its marginals.

Training writes CRFsuite's file (`training.py`); scoring reads the weights out of it once and computes
P(label | call) itself. python-crfsuite's tagger computes the same numbers, but it takes each
utterance as a dict of feature-name strings: building and handing over ~4,000 of them a call cost
more than the rest of segmenting did. Read here, the weights are looked up by the parts the names
are made of (`features.CallFeatures`), and no name is built at all.

The file (CRFsuite's `crf1d` format, little-endian): a 48-byte header, a chunk of features (type,
source, destination as uint32, weight as float64: type 0 is attribute -> label, type 1 label ->
label), and two string tables ("CQDB" chunks) whose records (int32 id, uint32 size, the string and a
NUL) follow the table's 2,072-byte head in id order. Every count and offset is checked against the
bytes before it is used, so a file written wrong is a `CrfFileError`, never a wrong model.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

_HEADER = struct.Struct("<4sI4sIIIIIIIII")
_CHUNK = struct.Struct("<4sII")
_FEATURE = struct.Struct("<IIId")
_RECORD = struct.Struct("<iI")
_CQDB_HEAD = struct.Struct("<4sIIIII")
_CQDB_DATA = 24 + 256 * 8  # the chunk header and its 256 hash-table references
_CQDB_BYTEORDER = 0x62445371
_STATE, _TRANSITION = 0, 1
#: A weight beyond this is no trained weight (exp() of it would overflow a float).
_MAX_WEIGHT = 700.0
#: Below this a transition is all but forbidden, and `marginals`' 1 + excess would lose it to rounding.
_SPARSE_FLOOR = -10.0

#: An attribute's weight for each label, in `labels` order.
Weights = tuple[float, ...]


class CrfFileError(ValueError):
    """The bytes are not a CRFsuite model file (or are cut short)."""


@dataclass(frozen=True, slots=True)
class LinearChainCrf:
    labels: tuple[str, ...]
    state: dict[str, Weights]  # attribute name -> its weights (attributes with none are left out)
    transitions: tuple[tuple[float, ...], ...]  # [from label][to label]
    #: The transitions `marginals` adds one by one, as (from, to, factor), over a `base` factor that
    #: every pair has: the learned pairs with exp(w) - 1 over 1, or, when one is all but forbidden,
    #: every pair with exp(w) over 0 (see `marginals`).
    excess: tuple[tuple[int, int, float], ...] = field(init=False)
    base: float = field(init=False)

    def __post_init__(self) -> None:
        weights = [w for row in self.transitions for w in row]
        sparse = not weights or min(weights) >= _SPARSE_FLOOR
        excess = tuple(
            (i, j, math.exp(w) - 1.0 if sparse else math.exp(w))
            for i, row in enumerate(self.transitions)
            for j, w in enumerate(row)
            if w or not sparse
        )
        object.__setattr__(self, "excess", excess)  # derived once: the dataclass is frozen
        object.__setattr__(self, "base", 1.0 if sparse else 0.0)

    @classmethod
    def from_crfsuite(cls, data: bytes) -> LinearChainCrf:
        try:
            return cls._read(data)
        except (struct.error, UnicodeDecodeError) as exc:
            raise CrfFileError(f"not a CRFsuite model file ({exc})") from None

    @classmethod
    def _read(cls, data: bytes) -> LinearChainCrf:
        # The header's feature count is left 0 by CRFsuite's writer: the feature chunk has the count.
        magic, size, kind, _version, _, num_labels, num_attrs, off_features, off_labels, off_attrs = (
            _HEADER.unpack_from(data)[:10]
        )
        if magic != b"lCRF" or kind != b"FOMC" or size != len(data):
            raise CrfFileError("not a CRFsuite model file (bad header or size)")
        labels = _strings(data, off_labels, num_labels)
        attributes = _strings(data, off_attrs, num_attrs)
        chunk, chunk_size, count = _CHUNK.unpack_from(data, off_features)
        start = off_features + _CHUNK.size
        end = start + _FEATURE.size * count
        if chunk != b"FEAT" or chunk_size != end - off_features or end > len(data):
            raise CrfFileError("not a CRFsuite model file (bad feature chunk)")
        state: dict[str, list[float]] = {}
        transitions = [[0.0] * num_labels for _ in range(num_labels)]
        for kind_id, source, target, weight in _FEATURE.iter_unpack(data[start:end]):
            if not (target < num_labels and -_MAX_WEIGHT <= weight <= _MAX_WEIGHT):  # NaN fails too
                raise CrfFileError("not a CRFsuite model file (a feature out of range)")
            if kind_id == _STATE and source < num_attrs:
                # Dense: summing an utterance's weights column by column (`zip`) is faster in Python
                # than adding a few labels' weights one by one.
                state.setdefault(attributes[source], [0.0] * num_labels)[target] = weight
            elif kind_id == _TRANSITION and source < num_labels:
                transitions[source][target] = weight
            else:
                raise CrfFileError("not a CRFsuite model file (a feature out of range)")
        return cls(
            labels=tuple(labels),
            state={name: tuple(weights) for name, weights in state.items()},
            transitions=tuple(tuple(row) for row in transitions),
        )

    def marginals(self, scores: Sequence[Sequence[float]]) -> list[list[float]]:
        """P(label at t | call) from each utterance's state scores (sum of its features' weights).

        Forward-backward, scaled at every step. exp(transition) is written 1 + (exp(w) - 1): a CRF
        learns weights for a few label pairs only, so each step takes the sum over all labels (which
        is 1 for the scaled alphas) in one go and adds the learned pairs' excess one by one. When a
        transition is all but forbidden (w < -10), 1 + (exp(w) - 1) would cancel to rounding noise,
        so every pair's exp(w) is added from 0 instead (`base` 0)."""
        if not scores:
            return []
        excess, base = self.excess, self.base
        potentials = []
        for row in scores:
            top = max(row)
            potentials.append([math.exp(s - top) for s in row])  # a constant per step cancels in the scaling
        alphas, scales = [], []
        alpha = potentials[0]
        for t, potential in enumerate(potentials):
            if t:
                incoming = [base] * len(potential)
                for i, j, d in excess:
                    incoming[j] += alpha[i] * d
                alpha = [p * x for p, x in zip(potential, incoming, strict=True)]
            total = sum(alpha)
            alpha = [a / total for a in alpha]
            alphas.append(alpha)
            scales.append(total)
        beta = [1.0] * len(alpha)
        result: list[list[float]] = [[]] * len(potentials)
        for t in range(len(potentials) - 1, -1, -1):
            result[t] = [a * b for a, b in zip(alphas[t], beta, strict=True)]
            if t:
                weighted = [p * b / scales[t] for p, b in zip(potentials[t], beta, strict=True)]
                beta = [base * sum(weighted)] * len(weighted)
                for i, j, d in excess:
                    beta[i] += d * weighted[j]
        return result


def _strings(data: bytes, offset: int, count: int) -> list[str]:
    """The strings of a CQDB chunk by id (its records are written in id order, 0 first)."""
    chunk, chunk_size, _flag, byteorder, _, _ = _CQDB_HEAD.unpack_from(data, offset)
    if chunk != b"CQDB" or byteorder != _CQDB_BYTEORDER or offset + chunk_size > len(data):
        raise CrfFileError("not a CRFsuite model file (bad string table)")
    if count > (chunk_size - _CQDB_DATA) // (_RECORD.size + 1):  # a record is 8 bytes and a NUL at least
        raise CrfFileError("not a CRFsuite model file (more strings than its table holds)")
    strings = []
    at = offset + _CQDB_DATA
    for expected in range(count):
        ident, size = _RECORD.unpack_from(data, at)
        if ident != expected or size < 1 or at + _RECORD.size + size > offset + chunk_size:
            raise CrfFileError("not a CRFsuite model file (a string table record out of place)")
        strings.append(data[at + 8 : at + 7 + size].decode("utf-8"))
        at += 8 + size
    return strings
