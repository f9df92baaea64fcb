"""What reviews do to a call and what they say about rules: the score recomputed with the
scorer's own caps, precision intervals, reviewer agreement, and trend periods."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from callqa.scoring.score import Points, apply_caps, call_total, grade_for
from callqa.store.records import Period, ScoringRules, StoredFinding, StoredStage


@dataclass(frozen=True, slots=True)
class Recomputed:
    score: float
    grade: str
    passed: bool
    fatal: bool


def recompute(stages: Sequence[StoredStage], findings: Sequence[StoredFinding], rules: ScoringRules) -> Recomputed:
    """The call's score with every decision applied, as the scorer would have scored it: each finding's
    points before caps (the rule's, the reviewer's, or none for a false alarm) through the scorer's
    caps — each rule's cap per call, each stage's gains within its maximum from its base — so that a
    deduction a rule's cap had cut to nothing counts again once another is overturned. A fatal finding
    still standing zeroes the total."""
    standing = [f for f in findings if f.active and f.stage in rules.bases]
    items = [Points(f.stage, f.decided_points, f.rule, f.utterance) for f in standing]
    maxima = {s.name: s.max_score for s in stages}
    _, totals = apply_caps(items, rules.bases, maxima, rules.caps, stage_floor=rules.stage_floor)
    fatal = any(
        f.severity == "fatal" and (f.decision is None or f.decision.decision != "false_alarm") for f in standing
    )
    total = 0.0 if fatal else call_total(totals)
    return Recomputed(total, grade_for(total, rules.grades), not fatal and total >= rules.pass_mark, fatal)


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95 % by default)."""
    if trials == 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def period_start(day: date, period: Period) -> date:
    """The first day of the day's period: itself, its ISO week's Monday, its month's first."""
    if period == "day":
        return day
    if period == "week":
        return date.fromordinal(day.toordinal() - day.weekday())
    return day.replace(day=1)
