"""Turn a segmented call and its rule hits into scores and findings.

Stage score = base + points of recommended scripts said - deductions of forbidden hits, gains kept
within the stage maximum; base = stage maximum - the stage's (non-bonus) script points. A rule deducts at
most `max_deduct` per call. Caps are applied hit by hit, in call order, and each finding records the
points it actually moved. A stage shows its base plus its findings' points, or 0 if that is below 0;
the total is every stage's base plus its findings' points, never below 0. A fatal hit sets it to 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from callqa.model import (
    STAGES,
    Driver,
    Finding,
    Report,
    ReportRoles,
    ReportRubric,
    ReportSpeaker,
    ReportTranscript,
    ReportTransfer,
    ReportUtterance,
    Segmentation,
    StageScore,
    Transcript,
    Utterance,
)
from callqa.rules.checks import in_position, run_checks
from callqa.rules.compiled import CompiledRubric, ScriptMatch
from callqa.rules.detector_features import call_context
from callqa.rules.schema import ForbiddenRule, RecommendedScript, Severity
from callqa.rules.spans import occurrences


def _forbidden_finding(
    utterance: Utterance,
    stage: str,
    rule_id: str,
    category: str,
    severity: Severity,
    deduct: float,
    message: str,
    suggestion: str | None,
    **fields: Any,
) -> Finding:
    """A forbidden expression on one utterance, made by a phrase/pattern rule or (source=model) a detector."""
    return Finding(
        rule=rule_id,
        kind="forbidden",
        category=category,
        severity=severity,
        utterance=utterance.index,
        line=utterance.line,
        stage=stage,
        role=utterance.role,
        points=-deduct,
        nominal_points=-deduct,
        message=message,
        suggestion=suggestion,
        **fields,
    )


def _forbidden_findings(transcript: Transcript, segmentation: Segmentation, compiled: CompiledRubric) -> list[Finding]:
    findings = []
    utterances, stages = transcript.utterances, segmentation.stages
    for utterance, stage in zip(utterances, stages, strict=True):
        for rule_index, hits in compiled.forbidden_hits(utterance, stage).items():
            rule = compiled.rules[rule_index].rule
            if rule.position is not None and not _in_position(utterances, stages, utterance.index, rule):
                continue
            findings.append(
                _forbidden_finding(
                    utterance,
                    stage,
                    rule.id,
                    rule.category,
                    rule.severity,
                    rule.deduct,
                    rule.message,
                    rule.suggestion,
                    matched=utterance.text[slice(*utterance.original_span(hits[0].start, hits[0].end))],
                    spans=[utterance.original_span(h.start, h.end) for h in hits],
                )
            )
    return findings


def _detector_findings(
    transcript: Transcript, segmentation: Segmentation, compiled: CompiledRubric, flagged: set[int]
) -> list[Finding]:
    """What each trained detector flags on lines no phrase or pattern rule flagged already."""
    findings = []
    utterances, stages = transcript.utterances, segmentation.stages
    context = call_context(utterances) if compiled.detectors else None
    for detector in compiled.detectors:
        rule, model = detector.rule, detector.model
        candidates = [
            i
            for i, (utterance, stage) in enumerate(zip(utterances, stages, strict=True))
            if i not in flagged and utterance.role in rule.roles and stage in rule.stages
        ]
        for i, confidence in zip(candidates, model.confidences(utterances, candidates, context), strict=True):
            utterance, stage = utterances[i], stages[i]
            verdict = detector.flag(utterances, i, context, confidence)
            if verdict is None:
                continue
            prediction = verdict.prediction
            flagged.add(utterance.index)
            # Highlight the n-grams that drove it (single characters say little to a reviewer).
            words = [name[2:].strip("^$") for name, _ in prediction.drivers if name.startswith("c:")]
            words = [w for w in words if len(w) >= 2]
            spans = sorted(
                {utterance.original_span(a, b) for w in words if w for a, b in occurrences(utterance.norm, w)}
            )
            findings.append(
                _forbidden_finding(
                    utterance,
                    stage,
                    rule.id,
                    verdict.category,
                    rule.severity,
                    verdict.deduct,
                    verdict.message,
                    verdict.suggestion,
                    matched=utterance.text,
                    spans=spans,
                    source="model",
                    confidence=round(prediction.confidence, 3),
                    category_confidence=round(prediction.category_probability, 3),
                    evidence=[Driver(name, model.describe(name), weight) for name, weight in prediction.drivers],
                )
            )
    return findings


def _in_position(utterances: Sequence[Utterance], stages: Sequence[str], index: int, rule: ForbiddenRule) -> bool:
    candidates = [i for i, u in enumerate(utterances) if u.role in rule.roles and stages[i] in rule.stages]
    return index in in_position(utterances, stages, candidates, rule.position)


def _script_finding(script: RecommendedScript, utterance: Utterance | None, **fields: Any) -> Finding:
    return Finding(
        rule=script.id,
        kind="recommended",
        category="推荐话术",
        stage=script.stage,
        utterance=utterance.index if utterance else None,
        line=utterance.line if utterance else None,
        role=utterance.role if utterance else None,
        **fields,
    )


def _missed(compiled: CompiledRubric, script: RecommendedScript, best: tuple[ScriptMatch, Utterance] | None) -> Finding:
    """A script not said: the points not earned, and for a required one a deduction and the near-miss."""
    match, utterance = best if best is not None else (None, None)
    name = script.message or script.id
    gap = f"(缺少“{'、'.join(match.missing)}”)" if match is not None and match.missing else ""
    common = dict(
        matched="",
        suggestion=match.sentence if match else script.sentences[0],
        similarity=round(match.similarity, 3) if match else None,
    )
    if not script.required:
        return _script_finding(
            script,
            utterance,
            severity="warning",
            points=0.0,
            nominal_points=script.points,
            message=f"未使用推荐话术:{name}{gap}",
            **common,
        )
    penalty = -(script.deduct if script.deduct is not None else script.points)
    missing_words = (
        compiled.missing_words(match.sentence, utterance.norm) if match is not None and utterance is not None else []
    )
    return _script_finding(
        script,
        utterance,
        severity="error",
        points=penalty,
        nominal_points=penalty,
        message=f"必说话术缺失:{name}{gap}",
        missing_words=missing_words,
        **common,
    )


def _script_findings(transcript: Transcript, segmentation: Segmentation, compiled: CompiledRubric) -> list[Finding]:
    findings = []
    missed: list[tuple[Finding, RecommendedScript]] = []
    said: list[tuple[RecommendedScript, Finding]] = []
    utterances, stages = transcript.utterances, segmentation.stages
    in_stage: dict[str, list[int]] = {}  # stage -> its utterances: each script looks at one stage's
    for i, stage in enumerate(stages):
        in_stage.setdefault(stage, []).append(i)
    for script_index, script in enumerate(compiled.scripts):
        if script.only_if_stage_present and script.stage not in in_stage:
            if not script.bonus:  # the stage rightly did not happen: the points are given
                findings.append(
                    _script_finding(
                        script,
                        None,
                        severity="info",
                        matched="",
                        points=script.points,
                        nominal_points=script.points,
                        message=f"本通话没有{script.stage}阶段,{script.message or script.id}不适用,计满分",
                    )
                )
            continue
        indices = [i for i in in_stage.get(script.stage, ()) if utterances[i].role in script.roles]
        best: tuple[ScriptMatch, Utterance] | None = None
        for i in in_position(utterances, stages, indices, script.position):
            match = compiled.script_match(script_index, utterances[i])
            if best is None or (match.counts(script), match.similarity) > (best[0].counts(script), best[0].similarity):
                best = (match, utterances[i])
                if match.similarity == 1.0 and match.counts(script):
                    break  # nothing later can beat it, and the first of equals is kept
        if best is not None and best[0].counts(script):
            match, utterance = best
            finding = _script_finding(
                script,
                utterance,
                severity="info",
                matched=utterance.text,
                points=script.points,
                nominal_points=script.points,
                message=f"使用推荐话术:{script.message or script.id}",
                similarity=round(match.similarity, 3),
            )
            if script.counts_for is not None:
                finding.stage = script.counts_for
            said.append((script, finding))
        elif not script.bonus:  # a bonus script not said costs nothing and is not worth a line
            missed.append((_missed(compiled, script, best), script))
    # A (stage, label) is paid once: by the stage's own script if it was said, else by the first sibling
    # counted for it (a closing offer said in 协议 and again in 结束 earns 8 points, not 16).
    paid = {(script.stage, script.label) for script, _ in said if script.counts_for is None}
    for script, finding in said:
        if script.counts_for is None:
            findings.append(finding)
        elif (script.counts_for, script.label) not in paid:
            paid.add((script.counts_for, script.label))
            findings.append(finding)
    # a script said in another stage and counted for its own is not missed there
    credited = {(script.counts_for, script.label) for script, _ in said if script.counts_for is not None}
    return findings + [f for f, script in missed if (script.stage, script.label) not in credited]


@dataclass(frozen=True, slots=True)
class Points:
    """What the caps need of one finding: its stage, its points before caps, its rule and place."""

    stage: str
    points: float
    rule: str
    utterance: int | None


def points_before_caps(kind: str, severity: str, nominal_points: float) -> float:
    """A reported finding's points before the caps cut them: its rule's points (`nominal_points`),
    except a script not said that is not required (a `warning`), which earns nothing (see `_missed`).
    What a review's recomputation starts from; a test holds it to the scorer's own."""
    return 0.0 if kind == "recommended" and severity == "warning" else nominal_points


def apply_caps(
    items: Sequence[Points],
    bases: Mapping[str, float],
    maxima: Mapping[str, float],
    caps: Mapping[str, float],
    *,
    stage_floor: bool = False,
) -> tuple[list[float], dict[str, float]]:
    """Each finding's points after the caps, and what each stage is left with. `items` in report order.

    A rule deducts at most its cap per call, in call order; then gains first, each stage's gains
    kept within its maximum, starting from its base. No stage floor cuts a deduction: a stage whose
    deductions pass its points is left below 0 here, shown as 0 (`stage_score`), and the rest comes off
    the call's total (`call_total`), so every violation counts, however many a stage holds. The scorer
    and a review's recomputation both use this; `stage_floor` is the arithmetic of callqa before it
    (a deduction cut at its stage's 0), which a call stored then is recomputed by."""
    points = [item.points for item in items]
    taken: dict[str, float] = {}
    for k, item in enumerate(items):
        if points[k] < 0 and item.rule in caps:
            room = caps[item.rule] - taken.get(item.rule, 0.0)
            points[k] = max(points[k], -room) + 0.0  # never -0.0
            taken[item.rule] = taken.get(item.rule, 0.0) - points[k]
    totals = dict(bases)
    order = sorted(
        range(len(items)),
        key=lambda k: (points[k] < 0, items[k].utterance if items[k].utterance is not None else -1),
    )
    for k in order:
        stage = items[k].stage
        if points[k] > 0:
            points[k] = min(points[k], maxima[stage] - totals[stage])
        elif points[k] < 0 and stage_floor:
            points[k] = max(points[k], -totals[stage]) + 0.0
        totals[stage] += points[k]
    return points, totals


def stage_score(left: float) -> float:
    """A stage's score as reported: what `apply_caps` left it, never below 0."""
    return round(max(left, 0.0), 2) + 0.0


def call_total(left: Mapping[str, float]) -> float:
    """The call's total: every stage's points left, including what a stage's deductions took beyond
    its own points, never below 0."""
    return round(max(sum(left.values()), 0.0), 2) + 0.0


def grade_for(total: float, grades: Sequence[tuple[str, float]]) -> str:
    """The first grade (name, min), highest first, whose min the total reaches; else the lowest."""
    return next((name for name, low in grades if total >= low), grades[-1][0] if grades else "")


def _stage_ranges(segmentation: Segmentation) -> dict[str, tuple[int | None, int | None]]:
    ranges: dict[str, tuple[int | None, int | None]] = {s: (None, None) for s in STAGES}
    for index, stage in enumerate(segmentation.stages):
        first, _ = ranges[stage]
        ranges[stage] = (index if first is None else first, index)
    return ranges


def score(transcript: Transcript, segmentation: Segmentation, compiled: CompiledRubric) -> Report:
    rubric = compiled.rubric
    check_findings, notes = run_checks(compiled.checks, transcript.utterances, segmentation.stages)
    forbidden = _forbidden_findings(transcript, segmentation, compiled)
    detected = _detector_findings(
        transcript, segmentation, compiled, {f.utterance for f in forbidden if f.utterance is not None}
    )
    findings = forbidden + detected + _script_findings(transcript, segmentation, compiled) + check_findings
    findings.sort(key=lambda f: (f.utterance if f.utterance is not None else len(transcript.utterances), f.rule))
    items = [Points(f.stage, f.points, f.rule, f.utterance) for f in findings]
    capped, totals = apply_caps(items, compiled.stage_bases, compiled.stage_maxima, compiled.rule_caps)
    for finding, points in zip(findings, capped, strict=True):
        finding.points = points
    ranges = _stage_ranges(segmentation)
    stages = [
        StageScore(s.name, *ranges[s.name], score=stage_score(totals[s.name]), max_score=s.points)
        for s in rubric.stages
    ]
    fatal = any(f.severity == "fatal" for f in findings)
    total = 0.0 if fatal else call_total(totals)
    grade = grade_for(total, compiled.grades)
    # Built with model_construct: every part comes from the pipeline's own typed values, and
    # validating them again would cost more than the scoring itself.
    roles = transcript.roles
    return Report.model_construct(
        transcript=ReportTranscript.model_construct(
            path=transcript.path,
            format=transcript.format,
            encoding=transcript.encoding,
            agent_name=transcript.agent_name,
            team=transcript.team,
            call_date=transcript.call_date,
            sha256=transcript.sha256,
            roles=ReportRoles.model_construct(
                method=roles.method,
                agent=roles.agent,
                confidence=roles.confidence,
                speakers=[
                    ReportSpeaker.model_construct(speaker=s.speaker, role=s.role, how=s.how, confidence=s.confidence)
                    for s in roles.speakers
                ],
                transfers=[
                    ReportTransfer.model_construct(
                        utterance=t.utterance, line=t.line, from_speaker=t.from_speaker, to_speaker=t.to_speaker
                    )
                    for t in roles.transfers
                ],
            ),
        ),
        rubric=ReportRubric.model_construct(name=rubric.name, version=rubric.version, path=compiled.path),
        score=total,
        max_score=rubric.max_score,
        passed=not fatal and total >= rubric.pass_mark,
        grade=grade,
        fatal=fatal,
        segmentation="given" if segmentation.given else "inferred",
        utterances=[
            ReportUtterance.model_construct(
                index=u.index,
                line=u.line,
                speaker=u.speaker,
                role=u.role,
                start=u.start,
                end=u.end,
                text=u.text,
                stage=stage,
            )
            for u, stage in zip(transcript.utterances, segmentation.stages, strict=True)
        ],
        stages=stages,
        findings=findings,
        warnings=list(transcript.warnings),
        notes=notes,
    )
