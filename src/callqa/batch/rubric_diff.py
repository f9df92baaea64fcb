"""`callqa rubric diff OLD NEW CORPUS…`: rescore a corpus under two rubric versions and list the calls
and groups whose score or pass/fail changed, largest change first — what a rubric maintainer needs to
see before merging a rule change."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callqa.batch.runner import CallSummary, score_many
from callqa.rules.compiled import CompiledRubric
from callqa.transcripts.reader import ReadOptions


@dataclass(frozen=True, slots=True)
class CallChange:
    path: str
    group: str
    old: CallSummary
    new: CallSummary

    @property
    def delta(self) -> float:
        return round(self.new.score - self.old.score, 2)

    @property
    def flipped(self) -> bool:
        return self.old.passed != self.new.passed


@dataclass(frozen=True, slots=True)
class GroupChange:
    group: str
    calls: int
    old_mean: float
    new_mean: float
    old_passed: int
    new_passed: int

    @property
    def delta(self) -> float:
        return round(self.new_mean - self.old_mean, 2)


@dataclass(slots=True)
class RubricDiff:
    calls: int
    changed: list[CallChange]
    groups: list[GroupChange]
    errors: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "callqa.rubric-diff/1",  # as named when the command came (2d81639)
            "calls": self.calls,
            "changed": [
                {
                    "path": c.path,
                    "group": c.group,
                    "old_score": c.old.score,
                    "new_score": c.new.score,
                    "delta": c.delta,
                    "old_passed": c.old.passed,
                    "new_passed": c.new.passed,
                    "old_grade": c.old.grade,
                    "new_grade": c.new.grade,
                }
                for c in self.changed
            ],
            "groups": [
                {
                    "group": g.group,
                    "calls": g.calls,
                    "old_mean": round(g.old_mean, 2),
                    "new_mean": round(g.new_mean, 2),
                    "delta": g.delta,
                    "old_passed": g.old_passed,
                    "new_passed": g.new_passed,
                }
                for g in self.groups
            ],
            "errors": self.errors,
        }


def _scores(paths: list[Path], compiled: CompiledRubric, jobs: int, errors: list[str]) -> dict[str, CallSummary]:
    scored = {}
    for outcome in score_many(paths, compiled, ReadOptions(), jobs):
        if outcome.call is None:
            errors.append(outcome.error or outcome.path)
        else:
            scored[outcome.path] = outcome.call
    return scored


def diff_rubrics(old: CompiledRubric, new: CompiledRubric, paths: list[Path], jobs: int = 1) -> RubricDiff:
    errors: list[str] = []
    before = _scores(paths, old, jobs, errors)
    after = _scores(paths, new, jobs, [])  # a file that cannot be read fails the same way twice
    common = [p for p in before if p in after]
    changes = [CallChange(p, before[p].group, before[p], after[p]) for p in common]
    changed = sorted((c for c in changes if c.delta or c.flipped), key=lambda c: (-c.flipped, -abs(c.delta), c.path))
    by_group: dict[str, list[CallChange]] = {}
    for change in changes:
        by_group.setdefault(change.group, []).append(change)
    groups = [
        GroupChange(
            g,
            len(cs),
            sum(c.old.score for c in cs) / len(cs),
            sum(c.new.score for c in cs) / len(cs),
            sum(c.old.passed for c in cs),
            sum(c.new.passed for c in cs),
        )
        for g, cs in by_group.items()
    ]
    groups = sorted(
        (g for g in groups if g.delta or g.old_passed != g.new_passed),
        key=lambda g: (-(g.old_passed != g.new_passed), -abs(g.delta), g.group),
    )
    return RubricDiff(len(common), changed, groups, sorted(set(errors)))


def format_diff(diff: RubricDiff, old_name: str, new_name: str, limit: int = 50) -> str:
    flips = [c for c in diff.changed if c.flipped]
    lines = [
        f"{old_name} -> {new_name}: {diff.calls} calls, {len(diff.changed)} changed, "
        f"{sum(1 for c in flips if not c.new.passed)} now fail, {sum(1 for c in flips if c.new.passed)} now pass"
    ]
    if diff.changed:
        lines += ["", "calls (pass/fail changes first, then the largest changes):"]
        for c in diff.changed[:limit]:
            verdict = (
                f"  {'合格' if c.old.passed else '不合格'}→{'合格' if c.new.passed else '不合格'}" if c.flipped else ""
            )
            lines.append(f"  {c.delta:+7.1f}  {c.old.score:g} -> {c.new.score:g}{verdict}  [{c.group}] {c.path}")
        if len(diff.changed) > limit:
            lines.append(f"  … {len(diff.changed) - limit} more (--format json lists all)")
    if diff.groups:
        lines += ["", "groups:"]
        for g in diff.groups:
            lines.append(
                f"  {g.delta:+7.1f}  mean {g.old_mean:.1f} -> {g.new_mean:.1f}, passed {g.old_passed} -> "
                f"{g.new_passed} of {g.calls}  {g.group}"
            )
    lines += [f"cannot read: {e}" for e in diff.errors]
    return "\n".join(lines)
