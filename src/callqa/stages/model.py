"""The trained stage model: a linear-chain CRF whose per-utterance marginals feed the monotone decode.

A model file is one JSON document, so that loading it can never run code (no pickle):

    {"format": "callqa.stage-model/2",          # checked first: another format is refused
     "manifest": {...},                          # what it was trained on, when, settings, its figures
     "settings": {"features": {...}, "decode": {...}},
     "weights": {"crfsuite": "<base64 of the CRF library's own model file, zlib-compressed>",
                 "sha256": "..."}}               # of the CRF file itself, checked after decompression

Format /1 (files written before 2026-12-02) is the same with the CRF file not compressed; it is read
too. A callqa older than /2 refuses a /2 file by its format, not as a corrupt one.

At run time no training library is used: `crf.py` reads the weights out of the CRF file and computes
the probabilities. A corrupt, truncated or mismatched file is one `ModelError` line naming the file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from itertools import chain, repeat
from pathlib import Path
from typing import Any

import numpy as np

from callqa.errors import ModelError, bad_model_field, found_value, is_number, is_whole, read_model_document
from callqa.model import STAGES
from callqa.stages.crf import CrfFileError, LinearChainCrf, Weights
from callqa.stages.decode import Costs
from callqa.stages.features import (
    DEFAULT_FEATURES,
    GRAM,
    NEXT_GRAM,
    PREV_GRAM,
    CallFeatures,
    UtteranceLike,
    call_features,
)
from callqa.text.grams import SEPARATOR, GramTable

FORMAT = "callqa.stage-model/2"
_UNCOMPRESSED_FORMAT = "callqa.stage-model/1"  # still read
#: What decompressed weights may take: a real model is a few MB, so a file that inflates past this
#: (a "zip bomb") is refused before it can fill the memory.
MAX_WEIGHTS_BYTES = 64 * 1024 * 1024


@lru_cache(maxsize=1)
def default_model_path() -> Path:
    """The model shipped in the wheel (built by `scripts/build_models.py`). Found once per process:
    every call's segmentation asks for it, and importlib.resources takes longer than the lookup."""
    return Path(str(resources.files("callqa.stages") / "default_model.json"))


