"""Split a call into the five stages 问候 / 切入 / 转化 / 协议 / 结束.

Each utterance gets a score per stage from the rubric's stage cues (who says what) and from where it
lies in the call (each stage's `position` range). A Viterbi pass then picks the best sequence that
only ever moves forward — stages may be skipped, never revisited. Stage marker lines in the
transcript (`## 转化`) fix the stage of the utterances they cover.
"""

from __future__ import annotations

from callqa.matcher import CompiledRubric
from callqa.model import STAGES, Segmentation, Transcript

CUE_WEIGHT = 1.5  # per distinct cue phrase the utterance contains
MAX_CUES = 2  # cues counted per utterance and stage: one long turn should not outvote the call
OUTSIDE_PENALTY = 10.0  # per unit of relative position outside the stage's usual range
BOUNDARY_COST = 1.0  # moving to the next stage
SKIP_COST = 1.5  # each stage jumped over
_IMPOSSIBLE = float("-inf")


def stage_scores(transcript: Transcript, compiled: CompiledRubric) -> list[list[float]]:
    """Score of each stage for each utterance (higher = more likely)."""
    rubric = compiled.rubric
    count = len(transcript.utterances)
    scores = []
    for utterance in transcript.utterances:
        position = (utterance.index + 0.5) / count
        row = []
        cues: dict[str, set[str]] = {}
        for stage, _, cue in compiled.cue_hits(utterance):
            cues.setdefault(stage, set()).add(cue)
        for stage in rubric.stages:
            lo, hi = stage.position
            outside = lo - position if position < lo else position - hi if position > hi else 0.0
            score = -OUTSIDE_PENALTY * outside + CUE_WEIGHT * min(len(cues.get(stage.name, ())), MAX_CUES)
            if utterance.given_stage is not None and utterance.given_stage != stage.name:
                score = _IMPOSSIBLE
            row.append(score)
        scores.append(row)
    return scores


def _transition(from_stage: int, to_stage: int) -> float:
    if to_stage < from_stage:
        return _IMPOSSIBLE
    if to_stage == from_stage:
        return 0.0
    return -BOUNDARY_COST - SKIP_COST * (to_stage - from_stage - 1)


_N = len(STAGES)
#: For each stage, the stages it can be reached from (itself and every earlier one) with their cost.
_INCOMING = [[(p, _transition(p, s)) for p in range(s + 1)] for s in range(_N)]


def decode(scores: list[list[float]]) -> list[int]:
    """Best monotone stage sequence (Viterbi). A call may start after 问候 and end before 结束,
    each skipped stage costing SKIP_COST (half at the end: customers do hang up early)."""
    best = [scores[0][s] - SKIP_COST * s for s in range(_N)]
    back: list[list[int]] = []
    for row in scores[1:]:
        step, pointers = [], []
        for s in range(_N):
            prev, value = 0, _IMPOSSIBLE
            for p, cost in _INCOMING[s]:
                if best[p] + cost > value:
                    prev, value = p, best[p] + cost
            step.append(value + row[s])
            pointers.append(prev)
        best = step
        back.append(pointers)
    state = max(range(_N), key=lambda s: best[s] - SKIP_COST / 2 * (_N - 1 - s))
    path = [state]
    for pointers in reversed(back):
        state = pointers[state]
        path.append(state)
    return path[::-1]


def segment(transcript: Transcript, compiled: CompiledRubric) -> Segmentation:
    given = any(u.given_stage is not None for u in transcript.utterances)
    path = decode(stage_scores(transcript, compiled))
    return Segmentation(stages=tuple(STAGES[s] for s in path), given=given)
