"""Monotone decoding: the best stage sequence that only moves forward (stages may be skipped).

Both segmenters end here: the rubric's cue scores and the trained model's log-probabilities are one
row of per-stage scores per utterance; the path maximises their sum less a cost per stage change,
per stage jumped over, for starting after 问候 and for ending before 结束 (customers do hang up).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from callqa.model import STAGES

IMPOSSIBLE = float("-inf")
_N = len(STAGES)


@dataclass(frozen=True, slots=True)
class Costs:
    boundary: float = 0.0  # moving on to the next stage
    skip: float = 0.0  # each stage jumped over
    start_skip: float = 0.0  # each stage before the first one the call has
    end_skip: float = 0.0  # each stage after the last one the call has


def decode(scores: Sequence[Sequence[float]], costs: Costs) -> list[int]:
    """Stage index per utterance, never decreasing (Viterbi over the five stages)."""
    if not scores:
        return []
    incoming = [
        [(p, 0.0 if p == s else -costs.boundary - costs.skip * (s - p - 1)) for p in range(s + 1)] for s in range(_N)
    ]
    best = [scores[0][s] - costs.start_skip * s for s in range(_N)]
    back: list[list[int]] = []
    for row in scores[1:]:
        step, pointers = [], []
        for s in range(_N):
            prev, value = 0, IMPOSSIBLE
            for p, cost in incoming[s]:
                if best[p] + cost > value:
                    prev, value = p, best[p] + cost
            step.append(value + row[s])
            pointers.append(prev)
        best = step
        back.append(pointers)
    state = max(range(_N), key=lambda s: best[s] - costs.end_skip * (_N - 1 - s))
    path = [state]
    for pointers in reversed(back):
        state = pointers[state]
        path.append(state)
    return path[::-1]


def boundaries(path: Sequence[int]) -> list[int]:
    """Indices where a new stage starts (after the first utterance)."""
    return [i for i in range(1, len(path)) if path[i] != path[i - 1]]