@dataclass(slots=True)
class StageModel:
    settings: dict[str, Any]  # {"features": {...}, "decode": {...}}: what scoring must do as training did
    manifest: dict[str, Any]
    weights: bytes  # the CRF library's own model file
    path: str = "<memory>"
    _runtime: _Runtime | None = field(default=None, repr=False)

    @property
    def costs(self) -> Costs:
        return Costs(**self.settings.get("decode", {}))

    @property
    def crf(self) -> LinearChainCrf:
        return self.runtime.crf

    @property
    def runtime(self) -> _Runtime:
        """What scoring needs of the weights, worked out once (at load for a model file)."""
        if self._runtime is None:
            try:
                crf = LinearChainCrf.from_crfsuite(self.weights)
            except CrfFileError as exc:
                raise ModelError(self.path, f"the CRF weights cannot be read: {exc}") from None
            try:
                self._runtime = _Runtime.of(crf, self.labels)
            except ValueError as exc:  # n-grams the lookup cannot hold (GramTable)
                raise ModelError(self.path, f"the model cannot be used: {exc}") from None
        return self._runtime

    def features(self, utterances: Sequence[UtteranceLike], cue_stages: Sequence[frozenset[str]]) -> CallFeatures:
        return call_features(utterances, cue_stages, self.settings.get("features"))

    @property
    def scheme(self) -> str:
        return str(self.settings.get("scheme", "stage"))

    @property
    def labels(self) -> list[str]:
        """The CRF's labels, one column of `marginals` each: the stages, or stage+B / stage+I."""
        return [s + t for s in STAGES for t in "BI"] if self.scheme == "bi" else list(STAGES)

    def marginals(self, features: CallFeatures) -> np.ndarray:
        """P(label | call), one row per utterance, one column per `labels` (0 for a label never trained)."""
        runtime = self.runtime
        count = len(features.named)
        # Every feature but the n-grams: its row of weights times its value, added up per utterance
        # (a name the model has no weight for takes the zero row at the end).
        named = features.named
        total = sum(map(len, named))
        unknown = len(runtime.named)  # the zero row
        row = np.fromiter(map(runtime.named.get, chain.from_iterable(named), repeat(unknown)), np.intp, total)
        value = np.fromiter(chain.from_iterable(f.values() for f in named), float, total)
        owner = np.repeat(np.arange(count), [len(f) for f in named])
        scores = _sums_by_utterance(owner, runtime.named_weights[row] * value[:, None], count)
        # The n-grams the model knows, each once per utterance however often it is said (runs are
        # joined by the separator, so no n-gram is found across two). Its weights: as the
        # utterance's own, and what it adds to the next utterance (prev_ng:) and the one before (next_ng:).
        owner, gram = runtime.grams.find([SEPARATOR.join(runs) for runs in features.runs])
        if len(owner):
            sums = _sums_by_utterance(owner, runtime.gram_weights[gram], count)
            scores += sums[:, 0]
            scores[1:] += sums[:-1, 1]
            scores[:-1] += sums[1:, 2]
        marginals = np.zeros((count, len(runtime.columns)))
        marginals[:, runtime.trained] = runtime.crf.marginals(scores)[:, runtime.trained_columns]
        return marginals

    def stage_probabilities(self, marginals: np.ndarray) -> np.ndarray:
        """P(stage | call) per utterance, in STAGES order (begin and inside labels added up)."""
        if self.scheme != "bi":
            return marginals
        probabilities: np.ndarray = marginals[:, 0::2] + marginals[:, 1::2]
        return probabilities

    def drivers(self, row: Mapping[str, float], stage: str, against: str, top: int = 5) -> list[tuple[str, float]]:
        """The features of one utterance that most favour entering `stage` over staying in `against`."""
        if self.scheme == "bi":
            stage, against = stage + "B", against + "I"
        state = self.crf.state
        to, away = (self.runtime.columns[self.labels.index(label)] for label in (stage, against))

        def weight(name: str, label: int | None) -> float:  # 0 for a label the model never learned
            return 0.0 if label is None else state[name][label]

        scored = [
            (name, value * (weight(name, to) - weight(name, away))) for name, value in row.items() if name in state
        ]
        return sorted((item for item in scored if item[1] > 0), key=lambda item: -item[1])[:top]

    # --- the file ------------------------------------------------------------------------------

    def to_json(self) -> str:
        document = {
            "format": FORMAT,
            "manifest": self.manifest,
            "settings": self.settings,
            # Compressed: the CRF file is mostly feature names, and zlib takes the model file from
            # 2.0 MB to 0.9 MB for 5 ms at load. (The weights are byte-identical for the same calls;
            # the compressed bytes are too with the same zlib, not necessarily with another build.)
            "weights": {
                "crfsuite": base64.b64encode(zlib.compress(self.weights, 9)).decode("ascii"),
                "sha256": hashlib.sha256(self.weights).hexdigest(),
            },
        }
        return json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True) + "\n"

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> StageModel:
        name = str(path)
        document = read_model_document(
            path, (FORMAT, _UNCOMPRESSED_FORMAT), "stage model", "callqa train stages DIR --out MODEL"
        )
        try:
            weights = base64.b64decode(document["weights"]["crfsuite"], validate=True)
            digest, settings, manifest = document["weights"]["sha256"], document["settings"], document["manifest"]
        except (KeyError, TypeError, binascii.Error):
            raise ModelError(name, "stage model file is incomplete or corrupt") from None
        _check_settings(settings, name)
        if not isinstance(manifest, dict):
            raise ModelError(name, f"stage model file has a bad manifest: expected an object, found {manifest!r:.40}")
        if document["format"] == FORMAT:
            weights = _decompressed(weights, name)
        if hashlib.sha256(weights).hexdigest() != digest:
            raise ModelError(name, "stage model weights do not match their checksum: the file is corrupt")
        model = cls(settings=settings, manifest=manifest, weights=weights, path=name)
        model.runtime  # noqa: B018 - read now, so a bad file fails at load, not mid-batch (and forked workers share it)
        return model


#: The decode costs a model file may set (all numbers); what it omits is 0.
_DECODE_KEYS = tuple(Costs.__dataclass_fields__)
_SCHEMES = ("stage", "bi")
_SETTINGS_KEYS = ("features", "decode", "scheme")
#: The feature settings that are counts (n-gram orders) and their least value; every other is a switch.
_FEATURE_MINIMUM = {"ngram_max": 1, "ngram_min": 1, "context_ngrams": 0}


