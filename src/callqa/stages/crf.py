"""A linear-chain CRF's weights, read from CRFsuite's own model file, and its marginals.

Training writes CRFsuite's file (`training.py`); scoring reads the weights out of it once and computes
P(label | call) itself. python-crfsuite's tagger computes the same numbers, but it takes each
utterance as a dict of feature-name strings: building and handing over ~4,000 of them a call cost
more than the rest of segmenting did. Read here, the weights are looked up by the parts the names
are made of (`features.CallFeatures`), and no name is built at all.

The file (CRFsuite's `crf1d` format, little-endian): a 48-byte header, a chunk of features (type,
source, destination as uint32, weight as float64: type 0 is attribute -> label, type 1 label ->
label), and two string tables ("CQDB" chunks) whose records (int32 id, uint32 size, the string and a
NUL) follow the table's 2,072-byte head in id order.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

_HEADER = struct.Struct("<4sI4sIIIIIIIII")
_FEATURE = struct.Struct("<IIId")
_RECORD = struct.Struct("<iI")
_CQDB_HEAD = struct.Struct("<4sIIIII")
_CQDB_DATA = 24 + 256 * 8  # the chunk header and its 256 hash-table references
_CQDB_BYTEORDER = 0x62445371
_STATE, _TRANSITION = 0, 1

#: An attribute's weight for each label, in `labels` order.
Weights = tuple[float, ...]


class CrfFileError(ValueError):
    """The bytes are not a CRFsuite model file (or are cut short)."""


@dataclass(frozen=True, slots=True)
class LinearChainCrf:
    labels: tuple[str, ...]
    state: dict[str, Weights]  # attribute name -> its weights (attributes with none are left out)
    transitions: tuple[tuple[float, ...], ...]  # [from label][to label]
    #: (from, to, exp(w) - 1) of every learned transition (see `marginals`).
    excess: tuple[tuple[int, int, float], ...] = field(init=False)

    def __post_init__(self) -> None:
        excess = tuple(
            (i, j, math.exp(w) - 1.0) for i, row in enumerate(self.transitions) for j, w in enumerate(row) if w
        )
        object.__setattr__(self, "excess", excess)  # derived once: the dataclass is frozen

    @classmethod
    def from_crfsuite(cls, data: bytes) -> LinearChainCrf:
        try:
            return cls._read(data)
        except (struct.error, UnicodeDecodeError, IndexError) as exc:
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
        chunk, _, count = struct.unpack_from("<4sII", data, off_features)
        if chunk != b"FEAT":
            raise CrfFileError("not a CRFsuite model file (bad feature chunk)")
        start = off_features + 12
        state: dict[str, list[float]] = {}
        transitions = [[0.0] * num_labels for _ in range(num_labels)]
        for kind_id, source, target, weight in _FEATURE.iter_unpack(data[start : start + _FEATURE.size * count]):
            if kind_id == _STATE:
                # Dense: summing an utterance's weights column by column (`zip`) is faster in Python
                # than adding a few labels' weights one by one. The zeros are all one object.
                state.setdefault(attributes[source], [0.0] * num_labels)[target] = weight
            elif kind_id == _TRANSITION:
                transitions[source][target] = weight
        return cls(
            labels=tuple(labels),
            state={name: tuple(weights) for name, weights in state.items()},
            transitions=tuple(tuple(row) for row in transitions),
        )

    def marginals(self, scores: Sequence[Sequence[float]]) -> list[list[float]]:
        """P(label at t | call) from each utterance's state scores (sum of its features' weights).

        Forward-backward, scaled at every step. exp(transition) is written 1 + (exp(w) - 1): a CRF
        learns weights for a few label pairs only, so each step takes the sum over all labels (which
        is 1 for the scaled alphas) in one go and adds the learned pairs' excess one by one."""
        if not scores:
            return []
        excess = self.excess
        potentials = []
        for row in scores:
            top = max(row)
            potentials.append([math.exp(s - top) for s in row])  # a constant per step cancels in the scaling
        alphas, scales = [], []
        alpha = potentials[0]
        for t, potential in enumerate(potentials):
            if t:
                incoming = [1.0] * len(potential)
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
                beta = [sum(weighted)] * len(weighted)
                for i, j, d in excess:
                    beta[i] += d * weighted[j]
        return result


def _strings(data: bytes, offset: int, count: int) -> list[str]:
    """The strings of a CQDB chunk by id (its records are written in id order, 0 first)."""
    chunk, _size, _flag, byteorder, _, _ = _CQDB_HEAD.unpack_from(data, offset)
    if chunk != b"CQDB" or byteorder != _CQDB_BYTEORDER:
        raise CrfFileError("not a CRFsuite model file (bad string table)")
    strings = [""] * count
    at = offset + _CQDB_DATA
    for _ in range(count):
        ident, size = _RECORD.unpack_from(data, at)
        strings[ident] = data[at + 8 : at + 7 + size].decode("utf-8")
        at += 8 + size
    return strings
