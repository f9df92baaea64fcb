"""Split a call into the five stages 问候 / 切入 / 转化 / 协议 / 结束.

Each utterance gets a score per stage, from the trained stage model (log-marginals of a CRF over
the call) or, without one, from the rubric's cue phrases and each stage's usual place (`cues.py`);
the monotone decode (`decode.py`) then picks the best sequence that only moves forward. Stage marker
lines in the transcript (`## 转化`) fix the stage of the utterances they cover, whichever scores them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from callqa.model import STAGES, Segmentation, Transcript
from callqa.stages import cues as cue_scorer
from callqa.stages.cues import StageCues
from callqa.stages.decode import IMPOSSIBLE, decode, decode_begin_inside
from callqa.stages.features import describe_feature
from callqa.stages.model import StageModel

_FLOOR = 1e-6  # marginals are clipped here before the log: one confident mistake is not fatal


@dataclass(frozen=True, slots=True)
class StageEvidence:
    """Why one utterance scored as it did: what `callqa segment --explain` prints."""

    position: float  # 0..1 through the call
    cues: dict[str, tuple[str, ...]]  # stage -> the rubric's cue phrases found
    scores: tuple[float, ...]  # what the decode adds up: cue scores per stage, or the model's log P per label
    features: dict[str, float] | None = None  # the model's input, to find what drove it (only when explaining)
    probabilities: tuple[float, ...] | None = None  # the model's P(stage), in STAGES order
    system: bool = False  # a system line, which takes the stage of the lines around it


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


def stage_evidence(
    transcript: Transcript, stage_cues: StageCues, model: StageModel | None, *, explain: bool = False
) -> list[StageEvidence]:
    """Scores of every stage for every utterance, marker lines applied; with `explain`, the model's
    features of each too (what `explain_boundaries` needs).

    System lines (a bot's menu, a queue notice, [图片]) are nobody's words: the call is scored without
    them, so that they shift no position, rank or neighbour; `segment` gives each the stage of the
    lines around it."""
    utterances = transcript.utterances
    people = [i for i, u in enumerate(utterances) if u.role != "system"]
    if not people or len(people) == len(utterances):
        return _evidence(transcript, stage_cues, model, explain)
    spoken = tuple(replace(utterances[i], index=k) for k, i in enumerate(people))
    inner = _evidence(replace(transcript, utterances=spoken), stage_cues, model, explain)
    labels = model.labels if model is not None else list(STAGES)
    last = max(len(utterances) - 1, 1)
    # `segment` decodes system lines out, so their scores are never added up; they are kept for shape.
    evidence = [StageEvidence(i / last, {}, (0.0,) * len(labels), system=True) for i in range(len(utterances))]
    for k, i in enumerate(people):
        evidence[i] = replace(inner[k], position=i / last)
    return evidence


def _evidence(
    transcript: Transcript, stage_cues: StageCues, model: StageModel | None, explain: bool
) -> list[StageEvidence]:
    if model is None:
        return [StageEvidence(e.position, e.cues, e.scores) for e in cue_scorer.stage_evidence(transcript, stage_cues)]
    utterances = transcript.utterances
    cues = cue_scorer.cues_found(transcript, stage_cues)  # the model needs the cues, not the cue scores
    features = model.features(utterances, [frozenset(c) for c in cues])  # the stages whose cues hit
    marginals = model.marginals(features)
    log_marginals = np.log(np.maximum(marginals, _FLOOR)).tolist()
    rows: Sequence[dict[str, float] | None] = features.rows() if explain else [None] * len(utterances)
    labels = model.labels
    evidence = []
    for utterance, found, row, scores, stage_p in zip(
        utterances, cues, rows, log_marginals, model.stage_probabilities(marginals).tolist(), strict=True
    ):
        if utterance.given_stage is not None:  # a marker line: only its stage's labels are possible
            scores = [
                s if label.startswith(utterance.given_stage) else IMPOSSIBLE
                for label, s in zip(labels, scores, strict=True)
            ]
        at = cue_scorer.position(utterance, len(utterances))
        evidence.append(StageEvidence(at, found, tuple(scores), row, tuple(stage_p)))
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
    # System lines are decoded out: a stage starts on somebody's words, never on a bot's line.
    spoken = [i for i, e in enumerate(evidence) if not e.system] or list(range(len(evidence)))
    scores = [evidence[i].scores for i in spoken]
    if model is None:
        path = decode(scores, cue_scorer.COSTS)
    elif model.scheme == "bi":
        path = decode_begin_inside(scores, model.costs)
    else:
        path = decode(scores, model.costs)
    stages: list[str | None] = [None] * len(evidence)
    for i, s in zip(spoken, path, strict=True):
        stages[i] = STAGES[s]
    for i, utterance in enumerate(transcript.utterances):  # a system line: its marker, else the line before
        if stages[i] is None:
            before = next((stages[j] for j in range(i - 1, -1, -1) if stages[j] is not None), None)
            after = next((stages[j] for j in range(i + 1, len(stages)) if stages[j] is not None), None)
            stages[i] = utterance.given_stage or before or after or STAGES[0]
    given = any(u.given_stage is not None for u in transcript.utterances)
    return Segmentation(stages=tuple(s or STAGES[0] for s in stages), given=given)


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
        if ev.probabilities:
            confidence = ev.probabilities[STAGES.index(stages[i])]
        found.append(Boundary(i, stages[i], stages[i - 1], confidence, drivers, ev.cues.get(stages[i], ())))
    return found
