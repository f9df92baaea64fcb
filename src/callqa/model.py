"""The data passed along the pipeline: read -> normalise -> segment -> match -> score -> render.

Reading gives a `Transcript` of `Utterance`s, segmentation a `Segmentation`, matching `Finding`s;
scoring folds them into a `Report`, the one result every consumer reads. A `Report` is a pydantic
model whose JSON serialisation *is* the `--format json` report (schema `callqa.report/1`, its JSON
Schema printed by `callqa schema report`): fields may be added, none are ever renamed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

#: Who spoke an utterance. `system` is nobody's own words: a console's system message, a bot's menu or
#: queue notice, or a media placeholder ([图片], [订单卡片], [表情]). Such lines are kept and shown, but
#: no rule, script or stage cue applies to them.
Role = Literal["agent", "customer", "system", "unknown"]

#: The five stages of a service call, in the only order they can occur.
STAGES: tuple[str, ...] = ("问候", "切入", "转化", "协议", "结束")
#: The six kinds of forbidden expression (禁忌语) a QA reviewer marks on an agent line.
FORBIDDEN_CATEGORIES: tuple[str, ...] = ("推诿", "拖延", "否定", "含糊", "冷漠", "强势")
#: The recommended scripts a labelled call marks (the gold labels of `recommended`).
RECOMMENDED_LABELS: tuple[str, ...] = (
    "greeting",
    "apology",
    "empathy",
    "time_commitment",
    "closing_offer",
    "thanks_bye",
)


@dataclass(frozen=True, slots=True)
class Utterance:
    index: int
    line: int  # 1-based line in the source file
    speaker: str  # the label as written, e.g. 客服人員
    role: Role
    text: str  # original text, shown in reports
    norm: str  # normalised text, used for matching
    norm_index: tuple[int, ...]  # norm_index[i] = offset in `text` of norm[i]
    start: float | None = None  # seconds
    end: float | None = None
    given_stage: str | None = None  # set by a `## 切入` marker line

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of `norm` back to a span of `text`."""
        if start >= len(self.norm_index):
            return len(self.text), len(self.text)
        last = self.norm_index[end - 1] + 1 if end > start else self.norm_index[start]
        return self.norm_index[start], last


@dataclass(frozen=True, slots=True)
class SpeakerRole:
    """The role one speaker label got, and how: by its label, inferred from what it says, forced."""

    speaker: str
    role: Role
    how: Literal["label", "other side", "inferred", "forced", "none"]
    confidence: float | None = None  # when inferred: 0.5 (a guess) .. 1.0


@dataclass(frozen=True, slots=True)
class Transfer:
    """The call passed from one agent to another: where the second agent first speaks."""

    utterance: int
    line: int
    from_speaker: str
    to_speaker: str


@dataclass(frozen=True, slots=True)
class RoleInfo:
    """How roles were decided: labels (客服/客户), inferred from content, forced by the user, or none."""

    method: str = "labels"
    agent: str | None = None
    confidence: float | None = None
    speakers: tuple[SpeakerRole, ...] = ()
    transfers: tuple[Transfer, ...] = ()


@dataclass(frozen=True, slots=True)
class Transcript:
    path: str
    format: str
    utterances: tuple[Utterance, ...]
    warnings: tuple[str, ...] = ()
    roles: RoleInfo = RoleInfo()
    encoding: str | None = None
    agent_name: str | None = None  # from a `# agent: 张三` header
    team: str | None = None  # from a `# team: 一组` header
    call_date: date | None = None  # from a `# date:` header, else the chat's first dated stamp
    sha256: str = (
        ""  # of the transcript's text (UTF-8, LF): the same call in any encoding or line ends is one transcript
    )


@dataclass(frozen=True, slots=True)
class Driver:
    """One reason a trained model gave for a finding: a feature, in words, and how far it pushed."""

    feature: str  # as the model names it, e.g. c:不归
    words: str  # as a reviewer reads it, e.g. 说了「不归」
    weight: float  # its contribution to the model's score


def is_missed_script(kind: str, points: float, nominal_points: float, matched: str) -> bool:
    """A script not said: a required one's deduction, or a recommended one's points not earned. A script
    said has its words in `matched`; one said in a stage already at its maximum earns 0 (capped) and is
    still said, not missed."""
    return kind == "recommended" and not matched and points <= 0 and (points < 0 or nominal_points > 0)


def is_capped_script(kind: str, points: float, nominal_points: float, matched: str) -> bool:
    """A script said that earns nothing because its stage was already at its maximum."""
    return kind == "recommended" and bool(matched) and points <= 0 < nominal_points


def is_problem(kind: str, points: float, nominal_points: float, matched: str) -> bool:
    """A finding a trainee must see: a forbidden expression, any deduction, or a script not said (its
    points not earned). Not a script said (even one whose points the stage's cap took), nor one worth
    nothing here."""
    return kind == "forbidden" or points < 0 or is_missed_script(kind, points, nominal_points, matched)


