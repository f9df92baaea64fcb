"""The values a store takes and gives back: plain dataclasses, importable without SQLAlchemy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from callqa.scoring.score import points_before_caps

#: A reviewer's verdict on one finding: it stands, it was wrong (its points are given back), or its
#: points should be other (`points`, signed as in the report: a deduction is negative).
Decision = Literal["confirmed", "false_alarm", "adjusted"]
DECISIONS: tuple[str, ...] = ("confirmed", "false_alarm", "adjusted")
#: `obsolete`: a later scoring of the call no longer makes the finding, so there is nothing to decide.
AppealStatus = Literal["open", "upheld", "rejected", "adjusted", "obsolete"]
#: What resolving an appeal means for the finding: upheld = a false alarm, rejected = confirmed.
APPEAL_DECISIONS: dict[str, Decision] = {"upheld": "false_alarm", "rejected": "confirmed", "adjusted": "adjusted"}
#: How a review resolves an open appeal against the finding it judges.
APPEAL_OUTCOMES: dict[str, AppealStatus] = {"false_alarm": "upheld", "confirmed": "rejected", "adjusted": "adjusted"}
Period = Literal["day", "week", "month"]


@dataclass(frozen=True, slots=True)
class CallMeta:
    """Who made the call and when, for history and trends."""

    agent: str | None = None
    team: str | None = None
    call_date: date | None = None


@dataclass(frozen=True, slots=True)
class Provenance:
    """What scored a call: the rubric (by name, version and content) and the models it used."""

    rubric_name: str
    rubric_version: str
    rubric_sha256: str
    models: dict[str, str] = field(default_factory=dict)  # e.g. {"stages": "callqa-stages 2026-12-01 3f2a…"}
    callqa_version: str = ""


@dataclass(frozen=True, slots=True)
class ScoringRules:
    """What recomputing a reviewed call needs of its rubric, stored with the call: the pass mark, the
    grades, each stage's base (its points before scripts are credited) and each rule's cap."""

    pass_mark: float
    grades: tuple[tuple[str, float], ...]  # (name, min), highest first
    bases: dict[str, float]
    caps: dict[str, float]  # rule id -> the most it deducts in one call (`max_deduct`)
    # True for a call stored by a callqa that cut a deduction at its stage's 0 (rows without the key)
    stage_floor: bool = False


@dataclass(frozen=True, slots=True)
class ScoredCall:
    """One call to store: its report (the callqa.report/1 document) and who and what scored it."""

    report: dict[str, Any]
    path: str  # the transcript's absolute path
    meta: CallMeta
    provenance: Provenance
    rules: ScoringRules

    @property
    def content_sha256(self) -> str:
        return str(self.report["transcript"]["sha256"])

    @property
    def stored_as(self) -> tuple[str, str]:
        """What makes it one row of the store: the same transcript scored by the same rubric (by name)."""
        return self.content_sha256, self.provenance.rubric_name


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
    points: float  # after caps, as scored
    nominal_points: float  # what the rule says
    max_deduct: float | None  # the rule's cap per call
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
    def decided_points(self) -> float:
        """The points before caps once reviewed: as scored, nothing for a false alarm, or the reviewer's."""
        review = self.decision
        if review is None or review.decision == "confirmed":
            return points_before_caps(self.kind, self.severity, self.nominal_points)
        if review.decision == "false_alarm":
            return 0.0
        return review.points if review.points is not None else self.nominal_points


@dataclass(frozen=True, slots=True)
class StoredStage:
    name: str
    score: float  # as scored
    max_score: float
    base: float  # before scripts are credited


@dataclass(frozen=True, slots=True)
class StoredCall:
    id: int
    path: str
    content_sha256: str
    agent: str | None
    team: str | None
    call_date: date | None
    day: date  # the call's date, else the (local) day it was first scored: what history and trends use
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
    callqa_version: str = ""
    reviewed_score: float | None = None  # recomputed from the reviewers' decisions; None: not reviewed
    reviewed_grade: str | None = None
    reviewed_passed: bool | None = None
    reviewed_fatal: bool | None = None
    findings: tuple[StoredFinding, ...] = ()
    stages: tuple[StoredStage, ...] = ()
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
class TrendPoint:
    start: date  # the period's first day
    calls: int
    mean: float  # mean score; for --by rule: the share of calls the rule cost points in, 0-1
    passed: float | None  # pass rate 0-1 (None for a rule)


@dataclass(frozen=True, slots=True)
class Trend:
    key: str  # the agent, team or rule
    points: tuple[TrendPoint, ...]  # one per period with calls, in order
    calls: int
    mean: float


@dataclass(frozen=True, slots=True)
class RulePrecision:
    """How often reviewers upheld one rule's findings of one category (the trained detector has one
    per category it flags): precision with its 95 % Wilson interval, so 3 reviews read as the
    uncertain figure they are."""

    rule: str
    category: str
    reviewed: int
    confirmed: int  # confirmed or adjusted: the finding was real
    false_alarms: int
    unreviewed: int
    interval: tuple[float, float] | None

    @property
    def precision(self) -> float | None:
        return self.confirmed / self.reviewed if self.reviewed else None


@dataclass(frozen=True, slots=True)
class Agreement:
    """Two reviewers' agreement on the findings both judged (Cohen's κ over their decisions)."""

    first: str
    second: str
    findings: int
    agreed: int
    kappa: float | None  # None when undefined (both gave one same decision throughout)


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
