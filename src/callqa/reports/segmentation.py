"""`callqa segment --format json`: each line's stage and, at each boundary, what put it there."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from callqa.model import STAGES, Segmentation, Transcript
from callqa.stages.segment import Boundary, StageEvidence

SCHEMA = "callqa.segmentation/1"


def segmentation_document(
    transcript: Transcript,
    segmentation: Segmentation,
    evidence: Sequence[StageEvidence],
    boundaries: Sequence[Boundary],
    model: str | None,
) -> dict[str, Any]:
    """The split as data: per utterance its stage (and the model's P(stage), where a model made it),
    per boundary the model's confidence and strongest features (or the rubric's cues), as `--explain`
    prints them."""
    utterances = transcript.utterances
    return {
        "schema": SCHEMA,
        "path": transcript.path,
        "segmentation": "given" if segmentation.given else "inferred",
        "by": "model" if model else "cues",
        "model": model,
        "utterances": [
            {
                "index": u.index,
                "line": u.line,
                "speaker": u.speaker,
                "role": u.role,
                "text": u.text,
                "stage": stage,
                "probabilities": (
                    dict(zip(STAGES, (round(p, 4) for p in e.probabilities), strict=True))
                    if e.probabilities is not None
                    else None
                ),
            }
            for u, stage, e in zip(utterances, segmentation.stages, evidence, strict=True)
        ],
        "boundaries": [
            {
                "utterance": b.index,
                "line": utterances[b.index].line,
                "from": b.previous,
                "stage": b.stage,
                "confidence": round(b.confidence, 4) if b.confidence is not None else None,
                "drivers": [{"feature": name, "weight": round(weight, 4)} for name, weight in b.drivers],
                "cues": list(b.cues),
            }
            for b in boundaries
        ],
    }