@dataclass(slots=True, kw_only=True)
class Finding:
    """One rule's verdict on one place in the call: a deduction, a script said, or a script missed."""

    rule: str
    kind: str  # forbidden, recommended, or a check kind (keyword, response, silence, …)
    category: str
    severity: str
    utterance: int | None
    line: int | None
    stage: str
    role: str | None
    matched: str
    points: float  # the effect on the score, after caps
    nominal_points: float = 0.0  # what the rule says, before caps
    similarity: float | None = None  # recommended scripts: best similarity 0..1
    message: str
    suggestion: str | None = None
    trigger_utterance: int | None = None  # a response check: the utterance that called for the response
    trigger_line: int | None = None
    missing_words: list[str] = field(default_factory=list)  # a script not said: words the closest line lacked
    spans: list[tuple[int, int]] = field(default_factory=list)  # where it matched, in the original utterance text
    source: Literal["rule", "model"] = "rule"  # a phrase/pattern rule, or a trained model, made it
    confidence: float | None = None  # a model's confidence that the line is a forbidden expression at all, 0-1
    category_confidence: float | None = None  # a model's P(this category | forbidden expression), 0-1
    evidence: list[Driver] = field(default_factory=list)  # a model's reasons, strongest first

    @property
    def problem(self) -> bool:
        return is_problem(self.kind, self.points, self.nominal_points, self.matched)

    @property
    def missed(self) -> bool:
        """A script not said (see `is_missed_script`)."""
        return is_missed_script(self.kind, self.points, self.nominal_points, self.matched)

    @property
    def capped(self) -> bool:
        """A script said that earns nothing: its stage was already at its maximum."""
        return is_capped_script(self.kind, self.points, self.nominal_points, self.matched)


@dataclass(frozen=True, slots=True)
class StageScore:
    name: str
    first: int | None
    last: int | None
    score: float
    max_score: float


@dataclass(frozen=True, slots=True)
class Segmentation:
    stages: tuple[str, ...]  # one per utterance
    given: bool  # True when marker lines fixed the split


SCHEMA: Final = "callqa.report/1"


class _ReportPart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class ReportSpeaker(_ReportPart):
    speaker: str = Field(description="the label as written")
    role: Role = Field(description="agent, customer, system (system/bot messages) or unknown")
    how: str = Field(description="label, other side (the other of two speakers), inferred, forced or none")
    confidence: float | None = Field(description="0.5 (a guess) to 1.0, when inferred")


class ReportTransfer(_ReportPart):
    utterance: int = Field(description="index of the second agent's first utterance")
    line: int
    from_speaker: str
    to_speaker: str


class ReportRoles(_ReportPart):
    method: str = Field(description="labels, inferred, forced or none")
    agent: str | None = Field(description="the speaker taken as agent, when inferred or forced")
    confidence: float | None = Field(description="0.5 (a guess) to 1.0, when inferred")
    speakers: list[ReportSpeaker] = Field(default_factory=list, description="every speaker label and its role")
    transfers: list[ReportTransfer] = Field(
        default_factory=list, description="where the call passed from one agent to another"
    )


class ReportTranscript(_ReportPart):
    path: str
    format: str
    encoding: str | None
    agent_name: str | None = Field(description="from a `# agent: NAME` header line")
    team: str | None = Field(default=None, description="from a `# team: NAME` header line")
    call_date: date | None = Field(
        default=None, description="from a `# date: YYYY-MM-DD` header line, else the chat's first dated stamp"
    )
    sha256: str = Field(
        default="",
        description="SHA-256 of the transcript's text (UTF-8, LF line ends), whatever its encoding and line ends",
    )
    roles: ReportRoles


class ReportRubric(_ReportPart):
    name: str
    version: str
    path: str


class ReportUtterance(_ReportPart):
    index: int
    line: int = Field(description="1-based line in the source file")
    speaker: str
    role: Role
    start: float | None = Field(description="seconds")
    end: float | None
    text: str = Field(description="the text as written")
    stage: str


class Report(BaseModel):
    """The scored call: what `callqa score --format json` prints, field for field."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", serialize_by_alias=True, validate_by_name=True, defer_build=True
    )

    schema_id: Literal["callqa.report/1"] = Field(SCHEMA, alias="schema")
    transcript: ReportTranscript
    rubric: ReportRubric
    score: float
    max_score: float
    passed: bool
    grade: str
    fatal: bool = Field(description="a fatal finding (一票否决) failed the call whatever its score")
    segmentation: Literal["given", "inferred"] = Field(description="given: marker lines fixed the split")
    utterances: list[ReportUtterance]
    stages: list[StageScore]
    findings: list[Finding]
    warnings: list[str]
    notes: list[str] = Field(description="e.g. timing checks skipped for want of times")

    @property
    def utterance_stages(self) -> tuple[str, ...]:
        """The stage of each utterance, in order."""
        return tuple(u.stage for u in self.utterances)

    def to_json(self, *, indent: int | None = 2) -> str:
        """The JSON report, Chinese kept readable (not \\u-escaped)."""
        return self.model_dump_json(indent=indent, ensure_ascii=False)
