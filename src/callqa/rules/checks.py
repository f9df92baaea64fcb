"""Rules beyond phrase lists: keyword logic, position, trigger -> response, timing, repetition.

Each check in the rubric's `checks:` runs over a segmented call and returns findings that cite the
lines they are about (a response check cites the trigger line too). Timing checks run only where the
transcript has times; otherwise the report notes that they were skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from callqa.model import Finding, Utterance
from callqa.rules.patterns import compile_pattern, fold_homophones
from callqa.rules.schema import (
    TIMING_KINDS,
    Check,
    DurationCheck,
    InterruptionCheck,
    KeywordCheck,
    Match,
    Position,
    RepetitionCheck,
    ResponseCheck,
    SilenceCheck,
    SpeechRateCheck,
    TalkRatioCheck,
)
from callqa.rules.spans import near, occurrences, script_key
from callqa.text.normalize import normalize_phrase

Span = tuple[int, int]
_NOT_SPOKEN = re.compile(r"[\W_]+")


class CompiledMatch:
    """A keyword expression ready to run on normalised text. `spans(text)` is None when it does not
    match, else the spans that made it match (empty for `none`)."""

    def __init__(self, match: Match | str, classes: Mapping[str, Sequence[str]]):
        if isinstance(match, str):
            self.op, self.phrase = "phrase", normalize_phrase(match)
            return
        if match.pattern is not None:
            self.op, self.pattern = "pattern", compile_pattern(match.pattern, classes, pinyin=match.pinyin)
            return
        if match.regex is not None:
            self.op = "regex"
            self.regex = re.compile(match.regex)
            self.not_regex = re.compile(match.not_regex) if match.not_regex else None
            return
        self.op = next(name for name in ("any", "all", "none", "at_least") if getattr(match, name) is not None)
        terms: list[str | Match] | None = match.of if self.op == "at_least" else getattr(match, self.op)
        assert terms is not None  # Match's validator: the operator found is set (and at_least comes with of)
        self.children = [CompiledMatch(term, classes) for term in terms]
        self.at_least = match.at_least or 0  # read only when op is at_least, which the validator makes >= 1
        # Most operators list plain phrases (a trigger's dozens of ways to say "I waited"): those are
        # tested in place, without a call per phrase for the many lines that hold none of them.
        plain = all(child.op == "phrase" for child in self.children)
        self.phrases = tuple(child.phrase for child in self.children) if plain else None

    def spans(self, text: str) -> list[Span] | None:
        if self.op == "phrase":
            return occurrences(text, self.phrase) or None
        if self.op == "pattern":
            return self.pattern.spans(text, fold_homophones(text) if self.pattern.pinyin else None) or None
        if self.op == "regex":
            if self.not_regex is not None and self.not_regex.search(text):
                return None
            found = [m.span() for m in self.regex.finditer(text) if m.end() > m.start()]
            return found or None
        if self.phrases is not None:
            results = [occurrences(text, p) if p and p in text else None for p in self.phrases]
        else:
            results = [child.spans(text) for child in self.children]
        hits = [r for r in results if r is not None]
        if self.op == "none":
            return [] if not hits else None
        needed = {"any": 1, "all": len(results), "at_least": self.at_least}[self.op]
        return [span for r in hits for span in r] if len(hits) >= needed else None


def in_position(
    utterances: Sequence[Utterance], stages: Sequence[str], candidates: list[int], position: Position | None
) -> list[int]:
    """The candidate utterance indices that lie in the first/last N of the call, of their stage, or of
    their role (counted among the candidates, which already carry the role and stage filters)."""
    if position is None:
        return candidates
    if position.of == "call":
        order = list(range(len(utterances)))
        keep = set(_ends(order, position))
        return [i for i in candidates if i in keep]
    groups: dict[str, list[int]] = {}
    for i in candidates:
        key = stages[i] if position.of == "stage" else utterances[i].role
        groups.setdefault(key, []).append(i)
    keep = {i for members in groups.values() for i in _ends(members, position)}
    return [i for i in candidates if i in keep]


def _ends(members: list[int], position: Position) -> list[int]:
    """The first or the last N of `members`."""
    if position.first:
        return members[: position.first]
    assert position.last is not None  # Position's validator: exactly one of first and last
    return members[-position.last :]


@dataclass(frozen=True, slots=True)
class CompiledCheck:
    check: Check  # one of the rubric's check models
    matches: dict[str, CompiledMatch]
    exceptions: tuple[str, ...] = ()


def compile_check(check: Check, classes: Mapping[str, Sequence[str]]) -> CompiledCheck:
    matches: dict[str, CompiledMatch] = {}
    if isinstance(check, KeywordCheck):
        matches["match"] = CompiledMatch(check.match, classes)
    elif isinstance(check, ResponseCheck):
        matches["trigger"] = CompiledMatch(check.trigger.match, classes)
        matches["response"] = CompiledMatch(check.response.match, classes)
    elif isinstance(check, SilenceCheck) and check.bridge is not None:
        matches["bridge"] = CompiledMatch(check.bridge, classes)
    exceptions = tuple(normalize_phrase(e) for e in getattr(check, "exceptions", ()))
    return CompiledCheck(check, matches, exceptions)


def _finding(
    check: Check,
    utterance: Utterance | None,
    stage: str,
    message: str,
    *,
    matched: str = "",
    spans: list[Span] | None = None,
    trigger: Utterance | None = None,
) -> Finding:
    return Finding(
        rule=check.id,
        kind=check.kind,
        category=check.category,
        severity=check.severity,
        utterance=utterance.index if utterance else None,
        line=utterance.line if utterance else None,
        stage=stage,
        role=utterance.role if utterance else None,
        matched=matched,
        points=-check.deduct,
        nominal_points=-check.deduct,
        message=message,
        suggestion=check.suggestion,
        spans=[utterance.original_span(*s) for s in spans or []] if utterance else [],
        trigger_utterance=trigger.index if trigger else None,
        trigger_line=trigger.line if trigger else None,
    )


def _matched_text(utterance: Utterance, spans: list[Span]) -> str:
    if not spans:
        return ""
    start, end = utterance.original_span(*spans[0])
    return utterance.text[start:end]


def _cancelled(compiled: CompiledCheck, text: str, span: Span) -> bool:
    """An allow-context: an exception phrase overlapping the match or within the check's context window."""
    assert isinstance(compiled.check, KeywordCheck)  # the only check with allow-contexts
    window = compiled.check.context_window
    return any(near(a, b, *span, window) for phrase in compiled.exceptions for a, b in occurrences(text, phrase))


