"""Measure stage segmentation against calls whose gold stages are written in them (`## 切入` markers).

Utterance accuracy: the share of utterances placed in their gold stage. Boundary accuracy: the share of
gold stage starts that the segmenter puts at the same utterance (exact) or at most one utterance away
(±1); a stage the segmenter skips counts as missed. The confusion table counts utterances by gold
stage (rows) and predicted stage (columns).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from callqa.errors import InputError
from callqa.model import STAGES, Transcript
from callqa.rules.compiled import CompiledRubric
from callqa.stages.segment import segment
from callqa.transcripts.reader import read_transcript


def _starts(stages: list[str]) -> dict[str, int]:
    """Index of the first utterance of each stage that occurs."""
    starts: dict[str, int] = {}
    for index, stage in enumerate(stages):
        starts.setdefault(stage, index)
    return starts


@dataclass(slots=True)
class CallResult:
    path: str
    gold: list[str]
    predicted: list[str]

    @property
    def correct(self) -> int:
        return sum(g == p for g, p in zip(self.gold, self.predicted, strict=True))


@dataclass(slots=True)
class Evaluation:
    calls: list[CallResult] = field(default_factory=list)

    @property
    def utterances(self) -> int:
        return sum(len(c.gold) for c in self.calls)

    @property
    def accuracy(self) -> float:
        return sum(c.correct for c in self.calls) / self.utterances if self.utterances else 0.0

    def boundary_accuracy(self, tolerance: int) -> float:
        """Share of gold stage starts (after the first utterance) found within `tolerance` utterances."""
        found = total = 0
        for call in self.calls:
            predicted = _starts(call.predicted)
            for stage, index in _starts(call.gold).items():
                if index == 0:
                    continue  # the call's first stage starts at utterance 0 by definition
                total += 1
                found += stage in predicted and abs(predicted[stage] - index) <= tolerance
        return found / total if total else 1.0

    def confusion(self) -> dict[str, dict[str, int]]:
        table = {g: dict.fromkeys(STAGES, 0) for g in STAGES}
        for call in self.calls:
            for g, p in zip(call.gold, call.predicted, strict=True):
                table[g][p] += 1
        return table

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": len(self.calls),
            "utterances": self.utterances,
            "utterance_accuracy": round(self.accuracy, 4),
            "boundary_accuracy_exact": round(self.boundary_accuracy(0), 4),
            "boundary_accuracy_within_1": round(self.boundary_accuracy(1), 4),
            "confusion": self.confusion(),
            "per_call": [
                {"path": c.path, "utterances": len(c.gold), "accuracy": round(c.correct / len(c.gold), 4)}
                for c in self.calls
            ],
        }


def gold_and_blind(transcript: Transcript) -> tuple[list[str], Transcript]:
    """The gold stages written in a transcript, and the transcript with them removed."""
    gold = [u.given_stage for u in transcript.utterances]
    if any(stage is None for stage in gold):
        first = next(u for u in transcript.utterances if u.given_stage is None)
        raise InputError(
            transcript.path,
            "utterance before the first stage marker",
            line=first.line,
            hint="every utterance of a labelled call needs a stage: start with a ## marker",
        )
    return [stage for stage in gold if stage is not None], without_markers(transcript)  # all are, by now


def without_markers(transcript: Transcript) -> Transcript:
    """The transcript as if it had no `## stage` marker lines."""
    return replace(transcript, utterances=tuple(replace(u, given_stage=None) for u in transcript.utterances))


def evaluate(paths: list[Path], compiled: CompiledRubric) -> Evaluation:
    result = Evaluation()
    for path in paths:
        gold, blind = gold_and_blind(read_transcript(path, compiled))
        result.calls.append(CallResult(str(path), gold, list(segment(blind, compiled).stages)))
    return result


def format_evaluation(result: Evaluation) -> str:
    lines = [
        f"{len(result.calls)} calls, {result.utterances} utterances",
        f"utterance accuracy  {result.accuracy:.1%}",
        f"boundary accuracy   {result.boundary_accuracy(0):.1%} exact,"
        f" {result.boundary_accuracy(1):.1%} within ±1 utterance",
        "",
        "confusion (rows: gold, columns: predicted)",
        "      " + "".join(f"{s:>6}" for s in STAGES),
    ]
    for gold, row in result.confusion().items():
        lines.append(f"{gold:<4}  " + "".join(f"{row[p]:>8}" for p in STAGES))
    worst = sorted(result.calls, key=lambda c: c.correct / len(c.gold))[:5]
    lines += ["", "lowest calls:"] + [f"  {c.correct / len(c.gold):6.1%}  {c.path}" for c in worst]
    return "\n".join(lines)
