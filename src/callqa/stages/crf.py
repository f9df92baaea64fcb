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

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

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

#: An attribute's weight for each label, in `labels` order.
Weights = tuple[float, ...]


class CrfFileError(ValueError):
    """The bytes are not a CRFsuite model file (or are cut short)."""


@dataclass(frozen=True, slots=True)
class LinearChainCrf:
    labels: tuple[str, ...]
    state: dict[str, Weights]  # attribute name -> its weights (attributes with none are left out)
    transitions: tuple[tuple[float, ...], ...]  # [from label][to label]
    #: exp(transition), [from][to]: what the forward-backward multiplies by (derived once).
    factors: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        factors = np.exp(np.array(self.transitions, dtype=float).reshape(len(self.labels), len(self.labels)))
        factors.flags.writeable = False
        object.__setattr__(self, "factors", factors)  # the dataclass is frozen

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

    def marginals(self, scores: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """P(label at t | call), one row per utterance, from each utterance's state scores (the sum
        of its features' weights, one column per label): forward-backward, scaled at every step."""
        scores = np.asarray(scores, dtype=float).reshape(-1, len(self.labels))
        if not len(scores):
            return np.zeros((0, len(self.labels)))
        factors = self.factors
        # A constant per utterance cancels in the scaling: taking the row's top keeps exp() in range.
        potentials = np.exp(scores - scores.max(axis=1, keepdims=True))
        count = len(potentials)
        alphas = np.empty_like(potentials)
        scales = np.empty(count)
        alpha = potentials[0]
        for t in range(count):
            if t:
                alpha = (alpha @ factors) * potentials[t]
            total = alpha.sum()
            alpha = alpha / total
            alphas[t], scales[t] = alpha, total
        betas = np.empty_like(potentials)
        beta = betas[-1] = np.ones(len(self.labels))
        for t in range(count - 1, 0, -1):
            beta = betas[t - 1] = factors @ (potentials[t] * beta) / scales[t]
        marginals: np.ndarray = alphas * betas
        return marginals


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