def _keyword(compiled: CompiledCheck, utterances: Sequence[Utterance], stages: Sequence[str]) -> list[Finding]:
    check = compiled.check
    assert isinstance(check, KeywordCheck)  # run_checks dispatches on check.kind
    scope = [i for i, u in enumerate(utterances) if u.role in check.scope.roles and stages[i] in check.scope.stages]
    scope = in_position(utterances, stages, scope, check.scope.position)
    hits: list[tuple[int, list[Span]]] = []
    for i in scope:
        spans = compiled.matches["match"].spans(utterances[i].norm)
        if spans is not None:
            kept = [s for s in spans if not _cancelled(compiled, utterances[i].norm, s)]
            if kept or not spans:
                hits.append((i, kept))
    if check.expect == "absent":
        return [
            _finding(
                check, utterances[i], stages[i], check.message, matched=_matched_text(utterances[i], spans), spans=spans
            )
            for i, spans in hits
        ]
    if hits:
        return []
    first = utterances[scope[0]] if scope else None
    return [_finding(check, first, stages[scope[0]] if scope else check.stage, check.message)]


def _response(compiled: CompiledCheck, utterances: Sequence[Utterance], stages: Sequence[str]) -> list[Finding]:
    check = compiled.check
    assert isinstance(check, ResponseCheck)  # run_checks dispatches on check.kind
    findings: list[Finding] = []
    blocked_until = -1
    reported: set[int] = set()
    for i, utterance in enumerate(utterances):
        if i <= blocked_until or utterance.role not in check.trigger.roles:
            continue
        trigger_spans = compiled.matches["trigger"].spans(utterance.norm)
        if trigger_spans is None:
            continue
        window = [j for j in range(i + 1, len(utterances)) if utterances[j].role in check.response.roles]
        window = window[: check.response.within]
        answers = [(j, compiled.matches["response"].spans(utterances[j].norm)) for j in window]
        replies = [(j, spans) for j, spans in answers if spans is not None]
        said = f"第{utterance.line}行「{_matched_text(utterance, trigger_spans)}」"
        if check.expect == "present" and not replies:
            findings.append(
                _finding(
                    check,
                    utterance,
                    stages[i],
                    f"{check.message}({said}之后 {check.response.within} 句内没有回应)",
                    matched=_matched_text(utterance, trigger_spans),
                    spans=trigger_spans,
                )
            )
            blocked_until = window[-1] if window else i
        elif check.expect == "absent":
            for j, spans in replies:
                if j not in reported:
                    reported.add(j)
                    findings.append(
                        _finding(
                            check,
                            utterances[j],
                            stages[j],
                            f"{check.message}(回应{said})",
                            matched=_matched_text(utterances[j], spans),
                            spans=spans,
                            trigger=utterance,
                        )
                    )
    return findings


