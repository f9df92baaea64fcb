"""The rubric: what a call is scored against, as validated data.

A rubric is YAML (see rubrics/default.yaml for a commented example). It is validated by the pydantic
models below; every error names the file, the line and the field, e.g.
`rubrics/x.yaml:14: forbidden[2].deduct: must be a number`.

`extends: PATH` (relative to the rubric, or `default` for the built-in rubric) starts from another
rubric: top-level values are replaced, `stages` are updated by name and `forbidden` / `recommended`
rules by id (fields given replace the parent's; `enabled: false` switches a rule off; new ids are added);
a detector's `categories` and the `classes` are merged by name.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from callqa.errors import RubricError
from callqa.model import STAGES
from callqa.rules.patterns import PatternError, class_names, pattern_regex
from callqa.rules.yamlsource import YamlDocument, load_yaml

StageName = Literal["问候", "切入", "转化", "协议", "结束"]
_ALL_STAGES: tuple[StageName, ...] = get_args(StageName)
assert _ALL_STAGES == STAGES, "StageName must list callqa.model.STAGES, in order"
RoleName = Literal["agent", "customer", "unknown"]
Severity = Literal["info", "warning", "error", "fatal"]
RuleId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]+$", min_length=1)]
NonEmptyText = Annotated[str, Field(min_length=1)]


class _AnyClass(dict[str, list[str]]):
    """Stands for the rubric's classes while one rule is checked alone: every name exists."""

    def __contains__(self, name: object) -> bool:
        return True

    def __missing__(self, name: str) -> list[str]:
        return ["x"]


def _check_patterns(patterns: list[str]) -> list[str]:
    """Each pattern must compile (its class names are checked against `classes:` with the whole rubric)."""
    for i, pattern in enumerate(patterns):
        try:
            pattern_regex(pattern, _AnyClass())
        except PatternError as exc:
            raise ValueError(f"item {i}: {exc}") from None
    return patterns


def _compile_all(patterns: list[str]) -> list[str]:
    for i, pattern in enumerate(patterns):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"item {i}: invalid regex {pattern!r}: {exc}") from None
    return patterns


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StageCues(_Model):
    """Phrases (and regexes, on normalised text) that suggest an utterance belongs to a stage, by who says them."""

    agent: list[NonEmptyText] = []
    customer: list[NonEmptyText] = []
    any: list[NonEmptyText] = []
    agent_regexes: list[NonEmptyText] = []
    customer_regexes: list[NonEmptyText] = []

    _check_regexes = field_validator("agent_regexes", "customer_regexes")(_compile_all)


class RuleExamples(_Model):
    """Sentences an agent might say that the rule must (hit) and must not (miss) match; run by `callqa rubric test`."""

    hit: list[NonEmptyText] = []
    miss: list[NonEmptyText] = []


class Position(_Model):
    """Restrict a rule to the first or last N utterances of the call, of each stage, or of each role
    ("the agent's first sentence must contain 工号": {first: 1, of: role})."""

    first: int | None = Field(default=None, ge=1)
    last: int | None = Field(default=None, ge=1)
    of: Literal["call", "stage", "role"] = "role"

    @model_validator(mode="after")
    def _one_end(self) -> Position:
        if (self.first is None) == (self.last is None):
            raise ValueError("give first or last")
        return self


