"""Train the stage model: a linear-chain CRF (python-crfsuite, L-BFGS) over `features.call_features`.

Training is deterministic: calls are taken in the order given, each utterance's features in sorted
order, and L-BFGS has no randomness, so the same calls and settings give byte-identical weights.
The same package (python-crfsuite) is the tagger at run time: training adds no dependency.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pycrfsuite

from callqa.stages.features import DEFAULT_FEATURES, UtteranceLike, call_features
from callqa.stages.model import StageModel

#: Chosen by leave-one-writer-out on the shared labelled calls (see the model's manifest and README).
DEFAULT_SETTINGS: dict[str, Any] = {
    "features": dict(DEFAULT_FEATURES),
    "c1": 0.1,  # L1: keeps the model small and its explanations short
    "c2": 0.05,
    "max_iterations": 200,
    "min_freq": 2,  # a feature seen in fewer utterances is dropped
    "decode": {"boundary": 0.0, "skip": 0.0, "start_skip": 0.0, "end_skip": 0.0},
}


@dataclass(frozen=True, slots=True)
class TrainingCall:
    utterances: Sequence[UtteranceLike]
    cue_stages: Sequence[frozenset[str]]  # the stages whose rubric cues hit each utterance
    stages: Sequence[str]  # gold


def settings_with(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """DEFAULT_SETTINGS with `overrides` laid over it (nested dicts merged)."""
    merged = copy.deepcopy(DEFAULT_SETTINGS)
    for key, value in (overrides or {}).items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        else:
            merged[key] = value
    return merged


def train_stage_model(
    calls: Sequence[TrainingCall], settings: Mapping[str, Any] | None = None, manifest: Mapping[str, Any] | None = None
) -> StageModel:
    options = settings_with(settings)
    trainer = pycrfsuite.Trainer(verbose=False)
    for call in calls:
        rows = call_features(call.utterances, call.cue_stages, options["features"])
        trainer.append(pycrfsuite.ItemSequence([dict(sorted(row.items())) for row in rows]), list(call.stages))
    trainer.select("lbfgs")
    trainer.set_params(
        {
            "c1": float(options["c1"]),
            "c2": float(options["c2"]),
            "max_iterations": int(options["max_iterations"]),
            "feature.minfreq": float(options["min_freq"]),
            "feature.possible_transitions": False,
        }
    )
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "stages.crfsuite")
        trainer.train(path)
        with open(path, "rb") as handle:
            weights = handle.read()
    runtime = {"features": options["features"], "decode": options["decode"]}
    training = {key: value for key, value in options.items() if key not in runtime}
    return StageModel(settings=runtime, manifest={**(manifest or {}), "training_settings": training}, weights=weights)