def _timed(utterances: Sequence[Utterance]) -> bool:
    return any(u.start is not None for u in utterances)


def _duration(u: Utterance) -> float | None:
    return u.end - u.start if u.start is not None and u.end is not None and u.end >= u.start else None


def _silence(compiled: CompiledCheck, utterances: Sequence[Utterance], stages: Sequence[str]) -> list[Finding]:
    check = compiled.check
    assert isinstance(check, SilenceCheck)  # run_checks dispatches on check.kind
    findings = []
    for i in range(1, len(utterances)):
        before, after = utterances[i - 1], utterances[i]
        ended = before.end if before.end is not None else before.start
        if ended is None or after.start is None:
            continue
        gap = after.start - ended
        if gap <= check.max_seconds:
            continue
        bridged = False
        if "bridge" in compiled.matches:
            agent_before = next((utterances[j] for j in range(i - 1, -1, -1) if utterances[j].role == "agent"), None)
            bridged = agent_before is not None and compiled.matches["bridge"].spans(agent_before.norm) is not None
        if not bridged:
            findings.append(_finding(check, after, stages[i], f"{check.message}(第{after.line}行前沉默 {gap:.0f} 秒)"))
    return findings


def _speech_rate(compiled: CompiledCheck, utterances: Sequence[Utterance], stages: Sequence[str]) -> list[Finding]:
    check = compiled.check
    assert isinstance(check, SpeechRateCheck)  # run_checks dispatches on check.kind
    durations = [(u, _duration(u)) for u in utterances if u.role == check.role]
    timed = [(u, d) for u, d in durations if d]
    seconds = sum(d for _, d in timed)
    if seconds <= 0:
        return []
    rate = sum(len(_NOT_SPOKEN.sub("", u.norm)) for u, _ in timed) / (seconds / 60)
    if (check.min_cpm is not None and rate < check.min_cpm) or (check.max_cpm is not None and rate > check.max_cpm):
        upper = "∞" if check.max_cpm is None else f"{check.max_cpm:g}"
        bounds = f"{check.min_cpm or 0:g}–{upper}"  # what the check allows; the suggestion may name an ideal
        return [_finding(check, None, check.stage, f"{check.message}(每分钟 {rate:.0f} 字,允许 {bounds})")]
    return []


