"""The trained forbidden-expression detector: a linear model over an agent line in its context.

A model file is one JSON document (loading it can never run code):

    {"format": "callqa.forbidden-model/1",
     "manifest": {...},                  # training data, date, settings, leave-one-writer-out figures
     "features": {...},                  # the feature settings it was trained with
     "categories": ["推诿", ...],
     "detector": {"intercept": b, "weights": {feature: w}},            # logistic P(any forbidden)
     "category": {"intercepts": [b_k], "weights": {feature: [w_k]}},   # softmax over the categories
     "thresholds": {"推诿": t, ..., "default": t}}                      # chosen on the training writers

Scoring is Python and NumPy arithmetic over the features (no training library). Every prediction
comes with its confidence, P(any forbidden), and the features that pushed it up most: the words
that drove it, in names a reviewer reads (`说了「不归」`, `客户刚说「多久」`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from itertools import repeat
from operator import mul
from pathlib import Path
from typing import Any

import numpy as np

from callqa.errors import ModelError, bad_model_field, found_value, is_number, is_whole, read_model_document
from callqa.rules.detector_features import (
    DEFAULT_CONFIG,
    CallContext,
    FeatureConfig,
    LineLike,
    call_context,
    clean_line,
    describe_feature,
    feature_config,
    gram_text,
    line_features,
    other_features,
)
from callqa.text.grams import GramTable

FORMAT = "callqa.forbidden-model/1"


def default_detector_path() -> Path:
    """The detector shipped in the wheel (built by `scripts/build_models.py`)."""
    return Path(str(resources.files("callqa.rules") / "default_detector.json"))


@dataclass(frozen=True, slots=True)
class Prediction:
    category: str  # the most likely category (flagged or not)
    confidence: float  # P(any forbidden expression) on this line
    category_probability: float  # P(category | forbidden)
    drivers: tuple[tuple[str, float], ...]  # (feature, contribution), strongest first

    def flagged(self, threshold: float) -> bool:
        return self.confidence >= threshold


@dataclass(slots=True)
class ForbiddenModel:
    categories: list[str]
    intercept: float
    weights: dict[str, float]
    category_intercepts: list[float]
    category_weights: dict[str, list[float]]
    thresholds: dict[str, float]
    features: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    path: str = "<memory>"
    _runtime: _Runtime | None = field(default=None, init=False, repr=False, compare=False)

    def threshold(self, category: str) -> float:
        return self.thresholds.get(category, self.thresholds.get("default", 0.5))

    @property
    def runtime(self) -> _Runtime:
        """What scoring needs of the weights, worked out once (at load for a model file)."""
        if self._runtime is None:
            self._runtime = _Runtime.of(self)
        return self._runtime

    @property
    def feature_config(self) -> FeatureConfig:
        return self.runtime.config

    def line_features(
        self, utterances: Sequence[LineLike], index: int, context: CallContext | None = None
    ) -> dict[str, float]:
        """The features of line `index`; `context` is `call_context(utterances)`, given when several
        lines of one call are scored."""
        return line_features(utterances, index, self.feature_config, context or call_context(utterances))

    def confidence(self, features: Mapping[str, float]) -> float:
        """P(any forbidden expression) for a line's features: the cheap part, run on every agent line."""
        return _logistic(self.intercept + self._weighted_sum(features))

    def _weighted_sum(self, features: Mapping[str, float]) -> float:
        # map/mul adds the same products in the same order as a generator would, a third faster
        total: float = sum(map(mul, map(self.weights.get, features.keys(), repeat(0.0)), features.values()))
        return total

    def confidences(
        self, utterances: Sequence[LineLike], indices: Sequence[int], context: CallContext | None = None
    ) -> list[float]:
        """`confidence` of each line in `indices`, worked out for them all at once: the cheap screen
        that every agent line of a call goes through (most lines go no further).

        A line's n-grams are most of its features, and most of them have no weight: the ones with
        a weight are looked up in all the lines at once (`GramTable`), their weights added up per
        line by NumPy; only the few other features are built per line. Settings that weigh
        n-grams otherwise (l2-scaled, the customer's n-grams) take the line-by-line way."""
        context = context or call_context(utterances)
        runtime = self.runtime
        config = runtime.config
        if config["norm"] != "none" or config["prev_n"]:
            return [self.confidence(self.line_features(utterances, i, context)) for i in indices]
        lines = [clean_line(utterances[i].norm) for i in indices]
        z = np.full(len(indices), self.intercept)
        line, gram = runtime.grams.find([gram_text(text) for text in lines])
        if len(line):
            z += np.bincount(line, weights=runtime.gram_weights[gram], minlength=len(indices))
        for k, (i, text) in enumerate(zip(indices, lines, strict=True)):
            z[k] += self._weighted_sum(other_features(utterances, i, config, context, text))
        return [_logistic(v) for v in z.tolist()]

    def category(self, features: Mapping[str, float]) -> tuple[str, float]:
        """The most likely category of a forbidden line, and P(category | forbidden)."""
        runtime = self.runtime
        index, present, values = runtime.category_rows, [], []
        for name, value in features.items():
            k = index.get(name)
            if k is not None and value:
                present.append(k)
                values.append(value)
        scores = (
            np.asarray(self.category_intercepts) + np.asarray(values) @ runtime.category_weights[present]
        ).tolist()
        peak = max(scores)
        exp = [math.exp(s - peak) for s in scores]
        best = max(range(len(exp)), key=exp.__getitem__)
        return self.categories[best], exp[best] / sum(exp)

    def drivers(self, features: Mapping[str, float], top: int = 5) -> tuple[tuple[str, float], ...]:
        """The features that pushed the line towards "forbidden", strongest first."""
        parts = [
            (name, self.weights[name] * value)
            for name, value in features.items()
            if name in self.weights and name != "bias" and self.weights[name] * value > 0
        ]
        parts.sort(key=lambda part: (-part[1], part[0]))  # ties by name: the same evidence in every run
        return tuple((name, round(c, 3)) for name, c in parts[:top])

    def predict(self, features: Mapping[str, float], top: int = 5) -> Prediction:
        """The full verdict: confidence, the most likely category, and the features that drove it."""
        category, probability = self.category(features)
        return Prediction(category, self.confidence(features), probability, self.drivers(features, top))

    @staticmethod
    def describe(feature: str) -> str:
        return describe_feature(feature)

    # --- the file ------------------------------------------------------------------------------

    def to_json(self) -> str:
        document = {
            "format": FORMAT,
            "manifest": self.manifest,
            "features": self.features,
            "categories": self.categories,
            "detector": {"intercept": self.intercept, "weights": self.weights},
            "category": {"intercepts": self.category_intercepts, "weights": self.category_weights},
            "thresholds": self.thresholds,
        }
        return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> ForbiddenModel:
        name = str(path)
        document = read_model_document(
            path, (FORMAT,), "forbidden-expression model", "callqa train forbidden DIR --out MODEL"
        )
        _check_settings(document, name)
        try:
            model = cls(
                categories=list(document["categories"]),
                intercept=float(document["detector"]["intercept"]),
                weights={str(k): float(v) for k, v in document["detector"]["weights"].items()},
                category_intercepts=[float(v) for v in document["category"]["intercepts"]],
                category_weights={str(k): [float(w) for w in v] for k, v in document["category"]["weights"].items()},
                thresholds={str(k): float(v) for k, v in document["thresholds"].items()},
                features=dict(document.get("features") or {}),
                manifest=dict(document.get("manifest") or {}),
                path=name,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ModelError(name, "forbidden-expression model file is incomplete or corrupt") from None
        if len(model.category_intercepts) != len(model.categories) or any(
            len(row) != len(model.categories) for row in model.category_weights.values()
        ):
            raise ModelError(name, "forbidden-expression model file is corrupt: category weights do not fit")
        try:
            model.runtime  # noqa: B018 - built now, so that a model that cannot be used fails at load
        except ValueError as exc:  # n-grams the lookup cannot hold (GramTable)
            raise ModelError(name, f"forbidden-expression model cannot be used: {exc}") from None
        return model


#: How each feature setting a detector file may carry is checked: what kind of value it takes.
_SWITCHES = ("conj", "question", "patterns", "call_ctx")
_NORMS = ("none", "l2")


def _check_settings(document: Mapping[str, Any], name: str) -> None:
    """A detector file's feature settings and thresholds, checked as scoring reads them (a
    hand-edited file is data, not trusted): one ModelError naming the bad field."""

    def bad(field: str, problem: str) -> ModelError:
        return bad_model_field(name, "forbidden-expression model", field, problem)

    features = document.get("features") or {}
    if not isinstance(features, dict):
        raise bad("features", f"expected an object, {found_value(features)}")
    for key, value in features.items():
        if key not in DEFAULT_CONFIG:
            raise bad(f"features.{key}", f"unknown feature setting (known: {', '.join(DEFAULT_CONFIG)})")
        if key in _SWITCHES:
            ok = isinstance(value, bool)
            expected = "true or false"
        elif key == "norm":
            ok = value in _NORMS
            expected = f"one of {', '.join(map(repr, _NORMS))}"
        elif key == "prev_chars":
            ok = is_whole(value, 0)
            expected = "a whole number of at least 0"
        else:  # agent_n, prev_n: n-gram sizes
            ok = isinstance(value, list) and all(is_whole(n, 1) for n in value)
            expected = "a list of whole numbers of at least 1"
        if not ok:
            raise bad(f"features.{key}", f"expected {expected}, {found_value(value)}")
    if "thresholds" not in document:
        return  # an incomplete file, said so when it is read
    thresholds = document["thresholds"]
    if not isinstance(thresholds, dict):
        raise bad("thresholds", f"expected an object of a threshold per category, {found_value(thresholds)}")
    categories = document.get("categories")
    known = ["default", *(categories if isinstance(categories, list) else ())]
    for key, value in thresholds.items():
        if key not in known:
            raise bad(f"thresholds.{key}", f"not a category of the model (known: {', '.join(map(str, known))})")
        if not is_number(value, 0, 1):
            raise bad(f"thresholds.{key}", f"expected a number from 0 to 1, {found_value(value)}")


def _logistic(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


@dataclass(frozen=True, slots=True)
class _Runtime:
    """A detector's settings and weights as scoring uses them."""

    config: FeatureConfig  # `features`, read
    grams: GramTable  # the n-gram features (c:, without the prefix), known by their row of `gram_weights`
    gram_weights: np.ndarray
    category_rows: dict[str, int]  # feature -> its row of `category_weights`
    category_weights: np.ndarray  # [feature, category]

    @classmethod
    def of(cls, model: ForbiddenModel) -> _Runtime:
        grams = sorted(name[2:] for name in model.weights if name.startswith("c:"))  # the table's order
        names = list(model.category_weights)
        category_weights = np.array([model.category_weights[name] for name in names], dtype=float)
        return cls(
            feature_config(model.features),
            GramTable(grams),
            np.array([model.weights["c:" + g] for g in grams], dtype=float),
            {name: k for k, name in enumerate(names)},
            category_weights.reshape(len(names), len(model.categories)),
        )


@lru_cache(maxsize=8)
def load_detector(path: str) -> ForbiddenModel:
    """A model file loaded once per process."""
    return ForbiddenModel.load(path)
