"""The values a store takes and gives back: plain dataclasses, importable without SQLAlchemy."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePath
from typing import Any, Literal

import platformdirs

#: A reviewer's verdict on one finding: it stands, it was wrong (its points are given back), or its
#: points should be other (`points`, signed as in the report: a deduction is negative).
Decision = Literal["confirmed", "false_alarm", "adjusted"]
DECISIONS: tuple[str, ...] = ("confirmed", "false_alarm", "adjusted")
AppealStatus = Literal["open", "upheld", "rejected", "adjusted"]
#: What resolving an appeal means for the finding: upheld = a false alarm, rejected = confirmed.
APPEAL_DECISIONS: dict[str, Decision] = {"upheld": "false_alarm", "rejected": "confirmed", "adjusted": "adjusted"}
#: How a review resolves an open appeal against the finding it judges.
APPEAL_OUTCOMES: dict[str, AppealStatus] = {"false_alarm": "upheld", "confirmed": "rejected", "adjusted": "adjusted"}


@dataclass(frozen=True, slots=True)
class CallMeta:
    """Who made the call and when, for history and trends."""

    agent: str | None = None
    team: str | None = None
    call_date: date | None = None


@dataclass(frozen=True, slots=True)
class Provenance:
    """What scored a call: the rubric (by content) and the models it used."""

    rubric_name: str
    rubric_version: str
    rubric_sha256: str
    models: dict[str, str] = field(default_factory=dict)  # e.g. {"stages": "callqa-stages 2026-12-01 3f2a…"}
    callqa_version: str = ""


@dataclass(frozen=True, slots=True)
class ScoredCall:
    """One call to store: its report (the callqa.report/1 document), file and who and what scored it."""

    report: dict[str, Any]
    path: str  # the transcript's absolute path
    content_sha256: str
    meta: CallMeta
    provenance: Provenance
    pass_mark: float
    grades: tuple[tuple[str, float], ...]  # (name, min), highest first: to regrade after a review


@dataclass(frozen=True, slots=True)
class ReviewRecord:
    id: int
    reviewer: str
    decision: Decision
    points: float | None
    comment: str
    created_at: datetime
    appeal: int | None = None  # the appeal this review resolved


@dataclass(frozen=True, slots=True)
class AppealRecord:
    id: int
    call: int
    finding: int
    agent: str | None
    reason: str
    status: AppealStatus
    created_at: datetime
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    comment: str | None = None
    rule: str = ""


@dataclass(frozen=True, slots=True)
class StoredFinding:
    id: int
    rule: str
    kind: str
    category: str
    severity: str
    stage: str
    role: str | None
    utterance: int | None
    line: int | None
    matched: str
    said: str | None
    message: str
    suggestion: str | None
    points: float
    nominal_points: float
    source: str
    confidence: float | None
    active: bool  # False: a later scoring of the call no longer found it (kept for its reviews)
    reviews: tuple[ReviewRecord, ...] = ()
    appeals: tuple[AppealRecord, ...] = ()

    @property
    def decision(self) -> ReviewRecord | None:
        """The review that counts: the latest."""
        return self.reviews[-1] if self.reviews else None

    @property
    def effective_points(self) -> float:
        review = self.decision
        if review is None or review.decision == "confirmed":
            return self.points
        if review.decision == "false_alarm":
            return 0.0
        return review.points if review.points is not None else self.points


@dataclass(frozen=True, slots=True)
class StoredCall:
    id: int
    path: str
    content_sha256: str
    agent: str | None
    team: str | None
    call_date: date | None
    scored_at: datetime
    rubric_name: str
    rubric_version: str
    rubric_sha256: str
    models: dict[str, str]
    score: float  # as scored
    max_score: float
    grade: str
    passed: bool
    fatal: bool
    reviewed_score: float | None = None  # recomputed from the reviewers' decisions; None: not reviewed
    reviewed_grade: str | None = None
    reviewed_passed: bool | None = None
    reviewed_fatal: bool | None = None
    findings: tuple[StoredFinding, ...] = ()
    stages: tuple[tuple[str, float, float], ...] = ()  # (stage, score, max) as scored
    lost: int = 0  # findings that cost points

    @property
    def current_score(self) -> float:
        return self.score if self.reviewed_score is None else self.reviewed_score

    @property
    def current_grade(self) -> str:
        return self.grade if self.reviewed_grade is None else self.reviewed_grade

    @property
    def current_passed(self) -> bool:
        return self.passed if self.reviewed_passed is None else self.reviewed_passed

    @property
    def day(self) -> date:
        """The call's date, or the day it was scored when the call's own date is unknown."""
        return self.call_date or self.scored_at.date()


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    agent: str | None = None
    team: str | None = None
    since: date | None = None
    until: date | None = None
    rubric: str | None = None
    grade: str | None = None
    rule: str | None = None
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Recomputed:
    score: float
    grade: str
    passed: bool
    fatal: bool


def recompute(
    stages: Sequence[tuple[str, float, float]],
    findings: Sequence[StoredFinding],
    pass_mark: float,
    grades: Sequence[tuple[str, float]],
) -> Recomputed:
    """The call's score with every decision applied: each finding's change of points moves its stage,
    kept between 0 and the stage's maximum; a fatal finding still standing zeroes the total, as in
    scoring."""
    totals = {name: score for name, score, _ in stages}
    maxima = {name: top for name, _, top in stages}
    for finding in findings:
        if not finding.active or finding.stage not in totals:
            continue
        totals[finding.stage] += finding.effective_points - finding.points
    for name in totals:
        totals[name] = min(max(totals[name], 0.0), maxima[name])
    fatal = any(
        f.active and f.severity == "fatal" and (f.decision is None or f.decision.decision != "false_alarm")
        for f in findings
    )
    total = 0.0 if fatal else round(sum(totals.values()), 2)
    grade = next((name for name, low in grades if total >= low), grades[-1][0] if grades else "")
    return Recomputed(total, grade, not fatal and total >= pass_mark, fatal)


# --- looking back --------------------------------------------------------------------------------

Period = Literal["day", "week", "month"]


def period_start(day: date, period: Period) -> date:
    """The first day of the day's period: itself, its ISO week's Monday, its month's first."""
    if period == "day":
        return day
    if period == "week":
        return date.fromordinal(day.toordinal() - day.weekday())
    return day.replace(day=1)