def _interruption(compiled: CompiledCheck, utterances: Sequence[Utterance], stages: Sequence[str]) -> list[Finding]:
    check = compiled.check
    assert isinstance(check, InterruptionCheck)  # run_checks dispatches on check.kind
    cuts: list[tuple[int, float]] = []  # the agent's utterance, and how early it started
    for i in range(1, len(utterances)):
        before, after = utterances[i - 1], utterances[i]
        if (
            after.role == "agent"
            and before.role == "customer"
            and after.start is not None
            and before.end is not None
            and after.start < before.end - check.tolerance_seconds
        ):
            cuts.append((i, before.end - after.start))
    return [
        _finding(
            check,
            utterances[i],
            stages[i],
            f"{check.message}(第{utterances[i].line}行在客户说完前 {early:.1f} 秒开口)",
            trigger=utterances[i - 1],
        )
        for i, early in cuts[check.max_count :]
    ]


def _call_duration(compiled: CompiledCheck, utterances: Sequence[Utterance], stages: Sequence[str]) -> list[Finding]:
    check = compiled.check
    assert isinstance(check, DurationCheck)  # run_checks dispatches on check.kind
    starts = [u.start for u in utterances if u.start is not None]
    ends = [u.end if u.end is not None else u.start for u in utterances if u.start is not None]
    if not starts:
        return []
    length = max(ends) - min(starts)
    if (check.min_seconds is not None and length < check.min_seconds) or (
        check.max_seconds is not None and length > check.max_seconds
    ):
        return [_finding(check, None, check.stage, f"{check.message}(通话时长 {length:.0f} 秒)")]
    return []


def _talk_ratio(compiled: CompiledCheck, utterances: Sequence[Utterance], stages: Sequence[str]) -> list[Finding]:
    check = compiled.check
    assert isinstance(check, TalkRatioCheck)  # run_checks dispatches on check.kind
    talk = [(u.role, _duration(u)) for u in utterances]
    total = sum(d for _, d in talk if d)
    if total <= 0:
        return []
    share = sum(d for role, d in talk if d and role == check.role) / total
    if (check.min is not None and share < check.min) or (check.max is not None and share > check.max):
        return [_finding(check, None, check.stage, f"{check.message}(说话时长占比 {share:.0%})")]
    return []


def _repetition(compiled: CompiledCheck, utterances: Sequence[Utterance], stages: Sequence[str]) -> list[Finding]:
    check = compiled.check
    assert isinstance(check, RepetitionCheck)  # run_checks dispatches on check.kind
    clusters: list[list[int]] = []
    for i, u in enumerate(utterances):
        key = script_key(u.norm)
        if u.role != check.role or len(key) < check.min_chars:
            continue
        for cluster in clusters:
            if fuzz.ratio(script_key(utterances[cluster[0]].norm), key) / 100 >= check.similarity:
                cluster.append(i)
                break
        else:
            clusters.append([i])
    findings = []
    for cluster in clusters:
        if len(cluster) >= check.min_count:
            last = utterances[cluster[-1]]
            lines = "、".join(str(utterances[i].line) for i in cluster)
            findings.append(
                _finding(
                    check,
                    last,
                    stages[cluster[-1]],
                    f"{check.message}(同一问题问了 {len(cluster)} 次:第{lines}行)",
                    matched=last.text,
                    trigger=utterances[cluster[0]],
                )
            )
    return findings


_RUNNERS = {
    "keyword": _keyword,
    "response": _response,
    "silence": _silence,
    "speech_rate": _speech_rate,
    "interruption": _interruption,
    "duration": _call_duration,
    "talk_ratio": _talk_ratio,
    "repetition": _repetition,
}


def run_checks(
    checks: list[CompiledCheck], utterances: Sequence[Utterance], stages: Sequence[str]
) -> tuple[list[Finding], list[str]]:
    """Findings of every check, and notes about the checks that could not run (no times)."""
    findings: list[Finding] = []
    skipped = []
    timed = _timed(utterances)
    for compiled in checks:
        if compiled.check.kind in TIMING_KINDS and not timed:
            skipped.append(compiled.check.id)
            continue
        findings.extend(_RUNNERS[compiled.check.kind](compiled, utterances, stages))
    notes = [f"转写没有时间戳,时间类检查未执行:{'、'.join(skipped)}"] if skipped else []
    return findings, notes
