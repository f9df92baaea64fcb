"""The figures `callqa eval` reports, computed from gold and predicted labels: plain functions of lists.

Stages: utterance accuracy; boundary accuracy (the share of gold stage starts after the first
utterance that the prediction starts at the same utterance, or at most one away; a stage the
prediction skips counts as missed); Cohen's κ (callqa.agreement); per-stage precision, recall and F1; a confusion table.
Forbidden expressions, over agent lines: a line counts as flagged when any forbidden finding falls on
it (the category need not match; category-exact figures are reported per category), precision,
recall, F1, and the share of near-misses flagged. Recommended scripts: recall and precision of the
lines the gold marks as performing a script. Ranking: Spearman's ρ of the call score with the gold
violation count.

Each of the ratios a target is set on (utterance accuracy, forbidden precision and recall) also comes
with a 95 % interval from a bootstrap over calls: on ten calls a writer, two figures a few points apart
may be the same, and the interval says how far apart they must be.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from callqa.model import STAGES


def starts(stages: Sequence[str]) -> dict[str, int]:
    """Index of the first utterance of each stage that occurs."""
    first: dict[str, int] = {}
    for index, stage in enumerate(stages):
        first.setdefault(stage, index)
    return first


@dataclass(frozen=True, slots=True)
class Counts:
    """Hits, predictions and gold items of one kind: enough for precision, recall and F1."""

    hits: int = 0
    predicted: int = 0
    gold: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.hits + other.hits, self.predicted + other.predicted, self.gold + other.gold)

    @property
    def precision(self) -> float | None:
        return self.hits / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.hits / self.gold if self.gold else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None if p is None or r is None else 0.0
        return 2 * p * r / (p + r)

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "precision": _round(self.precision),
            "recall": _round(self.recall),
            "f1": _round(self.f1),
            "hits": self.hits,
            "predicted": self.predicted,
            "gold": self.gold,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def boundary_hits(gold: Sequence[str], predicted: Sequence[str], tolerance: int) -> tuple[int, int]:
    """(gold stage starts found within `tolerance` utterances, gold stage starts) of one call."""
    found = total = 0
    predicted_starts = starts(predicted)
    for stage, index in starts(gold).items():
        if index == 0:
            continue  # the call's first stage starts at utterance 0 by definition
        total += 1
        found += stage in predicted_starts and abs(predicted_starts[stage] - index) <= tolerance
    return found, total


def confusion(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, dict[str, int]]:
    """Utterance counts by gold stage (rows) and predicted stage (columns)."""
    table = {g: dict.fromkeys(STAGES, 0) for g in STAGES}
    for g, p in zip(gold, predicted, strict=True):
        table[g][p] += 1
    return table


def stage_counts(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Counts]:
    return {
        stage: Counts(
            hits=sum(g == p == stage for g, p in zip(gold, predicted, strict=True)),
            predicted=sum(p == stage for p in predicted),
            gold=sum(g == stage for g in gold),
        )
        for stage in STAGES
    }


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rank correlation (ties get their mean rank); None when either side is constant."""
    if len(xs) < 3:
        return None
    rx, ry = _ranks(xs), _ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sx = math.sqrt(sum((a - mx) ** 2 for a in rx))
    sy = math.sqrt(sum((b - my) ** 2 for b in ry))
    return cov / (sx * sy) if sx and sy else None


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


#: Resamples of a bootstrap interval: enough for two decimals, and cheap (ratios of sums over calls).
RESAMPLES = 2000


def ratio_interval(
    parts: Sequence[tuple[int, int]], level: float = 0.95, resamples: int = RESAMPLES, seed: int = 0
) -> tuple[float, float] | None:
    """A percentile-bootstrap interval of sum(part) / sum(whole) over the calls' (part, whole) pairs,
    resampling calls (the unit that varies: a writer's calls, not their utterances, are the sample).
    Seeded, so the same calls give the same interval. None with fewer than two calls or nothing to
    divide by. A group with no error at all gets a zero-width interval (1.0, 1.0): no resample can
    show otherwise, which says the calls are few, not that the figure is certain."""
    if sum(1 for _, whole in parts if whole) < 2:
        return None
    rng = random.Random(seed)
    count = len(parts)
    ratios = []
    for _ in range(resamples):
        sample = [parts[rng.randrange(count)] for _ in range(count)]
        whole = sum(w for _, w in sample)
        if whole:
            ratios.append(sum(p for p, _ in sample) / whole)
    if not ratios:
        return None
    ratios.sort()
    tail = (1 - level) / 2
    low = ratios[int(tail * (len(ratios) - 1))]
    high = ratios[math.ceil((1 - tail) * (len(ratios) - 1))]
    return round(low, 4), round(high, 4)
