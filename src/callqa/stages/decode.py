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


def decode_begin_inside(scores: Sequence[Sequence[float]], costs: Costs) -> list[int]:
    """Like `decode`, over begin/inside label scores: row[2*s] scores "stage s begins here",
    row[2*s+1] "inside stage s, begun earlier". A stage can only start on its begin label, so the
    evidence for where a stage starts (an offer, a goodbye) counts at the boundary itself."""
    if not scores:
        return []
    states = 2 * _N
    best = [scores[0][k] - costs.start_skip * (k // 2) if k % 2 == 0 else IMPOSSIBLE for k in range(states)]
    back: list[list[int]] = []
    # The costs' arithmetic, the same for every utterance: what the running maximum below adds for
    # the stages passed before s, and what the jump from stage p to begin s costs.
    passed = [costs.skip * (s - 1) for s in range(_N)]
    jump = [[costs.boundary + costs.skip * (s - p - 1) for p in range(_N)] for s in range(_N)]
    for row in scores[1:]:
        step, pointers = [], []
        # Begin s: from the best state of any earlier stage, less the cost of the jump. The cost
        # falls by `skip` per stage nearer, so the best is the one with the most best[k] + skip * p:
        # kept as a running maximum over the stages passed, instead of trying every earlier state
        # for every s. Ties go to the earliest state, as in `decode` (with skip != 0, up to rounding).
        earliest, lead = 0, IMPOSSIBLE
        for s in range(_N):
            if s:
                for k in (2 * s - 2, 2 * s - 1):
                    if best[k] + passed[s] > lead:
                        earliest, lead = k, best[k] + passed[s]
            prev, value = 0, IMPOSSIBLE
            if lead > IMPOSSIBLE:
                prev, value = earliest, best[earliest] - jump[s][earliest // 2]
            step.append(value + row[2 * s])
            pointers.append(prev)
            k0, k1 = 2 * s, 2 * s + 1  # inside s: from its begin or from inside
            prev, value = (k0, best[k0]) if best[k0] >= best[k1] else (k1, best[k1])
            step.append(value + row[2 * s + 1])
            pointers.append(prev)
        best = step
        back.append(pointers)
    state = max(range(states), key=lambda k: best[k] - costs.end_skip * (_N - 1 - k // 2))
    path = [state]
    for pointers in reversed(back):
        state = pointers[state]
        path.append(state)
    return [k // 2 for k in path[::-1]]