class Match(_Model):
    """Keyword logic over an utterance's normalised text. Exactly one of: any / all / none (lists of
    phrases or nested matches), at_least + of, or regex (with an optional not_regex that cancels it)."""

    any: list[MatchTerm] | None = None
    all: list[MatchTerm] | None = None
    none: list[MatchTerm] | None = None
    at_least: int | None = Field(default=None, ge=1)
    of: list[MatchTerm] | None = None
    regex: str | None = None
    not_regex: str | None = None
    #: A pattern of the rubric's pattern language (README "Patterns"): ordered terms, gaps, classes.
    pattern: str | None = None
    #: With `pattern`: also match words that sound alike (ASR slips such as 公号 for 工号).
    pinyin: bool = False

    @model_validator(mode="after")
    def _one_operator(self) -> Match:
        given = [
            name for name in ("any", "all", "none", "at_least", "regex", "pattern") if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError("use exactly one of any, all, none, at_least (with of), regex, pattern")
        if self.pattern is not None:
            _check_patterns([self.pattern])
        if (self.at_least is None) != (self.of is None):
            raise ValueError("at_least and of go together")
        if self.not_regex is not None and self.regex is None:
            raise ValueError("not_regex goes with regex")
        for pattern in (self.regex, self.not_regex):
            if pattern is not None:
                _compile_all([pattern])
        return self


MatchTerm = Annotated[str, Field(min_length=1)] | Match
Match.model_rebuild()


class CheckExamples(_Model):
    # The docstring is this model's description in the JSON schema (rubrics/schema.json): one line, so no wrap.
    """Dialogues (ROLE:TEXT lines, timestamps for timing checks) that must (hit) or must not (miss) trigger the check."""  # noqa: E501

    hit: list[NonEmptyText] = []
    miss: list[NonEmptyText] = []


class _Check(_Model):
    id: RuleId
    category: NonEmptyText = "质检项"
    deduct: float = Field(ge=0)
    max_deduct: float | None = Field(default=None, ge=0)
    severity: Severity = "error"
    message: NonEmptyText
    suggestion: str | None = None
    #: Where the points are taken when a finding has no utterance of its own (a call-level metric, a
    #: phrase that never came); otherwise from the stage of the utterance it cites.
    stage: StageName = "结束"
    enabled: bool = True
    examples: CheckExamples = CheckExamples()


class Scope(_Model):
    roles: list[RoleName] = ["agent"]
    stages: list[StageName] = list(_ALL_STAGES)
    position: Position | None = None


class KeywordCheck(_Check):
    """`present`: some utterance in scope must match (else one finding); `absent`: every utterance in
    scope that matches is a finding. `exceptions` cancel a match they overlap or lie within
    `context_window` characters of (allow-contexts, for the near-misses)."""

    kind: Literal["keyword"]
    match: Match
    scope: Scope = Scope()
    expect: Literal["present", "absent"] = "absent"
    exceptions: list[NonEmptyText] = []
    context_window: int = Field(default=0, ge=0)


class Side(_Model):
    roles: list[RoleName]
    match: Match


class Reply(Side):
    within: int = Field(default=2, ge=1)  # utterances of these roles after the trigger


class ResponseCheck(_Check):
    """When `trigger` matches, a `response` must (expect: present) or must not (absent) follow within
    N utterances of the given roles. Findings cite the trigger line and the response line."""

    kind: Literal["response"]
    trigger: Side
    response: Reply
    expect: Literal["present", "absent"] = "present"


class SilenceCheck(_Check):
    """A gap between turns longer than `max_seconds` is a finding unless the agent bridged it: the
    agent's turn before the gap matches `bridge` (请您稍等 …)."""

    kind: Literal["silence"]
    max_seconds: float = Field(gt=0)
    bridge: Match | None = None


class SpeechRateCheck(_Check):
    """Characters per minute over a role's timed utterances, outside [min_cpm, max_cpm]."""

    kind: Literal["speech_rate"]
    role: RoleName = "agent"
    min_cpm: float | None = Field(default=None, ge=0)
    max_cpm: float | None = Field(default=None, ge=0)


class InterruptionCheck(_Check):
    """The agent starts more than `tolerance_seconds` before the customer's turn ends; more than
    `max_count` such interruptions are findings, one each."""

    kind: Literal["interruption"]
    tolerance_seconds: float = Field(default=0.5, ge=0)
    max_count: int = Field(default=0, ge=0)


class DurationCheck(_Check):
    kind: Literal["duration"]
    min_seconds: float | None = Field(default=None, ge=0)
    max_seconds: float | None = Field(default=None, ge=0)


class TalkRatioCheck(_Check):
    """The role's share of talk time (summed utterance durations), outside [min, max]."""

    kind: Literal["talk_ratio"]
    role: RoleName = "agent"
    min: float | None = Field(default=None, ge=0, le=1)
    max: float | None = Field(default=None, ge=0, le=1)


class RepetitionCheck(_Check):
    """The customer asks the same thing `min_count` times or more (similarity ≥ `similarity`, 0-1):
    a sign the agent is not answering."""

    kind: Literal["repetition"]
    role: RoleName = "customer"
    similarity: float = Field(default=0.75, gt=0, le=1)
    min_count: int = Field(default=3, ge=2)
    min_chars: int = Field(default=4, ge=1)  # shorter turns (好的, 嗯嗯) repeat by nature


Check = Annotated[
    KeywordCheck
    | ResponseCheck
    | SilenceCheck
    | SpeechRateCheck
    | InterruptionCheck
    | DurationCheck
    | TalkRatioCheck
    | RepetitionCheck,
    Field(discriminator="kind"),
]
TIMING_KINDS = ("silence", "speech_rate", "interruption", "duration", "talk_ratio")


class StageDef(_Model):
    name: StageName
    points: float = Field(ge=0)
    #: Where in the call (0 = start, 1 = end) the stage usually lies; a prior for segmentation.
    position: tuple[float, float] = (0.0, 1.0)
    cues: StageCues = StageCues()
    description: str = ""


class ForbiddenRule(_Model):
    id: RuleId
    category: NonEmptyText
    phrases: list[NonEmptyText] = []
    #: Patterns of the rubric's pattern language: `$WE … (管不了|负责不了)` (README "Patterns").
    patterns: list[NonEmptyText] = []
    regexes: list[NonEmptyText] = []
    #: Patterns (a plain phrase is one) of near-misses: a hit overlapped by one (in the same utterance),
    #: or with one within `context_window` characters of it, is not a violation (allow-contexts).
    exceptions: list[NonEmptyText] = []
    exception_regexes: list[NonEmptyText] = []
    context_window: int = Field(default=0, ge=0)
    roles: list[RoleName] = ["agent"]
    stages: list[StageName] = list(_ALL_STAGES)
    deduct: float = Field(ge=0)
    #: The most this rule can deduct in one call, however often it is hit.
    max_deduct: float | None = Field(default=None, ge=0)
    severity: Severity = "error"
    position: Position | None = None
    #: auto: phrases of one or two characters must start and end on jieba word boundaries.
    word_boundary: Literal["auto", "always", "never"] = "auto"
    #: Patterns and exceptions also match words that sound alike (ASR text: 公号 for 工号, 在见 for 再见).
    pinyin: bool = False
    message: NonEmptyText
    suggestion: str | None = None
    enabled: bool = True
    examples: RuleExamples = RuleExamples()

    _check_regexes = field_validator("regexes", "exception_regexes")(_compile_all)
    _check_patterns = field_validator("patterns", "exceptions")(_check_patterns)

    @model_validator(mode="after")
    def _has_patterns(self) -> ForbiddenRule:
        if not self.phrases and not self.patterns and not self.regexes:
            raise ValueError("a forbidden rule needs phrases, patterns or regexes")
        return self


Category = Literal["推诿", "拖延", "否定", "含糊", "冷漠", "强势"]


class DetectorCategory(_Model):
    #: Flag a line when the model's confidence that it is a forbidden expression reaches this (0-1).
    threshold: float | None = Field(default=None, gt=0, le=1)  # default: the model's own, chosen in training
    deduct: float = Field(ge=0)
    message: str | None = None  # default: the message of this rubric's phrase rule of the category
    suggestion: str | None = None
    #: Patterns (README "Patterns") of what makes a line not this category whatever the model says,
    #: e.g. a concrete alternative in the same line after 没办法: a team's correction, as data.
    exceptions: list[NonEmptyText] = []
    #: Patterns one of which a line must contain to be this category, whatever the model says: what
    #: the category is made of (a flat refusal says 不能, 办不了, 没得谈 …), so that a plain statement of
    #: fact the model scores high is not flagged as one. Empty: no such condition.
    requires: list[NonEmptyText] = []

    _check_exceptions = field_validator("exceptions", "requires")(_check_patterns)


class DetectorRule(_Model):
    """The trained forbidden-expression detector as a rule: it reads every agent line in its context
    and flags the categories listed here. Its findings are `forbidden` findings whose `source` is
    `model`, with the model's confidence and the words that drove it. A line a phrase or pattern
    rule already flagged is not flagged again."""

    id: RuleId
    #: `default` (shipped with callqa) or a model file from `callqa train forbidden`, relative to the rubric.
    model: NonEmptyText = "default"
    categories: dict[Category, DetectorCategory]
    roles: list[RoleName] = ["agent"]
    stages: list[StageName] = list(_ALL_STAGES)
    #: The most this rule can deduct in one call, however often it fires.
    max_deduct: float | None = Field(default=None, ge=0)
    severity: Severity = "error"
    enabled: bool = True
    examples: RuleExamples = RuleExamples()


class RecommendedScript(_Model):
    id: RuleId
    stage: StageName
    #: The label a labelled call gives the lines that perform this script (greeting, apology,
    #: empathy, time_commitment, closing_offer, thanks_bye): how `callqa eval` measures it.
    label: Literal["greeting", "apology", "empathy", "time_commitment", "closing_offer", "thanks_bye"] | None = None
    #: Model sentences; an utterance similar enough to any of them counts (paraphrases included).
    sentences: list[NonEmptyText] = Field(min_length=1)
    #: Regexes (on normalised text) that count as saying the script outright, e.g. a concrete time.
    regexes: list[NonEmptyText] = []
    #: Patterns (README "Patterns") that count as saying the script outright, in any words they allow.
    patterns: list[NonEmptyText] = []
    #: Words the utterance must contain as well, e.g. 工号 for the greeting.
    must_include: list[NonEmptyText] = []
    threshold: float = Field(default=0.8, gt=0, le=1)
    points: float = Field(ge=0)
    #: A bonus script earns points when said but costs nothing when not (the stage maximum still caps).
    bonus: bool = False
    #: A required script not said costs `deduct` (default: its points) on top of the points not earned,
    #: and the finding explains the near-miss: the closest utterance, its similarity, the words missing.
    required: bool = False
    deduct: float | None = Field(default=None, ge=0)
    position: Position | None = None
    #: Expected only when the call has its stage: a call that rightly skips the stage (a simple
    #: enquiry has no 转化) is given the points instead of losing them.
    only_if_stage_present: bool = False
    #: Said in `stage`, scored in this stage: a greeting after a chat's order card (切入) still earns the
    #: greeting's points in 问候, and the 问候 scripts of the same label are then not reported missed.
    counts_for: StageName | None = None
    roles: list[RoleName] = ["agent"]
    message: str = ""
    enabled: bool = True
    examples: RuleExamples = RuleExamples()

    _check_regexes = field_validator("regexes")(_compile_all)
    _check_patterns = field_validator("patterns")(_check_patterns)


class Grade(_Model):
    name: NonEmptyText
    min: float = Field(ge=0)


class Speakers(_Model):
    """Regexes (matched at the start of the Simplified, lower-cased speaker label) that give each role.
    `system` is checked first, then `agent`, then `customer`: 客户经理 is an agent, 客户 a customer."""

    system: list[NonEmptyText] = [
        r"系统",
        r"机器人",
        r"智能助手",
        r"智能客服",
        r"自动回复",
        r"小助手",
        r"ivr",
        r"bot",
        r"system",
        r"\S{0,6}(?:机器人|小助手|智能助手)$",  # 客服机器人, 京东小助手
    ]
    agent: list[NonEmptyText] = [
        r"客服",
        r"坐席",
        r"座席",
        r"工号",
        r"话务员",
        r"接线员",
        r"服务代表",
        r"客户经理",
        r"专员",
        r"主管",
        r"组长",
        r"值班经理",
        r"技术支持",
        r"技术员",
        r"店小二",
        r"小二",
        r"掌柜",
        r"卖家",
        r"\S{1,4}(?:专员|经理|主管|客服)$",  # 王经理, 投诉专员, 在线客服
        r"agent",
        r"csr",
        r"rep(?![a-z])",
        r"representative",
        r"operator",
        r"support",
        r"seller",
        r"staff",
    ]
    customer: list[NonEmptyText] = [
        r"客户",
        r"用户",
        r"顾客",
        r"来电",
        r"消费者",
        r"旅客",
        r"乘客",
        r"买家",
        r"会员",
        r"业主",
        r"住户",
        r"家长",
        r"市民",
        r"读者",
        r"车主",
        r"持卡人",
        r"参保人",
        r"患者",
        r"客人",
        r"访客",
        r"游客",
        r"\S{1,3}(?:先生|女士|小姐)$",  # 王先生: the agent addresses the customer so
        r"网友",
        r"customer",
        r"caller",
        r"user",
        r"client",
        r"visitor",
        r"guest",
        r"buyer",
    ]

    _check_regexes = field_validator("system", "agent", "customer")(_compile_all)


DEFAULT_GRADES = [
    Grade(name="优秀", min=90),
    Grade(name="良好", min=80),
    Grade(name="合格", min=60),
    Grade(name="不合格", min=0),
]


class Rubric(_Model):
    name: NonEmptyText
    version: str
    description: str = ""
    extends: str | None = None
    pass_mark: float = Field(default=60, ge=0)
    grades: list[Grade] = DEFAULT_GRADES
    stages: list[StageDef]
    forbidden: list[ForbiddenRule] = []
    #: Trained detectors of forbidden expressions (README "Forbidden expressions: the detector").
    detectors: list[DetectorRule] = []
    recommended: list[RecommendedScript] = []
    checks: list[Check] = []
    speakers: Speakers = Speakers()
    #: What splits calls into stages: `default` (the trained model shipped with callqa), `cues` (this
    #: rubric's stage cues and positions alone, no model), or a model file (`callqa train stages`),
    #: relative to the rubric file given to callqa.
    stage_model: NonEmptyText = "default"
    #: Filler words dropped from transcript text before matching (ASR output is full of them). Not 唔,
    #: which is Cantonese for "not" (做唔到): dropping it would turn a refusal into a promise.
    fillers: list[NonEmptyText] = ["嗯", "呃"]
    #: Words the tokenizer keeps whole, so a short phrase never matches inside them (可能 in 不可能).
    words: list[NonEmptyText] = []
    #: Named word classes that patterns share: `$WE` in a pattern stands for any of classes.WE.
    classes: dict[Annotated[str, Field(pattern=r"^[A-Za-z_]\w*$")], list[NonEmptyText]] = {}

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int | float) else value

    @property
    def max_score(self) -> float:
        return sum(stage.points for stage in self.stages)

    def stage(self, name: str) -> StageDef:
        return next(s for s in self.stages if s.name == name)


