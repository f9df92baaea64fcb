"""Split a call into the five stages 问候 / 切入 / 转化 / 协议 / 结束.

Each utterance gets a score per stage, from the trained stage model (log-marginals of a CRF over
the call) or, without one, from the rubric's cue phrases and each stage's usual place (`cues.py`);
the monotone decode (`decode.py`) then picks the best sequence that only moves forward. Stage marker
lines in the transcript (`## 转化`) fix the stage of the utterances they cover, whichever scores them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from callqa.model import STAGES, Segmentation, Transcript
from callqa.stages import cues as cue_scorer
from callqa.stages.cues import StageCues
from callqa.stages.decode import IMPOSSIBLE, Costs, decode
from callqa.stages.features import describe_feature
from callqa.stages.model import StageModel


@dataclass(frozen=True, slots=True)
class StageEvidence:
    """Why one utterance scored as it did: what `callqa segment --explain` prints."""

    position: float  # 0..1 through the call
    cues: dict[str, tuple[str, ...]]  # stage -> the rubric's cue phrases found
    scores: tuple[float, ...]  # per stage, in STAGES order (model: log-probability)
    features: dict[str, float] | None = None  # the model's input, to find what drove it

    @property
    def probabilities(self) -> tuple[float, ...] | None:
        """The model's P(stage), when a model scored it."""
        return tuple(math.exp(s) for s in self.scores) if self.features is not None else None


@dataclass(frozen=True, slots=True)
class Boundary:
    """Where the call moves to a new stage, and what put the boundary there."""

    index: int
    stage: str
    previous: str
    confidence: float | None  # the model's P(stage) at that utterance
    drivers: tuple[tuple[str, float], ...]  # (feature described for a trainer, weight), strongest first
    cues: tuple[str, ...]  # the rubric's cues for the new stage in that utterance


def cue_stage_sets(transcript: Transcript, stage_cues: StageCues) -> list[frozenset[str]]:
    """For each utterance, the stages whose rubric cues it contains (a feature of the model)."""
    return [frozenset(stage for stage, _, _ in stage_cues.cue_hits(u)) for u in transcript.utterances]


def stage_evidence(transcript: Transcript, stage_cues: StageCues, model: StageModel | None) -> list[StageEvidence]:
    """Scores of every stage for every utterance, marker lines applied."""
    cue_evidence = cue_scorer.stage_evidence(transcript, stage_cues)
    if model is None:
        return [StageEvidence(e.position, e.cues, e.scores) for e in cue_evidence]
    utterances = transcript.utterances
    rows = model.features(utterances, [frozenset(e.cues) for e in cue_evidence])  # the stages whose cues hit
    evidence = []
    for utterance, cue_ev, row, scores in zip(utterances, cue_evidence, rows, model.log_scores(rows), strict=True):
        if utterance.given_stage is not None:
            scores = [
                s if name == utterance.given_stage else IMPOSSIBLE for name, s in zip(STAGES, scores, strict=True)
            ]
        evidence.append(StageEvidence(cue_ev.position, cue_ev.cues, tuple(scores), row))
    return evidence


def segment(
    transcript: Transcript,
    stage_cues: StageCues,
    model: StageModel | None = None,
    evidence: Sequence[StageEvidence] | None = None,
) -> Segmentation:
    """The stage of every utterance; pass `evidence` when it was computed already (to explain it)."""
    if not transcript.utterances:
        return Segmentation(stages=(), given=False)
    evidence = evidence if evidence is not None else stage_evidence(transcript, stage_cues, model)
    costs: Costs = model.costs if model is not None else cue_scorer.COSTS
    path = decode([e.scores for e in evidence], costs)
    given = any(u.given_stage is not None for u in transcript.utterances)
    return Segmentation(stages=tuple(STAGES[s] for s in path), given=given)


def explain_boundaries(
    segmentation: Segmentation, evidence: Sequence[StageEvidence], model: StageModel | None, top: int = 5
) -> list[Boundary]:
    """Each stage change, with the model features (or the rubric cues) that favoured the new stage."""
    found = []
    stages = segmentation.stages
    for i in range(1, len(stages)):
        if stages[i] == stages[i - 1]:
            continue
        ev = evidence[i]
        drivers: tuple[tuple[str, float], ...] = ()
        confidence = None
        if model is not None and ev.features is not None:
            drivers = tuple(
                (describe_feature(name), weight)
                for name, weight in model.drivers(ev.features, stages[i], stages[i - 1], top)
            )
            probabilities = ev.probabilities
            confidence = probabilities[STAGES.index(stages[i])] if probabilities else None
        found.append(Boundary(i, stages[i], stages[i - 1], confidence, drivers, ev.cues.get(stages[i], ())))
    return found
