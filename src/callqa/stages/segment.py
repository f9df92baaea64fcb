"""Split a call into the five stages 问候 / 切入 / 转化 / 协议 / 结束.

Each utterance gets a score per stage from the rubric's stage cues (who says what) and from where it
lies in the call (each stage's `position` range). A Viterbi pass then picks the best sequence that
only ever moves forward — stages may be skipped, never revisited. Stage marker lines in the
transcript (`## 转化`) fix the stage of the utterances they cover.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from callqa.model import STAGES, Segmentation, Transcript, Utterance

CUE_WEIGHT = 1.5  # per distinct cue phrase the utterance contains
#: 问候 holds greetings and short replies (你好, 我姓刘): once its greeting cues are taken out, a turn
#: with more than this many characters left is about the matter itself, however early it comes.
GREETING_REST_CHARS = {"agent": 12, "customer": 6, "unknown": 6}
NOT_A_GREETING = 3.0
#: A stage with no cue anywhere in the call is probably not in it (a simple enquiry has no 转化, a
#: customer who hangs up no 结束): its scores drop by this much.
NO_EVIDENCE = 3.0
MAX_CUES = 2  # cues counted per utterance and stage: one long turn should not outvote the call
OUTSIDE_PENALTY = 10.0  # per unit of relative position outside the stage's usual range
BOUNDARY_COST = 1.0  # moving to the next stage
SKIP_COST = 1.5  # each stage jumped over
_IMPOSSIBLE = float("-inf")
_NOT_CONTENT = re.compile(r"[\W\d_]+")  # punctuation, digits: not what a turn is about


class StageCues(Protocol):
    """What segmentation needs of a rubric: each stage's usual place in a call, and its cue phrases."""

    @property  # read-only, so a rubric whose stage names are narrower (a Literal) fits
    def stage_positions(self) -> Sequence[tuple[str, tuple[float, float]]]:
        """(stage name, (from, to) relative position), in stage order."""

    def cue_hits(self, utterance: Utterance) -> list[tuple[str, str, str]]: ...


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why an utterance scored as it did for each stage: the explanation `callqa segment --explain` prints."""

    position: float  # 0..1 through the call
    cues: dict[str, tuple[str, ...]]  # stage -> cue phrases found
    scores: tuple[float, ...]  # one per stage, in STAGES order


def stage_evidence(transcript: Transcript, stage_cues: StageCues) -> list[Evidence]:
    """Score of each stage for each utterance (higher = more likely), with the cues behind it."""
    count = len(transcript.utterances)
    all_cues: list[dict[str, list[str]]] = []
    for utterance in transcript.utterances:
        cues: dict[str, list[str]] = {}
        for stage, _, cue in stage_cues.cue_hits(utterance):
            if cue not in cues.setdefault(stage, []):
                cues[stage].append(cue)
        all_cues.append(cues)
    present = {stage for cues in all_cues for stage in cues}
    evidence = []
    for utterance, cues in zip(transcript.utterances, all_cues, strict=True):
        position = (utterance.index + 0.5) / count
        rest = utterance.norm
        for cue in cues.get("问候", ()):
            rest = rest.replace(cue, "")
        rest_chars = len(_NOT_CONTENT.sub("", rest))
        row = []
        for stage_name, (lo, hi) in stage_cues.stage_positions:
            outside = lo - position if position < lo else position - hi if position > hi else 0.0
            score = -OUTSIDE_PENALTY * outside + CUE_WEIGHT * min(len(cues.get(stage_name, ())), MAX_CUES)
            if stage_name == "问候" and rest_chars > GREETING_REST_CHARS[utterance.role]:
                score -= NOT_A_GREETING
            if stage_name not in present:
                score -= NO_EVIDENCE
            if utterance.given_stage is not None and utterance.given_stage != stage_name:
                score = _IMPOSSIBLE
            row.append(score)
        evidence.append(Evidence(position, {s: tuple(c) for s, c in cues.items()}, tuple(row)))
    return evidence


def _transition(from_stage: int, to_stage: int) -> float:
    if to_stage < from_stage:
        return _IMPOSSIBLE
    if to_stage == from_stage:
        return 0.0
    return -BOUNDARY_COST - SKIP_COST * (to_stage - from_stage - 1)


_N = len(STAGES)
#: For each stage, the stages it can be reached from (itself and every earlier one) with their cost.
_INCOMING = [[(p, _transition(p, s)) for p in range(s + 1)] for s in range(_N)]


def decode(scores: list[tuple[float, ...]]) -> list[int]:
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


def segment(transcript: Transcript, stage_cues: StageCues, evidence: list[Evidence] | None = None) -> Segmentation:
    """The stage of every utterance; pass `evidence` when it was computed already (to explain it)."""
    evidence = evidence if evidence is not None else stage_evidence(transcript, stage_cues)
    given = any(u.given_stage is not None for u in transcript.utterances)
    path = decode([e.scores for e in evidence])
    return Segmentation(stages=tuple(STAGES[s] for s in path), given=given)