# --- loading -------------------------------------------------------------------------------------

_MESSAGES = {
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list",
    "tuple_type": "must be a list of two numbers",
    "model_type": "must be a mapping",
    "dict_type": "must be a mapping",
    "missing": "is required",
    "extra_forbidden": "unknown field",
    "literal_error": None,  # pydantic's own text lists the allowed values
}


def _format_loc(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "rubric"


def _error_message(error: ErrorDetails) -> str:
    message = _MESSAGES.get(error["type"])
    if message is None:
        message = error["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            message = message.removeprefix(prefix)
        message = message[:1].lower() + message[1:]
    return message


def default_rubric_path() -> Path:
    """The built-in rubric: inside the installed package, or rubrics/ of a source checkout."""
    packaged = resources.files("callqa") / "rubrics" / "default.yaml"
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "rubrics" / "default.yaml"


_LIST_KEYS = {"stages": "name", "forbidden": "id", "detectors": "id", "recommended": "id", "checks": "id"}


def _merge(parent: dict[str, Any], child: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[int | None]]]:
    """Overlay `child` on `parent`; also return, per list, which child item each merged item came from."""
    merged = dict(parent)
    origins: dict[str, list[int | None]] = {}
    for key, value in child.items():
        if key == "classes" and isinstance(value, dict) and isinstance(parent.get(key), dict):
            merged[key] = {**parent[key], **value}  # classes are shared: a child adds or redefines some
            continue
        id_key = _LIST_KEYS.get(key)
        if id_key is None or not isinstance(value, list):
            merged[key] = value
            continue
        items = [dict(item) for item in parent.get(key, [])]
        origin: list[int | None] = [None] * len(items)
        position = {item[id_key]: i for i, item in enumerate(items)}
        for child_index, item in enumerate(value):
            if isinstance(item, dict) and item.get(id_key) in position:
                i = position[item[id_key]]
                merged_item = {**items[i], **item}
                if isinstance(item.get("categories"), dict) and isinstance(items[i].get("categories"), dict):
                    # A detector's categories by name, as classes: a child sets or adds some, keeps the rest;
                    # and within a category, the settings it names (a child's {deduct: 10} keeps the
                    # parent's exceptions and requires; `requires: []` lifts them explicitly).
                    parents = items[i]["categories"]
                    merged_item["categories"] = {
                        **parents,
                        **{
                            name: {**parents[name], **setting}
                            if isinstance(setting, dict) and isinstance(parents.get(name), dict)
                            else setting
                            for name, setting in item["categories"].items()
                        },
                    }
                items[i] = merged_item
                origin[i] = child_index
            else:
                items.append(item)
                origin.append(child_index)
        merged[key] = items
        origins[key] = origin
    return merged, origins


def _validation_problems(
    doc: YamlDocument, exc: ValidationError, origins: dict[str, list[int | None]]
) -> list[RubricError]:
    return [_problem(doc, tuple(error["loc"]), _error_message(error), origins) for error in exc.errors()]


def _problem(
    doc: YamlDocument, loc: tuple[str | int, ...], message: str, origins: dict[str, list[int | None]]
) -> RubricError:
    """A problem at `loc` of the merged rubric, placed at its line in the file (the child's own list
    index for a list the child extends; the `extends:` line for what the extended rubric holds)."""
    if len(loc) >= 2 and loc[0] in origins and isinstance(loc[1], int):
        child_index = origins[str(loc[0])][loc[1]] if loc[1] < len(origins[str(loc[0])]) else None
        if child_index is None:
            return RubricError(
                doc.path, f"{_format_loc(loc)}: {message} (in the extended rubric)", line=doc.line_of(("extends",))
            )
        loc = (loc[0], child_index, *loc[2:])
    return RubricError(doc.path, f"{_format_loc(loc)}: {message}", line=doc.line_of(loc))


def _check_matches(check: Check) -> list[tuple[tuple[str | int, ...], Match]]:
    """A check's keyword expressions, each with where it is in the check."""
    if isinstance(check, KeywordCheck):
        return [(("match",), check.match)]
    if isinstance(check, ResponseCheck):
        return [(("trigger", "match"), check.trigger.match), (("response", "match"), check.response.match)]
    if isinstance(check, SilenceCheck) and check.bridge is not None:
        return [(("bridge",), check.bridge)]
    return []


def _match_patterns(match: Match, where: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    """Every `pattern:` of a keyword expression and of the expressions nested in it, with its location."""
    if match.pattern is not None:
        return [((*where, "pattern"), match.pattern)]
    found: list[tuple[tuple[str | int, ...], str]] = []
    for name in ("any", "all", "none", "of"):
        for j, term in enumerate(getattr(match, name) or []):
            if isinstance(term, Match):
                found += _match_patterns(term, (*where, name, j))
    return found


def _undefined_classes(rubric: Rubric) -> list[tuple[tuple[str | int, ...], str]]:
    """Every `$NAME` a pattern uses must be one of `classes:`; each miss at the pattern's own line."""
    used: list[tuple[tuple[str | int, ...], str, str]] = []
    for i, rule in enumerate(rubric.forbidden):
        for field in ("patterns", "exceptions"):
            used += [(("forbidden", i, field, j), rule.id, p) for j, p in enumerate(getattr(rule, field))]
    for i, script in enumerate(rubric.recommended):
        used += [(("recommended", i, "patterns", j), script.id, p) for j, p in enumerate(script.patterns)]
    for i, detector in enumerate(rubric.detectors):
        for category, setting in detector.categories.items():
            for field in ("exceptions", "requires"):
                where = ("detectors", i, "categories", category, field)
                used += [((*where, j), detector.id, p) for j, p in enumerate(getattr(setting, field))]
    for i, check in enumerate(rubric.checks):
        for in_check, match in _check_matches(check):
            used += [(("checks", i, *loc), check.id, p) for loc, p in _match_patterns(match, in_check)]
    errors = []
    for loc, rule_id, pattern in used:
        missing = class_names(pattern) - set(rubric.classes)
        if missing:
            errors.append((loc, f"{rule_id}: pattern {pattern!r} uses undefined class ${sorted(missing)[0]}"))
    return errors


def _semantic_errors(rubric: Rubric) -> list[tuple[tuple[str | int, ...], str]]:
    """Checks that span several fields; each with the location it is about."""
    errors: list[tuple[tuple[str | int, ...], str]] = []
    names = [s.name for s in rubric.stages]
    if names != list(STAGES):
        errors.append((("stages",), f"must list the five stages in order: {' '.join(STAGES)} (got {' '.join(names)})"))
        return errors
    seen: set[str] = set()
    for key in ("forbidden", "detectors", "recommended", "checks"):
        for i, rule in enumerate(getattr(rubric, key)):
            if rule.id in seen:
                errors.append(((key, i, "id"), f"duplicate rule id '{rule.id}'"))
            seen.add(rule.id)
    for stage in rubric.stages:
        script_points = sum(s.points for s in rubric.recommended if s.enabled and not s.bonus and s.stage == stage.name)
        if script_points > stage.points:
            errors.append(
                (
                    ("stages", names.index(stage.name), "points"),
                    f"{stage.name} is worth {stage.points:g} but its recommended scripts add up to {script_points:g}",
                )
            )
    for i, stage in enumerate(rubric.stages):
        lo, hi = stage.position
        if not 0 <= lo <= hi <= 1:
            errors.append((("stages", i, "position"), "must be [start, end] with 0 <= start <= end <= 1"))
    for i, grade in enumerate(rubric.grades):
        if i and grade.min >= rubric.grades[i - 1].min:
            errors.append((("grades", i, "min"), "grades must be listed from the highest min down"))
    if rubric.pass_mark > rubric.max_score:
        errors.append((("pass_mark",), f"is above the maximum score {rubric.max_score:g}"))
    errors += _undefined_classes(rubric)
    return errors


def _missing_parent(doc: YamlDocument, extends: str, parent_path: Path) -> RubricError | None:
    """The error when the rubric `extends:` names is not a file: the mistake is on that line of this
    rubric, and an error on line 1 of a file that does not exist is one no editor or CI can show."""
    if parent_path.is_file():
        return None
    what = "is a directory, not a rubric" if parent_path.is_dir() else "no such file"
    return RubricError(
        doc.path,
        f"extends: {extends}: {what}",
        line=doc.line_of(("extends",)),
        hint=f"looked for {parent_path}: a path is relative to this rubric's folder, or 'default'",
    )


def rubric_problems(
    path: str | Path | None = None, *, _chain: tuple[Path, ...] = ()
) -> tuple[Rubric | None, str, list[RubricError]]:
    """Load, merge (`extends`) and validate a rubric, collecting every problem instead of stopping at
    the first. Returns the rubric (None when there are problems), the path it came from and the problems."""
    path = default_rubric_path() if path is None or str(path) == "default" else Path(path)
    try:
        doc = load_yaml(path)
    except RubricError as exc:
        return None, str(path), [exc]
    if not isinstance(doc.data, dict):
        return (
            None,
            doc.path,
            [RubricError(doc.path, "a rubric must be a YAML mapping (name, version, stages, …)", line=1)],
        )
    data: dict[str, Any] = doc.data
    origins: dict[str, list[int | None]] = {}
    extends = data.get("extends")
    if extends is not None:
        if not isinstance(extends, str):
            return (
                None,
                doc.path,
                [RubricError(doc.path, "extends: must be a path or 'default'", line=doc.line_of(("extends",)))],
            )
        parent_path = default_rubric_path() if extends == "default" else (path.parent / extends)
        missing = _missing_parent(doc, extends, parent_path)
        if missing is not None:
            return None, doc.path, [missing]
        resolved = parent_path.resolve()
        if resolved in _chain or resolved == path.resolve():
            return (
                None,
                doc.path,
                [RubricError(doc.path, f"extends: cycle through {parent_path}", line=doc.line_of(("extends",)))],
            )
        parent, _, problems = rubric_problems(parent_path, _chain=(*_chain, path.resolve()))
        if parent is None:
            return None, doc.path, problems
        data, origins = _merge(parent.model_dump(exclude={"extends"}), data)
    try:
        rubric = Rubric.model_validate(data)
    except ValidationError as exc:
        return None, doc.path, _validation_problems(doc, exc, origins)
    problems = [_problem(doc, loc, message, origins) for loc, message in _semantic_errors(rubric)]
    return (None if problems else rubric), doc.path, problems


def load_rubric(path: str | Path | None = None) -> tuple[Rubric, str]:
    """Load a rubric (the built-in default when `path` is None); raise its first problem, if any."""
    rubric, source, problems = rubric_problems(path)
    if problems:
        raise problems[0]
    assert rubric is not None  # rubric_problems gives a rubric whenever there are no problems
    return rubric, source


def rubric_json_schema() -> dict[str, Any]:
    """JSON Schema of the rubric format. A rubric that `extends` another needs none of the top-level
    fields, so they are required only when `extends` is absent; and the entries of the lists `_merge`
    merges by key (stages by `name`, rules, scripts, checks and detectors by `id`) need only that key
    (`{id: forbidden.pressure, enabled: false}` changes one field of the parent's), so full entries
    are required only then too."""
    schema = Rubric.model_json_schema()
    required = schema.pop("required", [])
    full: dict[str, Any] = {}
    partial: dict[str, Any] = {}
    for name, key in _LIST_KEYS.items():
        prop = schema["properties"][name]
        full[name] = {"items": prop.pop("items")}
        partial[name] = {"items": _partial_entry(full[name]["items"], schema["$defs"], key)}
    schema["if"] = {"not": {"required": ["extends"]}}
    schema["then"] = {"required": required, "properties": full}
    schema["else"] = {"properties": partial}
    schema["title"] = "callqa rubric"
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def _partial_entry(item: dict[str, Any], defs: dict[str, Any], key: str) -> dict[str, Any]:
    """An entry that names its `key` and any fields of the entry kinds `item` stands for (a field
    whose schema differs between kinds, such as a check's `kind`, is left open)."""
    refs = [item["$ref"]] if "$ref" in item else [option["$ref"] for option in item.get("oneOf", [])]
    properties: dict[str, Any] = {}
    for ref in refs:
        for field, field_schema in defs[ref.rsplit("/", 1)[-1]].get("properties", {}).items():
            properties[field] = field_schema if properties.get(field, field_schema) == field_schema else {}
    return {"type": "object", "required": [key], "properties": properties}