def _check_settings(settings: object, name: str) -> None:
    """A model file's settings, checked as scoring reads them (a hand-edited file is data, not
    trusted): one ModelError naming the bad field, never an error mid-scoring."""

    def bad(field: str, problem: str) -> ModelError:
        return bad_model_field(name, "stage model", field, problem)

    if not isinstance(settings, dict):
        raise bad("settings", f"expected an object, {found_value(settings)}")
    for key in settings:
        if key not in _SETTINGS_KEYS:
            raise bad(f"settings.{key}", f"unknown setting (known: {', '.join(_SETTINGS_KEYS)})")
    scheme = settings.get("scheme", "stage")
    if scheme not in _SCHEMES:
        raise bad("settings.scheme", f"expected one of {', '.join(map(repr, _SCHEMES))}, {found_value(scheme)}")
    decode = settings.get("decode", {})
    if not isinstance(decode, dict):
        raise bad("settings.decode", f"expected an object of {', '.join(_DECODE_KEYS)}, {found_value(decode)}")
    for key, value in decode.items():
        if key not in _DECODE_KEYS:
            raise bad(f"settings.decode.{key}", f"unknown cost (known: {', '.join(_DECODE_KEYS)})")
        if not is_number(value):
            raise bad(f"settings.decode.{key}", f"expected a number, {found_value(value)}")
    features = settings.get("features", {})
    if features is None:
        features = {}
    if not isinstance(features, dict):
        raise bad("settings.features", f"expected an object, {found_value(features)}")
    for key, value in features.items():
        if key not in DEFAULT_FEATURES:
            raise bad(f"settings.features.{key}", f"unknown feature setting (known: {', '.join(DEFAULT_FEATURES)})")
        least = _FEATURE_MINIMUM.get(key)
        if least is None and not isinstance(value, bool):
            raise bad(f"settings.features.{key}", f"expected true or false, {found_value(value)}")
        if least is not None and not is_whole(value, least):
            raise bad(f"settings.features.{key}", f"expected a whole number of at least {least}, {found_value(value)}")


def _decompressed(data: bytes, name: str) -> bytes:
    inflater = zlib.decompressobj()
    try:
        weights = inflater.decompress(data, MAX_WEIGHTS_BYTES)
    except zlib.error:
        raise ModelError(name, "stage model weights cannot be decompressed: the file is corrupt") from None
    if inflater.unconsumed_tail:
        raise ModelError(name, f"stage model weights inflate past {MAX_WEIGHTS_BYTES // 2**20} MB: not a real model")
    if not inflater.eof or inflater.unused_data:
        raise ModelError(name, "stage model weights are truncated or have bytes after them: the file is corrupt")
    return weights


@lru_cache(maxsize=8)
def load_stage_model(path: str) -> StageModel:
    """A model file loaded once per process (batch workers share the parent's)."""
    return StageModel.load(path)


@dataclass(frozen=True, slots=True)
class _Runtime:
    """A stage model's weights as scoring uses them: arrays with one column per CRF label."""

    crf: LinearChainCrf
    grams: GramTable  # every n-gram with a weight, known by its row of `gram_weights`
    gram_weights: np.ndarray  # [n-gram, (own, as previous, as next), label]
    named: dict[str, int]  # every other feature's name -> its row of `named_weights`
    named_weights: np.ndarray  # [feature, label], and a row of zeros for a feature it does not know
    columns: tuple[int | None, ...]  # per `StageModel.labels`: its column in the CRF's own order (None: never trained)
    trained: list[int]  # the `StageModel.labels` the CRF has a column for …
    trained_columns: list[int]  # … and those columns

    @classmethod
    def of(cls, crf: LinearChainCrf, labels: Sequence[str]) -> _Runtime:
        width = len(crf.labels)
        tables: tuple[dict[str, Weights], ...] = ({}, {}, {})
        by_prefix = dict(zip((GRAM, PREV_GRAM, NEXT_GRAM), tables, strict=True))
        named: dict[str, Weights] = {}
        for name, weights in crf.state.items():
            prefix, colon, gram = name.partition(":")
            table = by_prefix.get(prefix + colon)
            if table is not None:
                table[gram] = weights
            else:
                named[name] = weights
        grams = sorted(set().union(*tables))  # sorted: the same rows in every process
        zero = (0.0,) * width
        gram_weights = np.array([[table.get(gram, zero) for table in tables] for gram in grams], dtype=float).reshape(
            len(grams), 3, width
        )
        named_weights = np.array([*named.values(), zero], dtype=float).reshape(len(named) + 1, width)
        for array in (gram_weights, named_weights):
            array.flags.writeable = False  # shared by forked workers, and by every call
        columns = tuple(crf.labels.index(label) if label in crf.labels else None for label in labels)
        trained = [(k, column) for k, column in enumerate(columns) if column is not None]
        return cls(
            crf,
            GramTable(grams),
            gram_weights,
            {name: k for k, name in enumerate(named)},
            named_weights,
            columns,
            [k for k, _ in trained],
            [column for _, column in trained],
        )


def _sums_by_utterance(owner: Sequence[int] | np.ndarray, rows: np.ndarray, count: int) -> np.ndarray:
    """rows[k] added up by owner[k] (ascending utterance indices), for each of `count` utterances: an
    utterance that owns none gets zeros. (`np.add.reduceat`: `np.add.at` is many times slower.)"""
    sums = np.zeros((count, *rows.shape[1:]))
    if len(rows):
        starts = np.searchsorted(owner, np.arange(count))
        owned = np.diff(starts, append=len(rows)) > 0
        sums[owned] = np.add.reduceat(rows, starts[owned], axis=0)
    return sums