@dataclass(frozen=True, slots=True)
class TrendPoint:
    start: date  # the period's first day
    calls: int
    mean: float  # mean score; for --by rule: the share of calls the rule cost points in, 0-1
    passed: float  # pass rate 0-1


@dataclass(frozen=True, slots=True)
class Trend:
    key: str  # the agent, team or rule
    points: tuple[TrendPoint, ...]  # one per period with calls, in order
    calls: int
    mean: float


@dataclass(frozen=True, slots=True)
class RulePrecision:
    """How often reviewers upheld one rule's findings: precision with its 95 % Wilson interval, so
    3 reviews read as the uncertain figure they are."""

    rule: str
    category: str
    reviewed: int
    confirmed: int  # confirmed or adjusted: the finding was real
    false_alarms: int
    unreviewed: int

    @property
    def precision(self) -> float | None:
        return self.confirmed / self.reviewed if self.reviewed else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.confirmed, self.reviewed)


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95 % by default)."""
    if trials == 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, slots=True)
class Agreement:
    """Two reviewers' agreement on the findings both judged (Cohen's κ over their decisions)."""

    first: str
    second: str
    findings: int
    agreed: int
    kappa: float | None  # None when undefined (both gave one same decision throughout)


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    if not pairs:
        return None
    labels = sorted({a for a, _ in pairs} | {b for _, b in pairs})
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    expected = sum((sum(a == x for a, _ in pairs) / n) * (sum(b == x for _, b in pairs) / n) for x in labels)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1 - expected)


@dataclass(frozen=True, slots=True)
class StoreStatus:
    url: str  # password hidden
    revision: str | None  # None: an empty database
    head: str
    known: bool = True  # False: a revision newer than this callqa (or not callqa's)
    calls: int | None = None
    findings: int | None = None
    reviews: int | None = None
    appeals_open: int | None = None

    @property
    def up_to_date(self) -> bool:
        return self.revision == self.head


# --- who made a call, from its path --------------------------------------------------------------

_FIELDS = ("agent", "team", "date")


def path_pattern(pattern: str) -> re.Pattern[str]:
    """A regular expression for a path pattern such as '{team}/{agent}_{date}.txt': {agent}, {team}
    and {date} each match one name (no '/'), '*' any name part, '**' any folders; matched against the
    end of the path."""
    out, i = [], 0
    seen: set[str] = set()
    for match in re.finditer(r"\{(\w+)\}|\*\*/?|\*", pattern):
        out.append(re.escape(pattern[i : match.start()]))
        token = match.group()
        if match.group(1):
            name = match.group(1)
            if name not in _FIELDS:
                raise ValueError(f"unknown field {{{name}}} in path pattern (use {{agent}}, {{team}}, {{date}})")
            if name in seen:
                raise ValueError(f"{{{name}}} appears twice in the path pattern")
            seen.add(name)
            out.append(rf"(?P<{name}>\d{{4}}-?\d{{2}}-?\d{{2}})" if name == "date" else rf"(?P<{name}>[^/]+?)")
        elif token.startswith("**"):
            out.append(r"(?:.*/)?")
        else:
            out.append(r"[^/]*")
        i = match.end()
    out.append(re.escape(pattern[i:]))
    if not seen:
        raise ValueError("a path pattern needs at least one of {agent}, {team}, {date}")
    return re.compile(r"(?:^|/)" + "".join(out) + "$")


def meta_from_path(path: str, pattern: re.Pattern[str]) -> CallMeta:
    """The fields a path pattern finds in a path (nothing when it does not match)."""
    match = pattern.search(PurePath(path).as_posix())
    if match is None:
        return CallMeta()
    found = match.groupdict()
    day = found.get("date")
    when = None
    if day:
        digits = day.replace("-", "")
        try:
            when = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
        except ValueError:
            when = None
    return CallMeta(agent=found.get("agent"), team=found.get("team"), call_date=when)


def merge_meta(*sources: CallMeta) -> CallMeta:
    """Each field from the first source that has it (options first, then the transcript, then the path)."""
    return CallMeta(
        agent=next((s.agent for s in sources if s.agent), None),
        team=next((s.team for s in sources if s.team), None),
        call_date=next((s.call_date for s in sources if s.call_date), None),
    )


# --- where the database is -----------------------------------------------------------------------


def database_url(given: str | None = None) -> str:
    """The database to use: `given` (a URL, a file path for SQLite, or "default"), else $CALLQA_DB,
    else a SQLite file in the user's data folder (~/.local/share/callqa/callqa.db on Linux)."""
    value = (given or os.environ.get("CALLQA_DB") or "default").strip()
    if value == "default":
        folder = Path(platformdirs.user_data_dir("callqa", appauthor=False))
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{folder / 'callqa.db'}"
    if "://" not in value:  # a plain path: a SQLite file
        return f"sqlite:///{Path(value).expanduser().resolve()}"
    return value
