"""Plain data passed along the pipeline: read -> normalise -> segment -> match -> score -> render."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["agent", "customer", "unknown"]

#: The five stages of a service call, in the only order they can occur.
STAGES: tuple[str, ...] = ("问候", "切入", "转化", "协议", "结束")


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
class RoleInfo:
    """How roles were decided: labels (客服/客户), inferred from content, forced by the user, or none."""

    method: str = "labels"
    agent: str | None = None
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Transcript:
    path: str
    format: str
    utterances: tuple[Utterance, ...]
    warnings: tuple[str, ...] = ()
    roles: RoleInfo = RoleInfo()
    encoding: str | None = None
    agent_name: str | None = None  # from a `# agent: 张三` header


@dataclass(slots=True)
class Finding:
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
    message: str
    suggestion: str | None = None
    nominal: float = 0.0  # what the rule says, before caps
    similarity: float | None = None  # recommended scripts: best similarity 0..1
    spans: list[tuple[int, int]] = field(default_factory=list)  # in the original utterance text
    trigger_utterance: int | None = None  # a response check: the utterance that called for the response
    trigger_line: int | None = None
    missing_words: list[str] = field(default_factory=list)  # a script not said: words the closest line lacked


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


@dataclass(slots=True)
class Report:
    transcript: Transcript
    rubric_name: str
    rubric_version: str
    rubric_path: str
    segmentation: Segmentation
    stages: list[StageScore]
    findings: list[Finding]
    score: float
    max_score: float
    passed: bool
    grade: str
    fatal: bool
    notes: list[str] = field(default_factory=list)  # e.g. timing checks skipped for want of times
