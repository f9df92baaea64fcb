"""The hand-tuned segmenter: stage scores from the rubric's cue phrases and each stage's usual place.

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

from callqa.model import Transcript, Utterance
from callqa.stages.decode import IMPOSSIBLE, Costs

CUE_WEIGHT = 1.5  # per distinct cue phrase the utterance contains
#: 问候 holds greetings and short replies (你好, 我姓刘): once its greeting cues are taken out, a turn
#: with more than this many characters left is about the matter itself, however early it comes.
GREETING_REST_CHARS = {"agent": 12, "customer": 6, "system": 0, "unknown": 6}
NOT_A_GREETING = 3.0
#: A stage with no cue anywhere in the call is probably not in it (a simple enquiry has no 转化, a
#: customer who hangs up no 结束): its scores drop by this much.
NO_EVIDENCE = 3.0
MAX_CUES = 2  # cues counted per utterance and stage: one long turn should not outvote the call
OUTSIDE_PENALTY = 10.0  # per unit of relative position outside the stage's usual range
#: Moving to the next stage costs 1; each stage jumped over 1.5 (half of that at the end: customers
#: do hang up early).
COSTS = Costs(boundary=1.0, skip=1.5, start_skip=1.5, end_skip=0.75)
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


def cues_found(transcript: Transcript, stage_cues: StageCues) -> list[dict[str, tuple[str, ...]]]:
    """For each utterance: stage -> the distinct cue phrases of that stage it contains, in order."""
    found = []
    for utterance in transcript.utterances:
        cues: dict[str, list[str]] = {}
        for stage, _, cue in stage_cues.cue_hits(utterance):
            if cue not in cues.setdefault(stage, []):
                cues[stage].append(cue)
        found.append({stage: tuple(phrases) for stage, phrases in cues.items()})
    return found


def position(utterance: Utterance, count: int) -> float:
    """Where an utterance lies in a call of `count` utterances, 0..1 (its middle)."""
    return (utterance.index + 0.5) / count


def stage_evidence(transcript: Transcript, stage_cues: StageCues) -> list[Evidence]:
    """Score of each stage for each utterance (higher = more likely), with the cues behind it."""
    count = len(transcript.utterances)
    all_cues = cues_found(transcript, stage_cues)
    present = {stage for cues in all_cues for stage in cues}
    evidence = []
    for utterance, cues in zip(transcript.utterances, all_cues, strict=True):
        at = position(utterance, count)
        rest = utterance.norm
        for cue in cues.get("问候", ()):
            rest = rest.replace(cue, "")
        rest_chars = len(_NOT_CONTENT.sub("", rest))
        row = []
        for stage_name, (lo, hi) in stage_cues.stage_positions:
            outside = lo - at if at < lo else at - hi if at > hi else 0.0
            score = -OUTSIDE_PENALTY * outside + CUE_WEIGHT * min(len(cues.get(stage_name, ())), MAX_CUES)
            if stage_name == "问候" and rest_chars > GREETING_REST_CHARS[utterance.role]:
                score -= NOT_A_GREETING
            if stage_name not in present:
                score -= NO_EVIDENCE
            if utterance.given_stage is not None and utterance.given_stage != stage_name:
                score = IMPOSSIBLE
            row.append(score)
        evidence.append(Evidence(at, cues, tuple(row)))
    return evidence
