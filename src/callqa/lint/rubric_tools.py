"""`callqa rubric check` and `callqa rubric test`: rubrics as code, checked and tested in CI.

check: schema errors (file:line), regexes that do not compile, duplicate rule ids, `extends` cycles and
unknown stages, model files (`model:`, `stage_model:`) that cannot be loaded (all reported by loading,
as input errors on their line: exit 2), then phrases listed by two rules, one-character Chinese phrases
(too noisy), recommended scripts that themselves trigger a forbidden rule, rules with no examples.
test: every rule's `examples: {hit: [...], miss: [...]}`, each said in the rule's first stage by the
first of its `roles` (an agent by default, a customer for `roles: [customer]`), must (hit) or must not
(miss) trigger the rule — like `semgrep --test`. A forbidden rule's
near-miss must not be flagged by the rubric's detector for the same category either: scored, it would
still cost points.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from callqa.errors import CallqaError
from callqa.lint.diagnostics import CheckResult, Diagnostic
from callqa.model import Role, Transcript, Utterance
from callqa.rules.checks import CompiledCheck, run_checks
from callqa.rules.compiled import CompiledRubric
from callqa.rules.schema import (
    Check,
    DetectorRule,
    ForbiddenRule,
    KeywordCheck,
    RecommendedScript,
    ResponseCheck,
    Rubric,
    rubric_problems,
)
from callqa.rules.yamlsource import RuleLines, load_yaml
from callqa.scoring.pipeline import model_problems, segment_transcript
from callqa.text.normalize import normalize, normalize_phrase
from callqa.transcripts.reader import transcript_from_text

_CJK_CHAR = re.compile(r"^[\u3400-\u9fff]$")
_SHORT_SENTENCE = 3  # characters; 再见 alone is no goodbye script


def _says(compiled: CompiledRubric, text: str, roles: Sequence[Role]) -> Utterance:
    """`text` said alone in the role a rule watches: the first of its `roles` (an agent's line for the
    default `[agent]`, a customer's for `[customer]`), so an example can trigger the rule it tests."""
    norm = normalize(text, compiled.fillers)
    role: Role = roles[0] if roles else "agent"
    return Utterance(index=0, line=1, speaker="", role=role, text=text, norm=norm.text, norm_index=norm.index)


def _watched_roles(check: Check) -> list[Role]:
    """The roles whose lines a check matches: a keyword check's scope, a response check's trigger."""
    if isinstance(check, KeywordCheck):
        return list(check.scope.roles)
    if isinstance(check, ResponseCheck):
        return list(check.trigger.roles)
    return []


def _load(path: Path, result: CheckResult) -> tuple[Rubric, str, RuleLines] | None:
    """The rubric, its source and its lines; or None, its problems in `result.errors`. A rubric that
    cannot be read or does not validate is an input error, not a finding: were it one, `--fail-on fatal`
    would let a mistyped path or a syntax error through CI as a clean run."""
    rubric, source, problems = rubric_problems(path)
    result.errors.extend(sorted(problems, key=lambda p: (p.path or "", p.line or 0)))  # in file order, as findings
    if rubric is None:
        return None
    result.checked.append(source)
    try:
        return rubric, source, RuleLines(load_yaml(Path(source)))
    except CallqaError as exc:  # it loaded a moment ago; only a race could get here
        result.errors.append(exc)
        return None


def _compiled(paths: list[Path], result: CheckResult) -> Iterator[tuple[Rubric, str, RuleLines, CompiledRubric]]:
    """Each rubric that loads, compiled; load problems go into `result`."""
    for path in paths:
        loaded = _load(path, result)
        if loaded is not None:
            rubric, source, lines = loaded
            problems = model_problems(rubric, source)  # as scoring loads them: a bad one is an input error
            if problems:
                result.errors.extend(problems)
                continue
            yield rubric, source, lines, CompiledRubric(rubric, source)


def check_rubrics(paths: list[Path]) -> CheckResult:
    result = CheckResult([], [], [])
    add = result.diagnostics.append
    for rubric, source, lines, compiled in _compiled(paths, result):
        owners: dict[str, str] = {}
        for rule in rubric.forbidden:
            for j, phrase in enumerate(rule.phrases):
                norm = normalize_phrase(phrase)
                line = lines.of("forbidden", rule.id, "phrases", j)
                if norm in owners and owners[norm] != rule.id:
                    add(
                        Diagnostic(
                            source,
                            line,
                            1,
                            "warning",
                            "rubric.duplicate-phrase",
                            f"{rule.id}: phrase「{phrase}」is also in {owners[norm]}",
                            "keep it in one rule, or the utterance loses points twice",
                        )
                    )
                owners.setdefault(norm, rule.id)
                if _CJK_CHAR.match(norm):
                    add(
                        Diagnostic(
                            source,
                            line,
                            1,
                            "warning",
                            "rubric.short-phrase",
                            f"{rule.id}: one-character phrase「{phrase}」matches too much",
                            "use a longer phrase or a regex with context",
                        )
                    )
        for script in rubric.recommended:
            for j, sentence in enumerate(script.sentences):
                if len(normalize_phrase(sentence)) <= _SHORT_SENTENCE:
                    add(
                        Diagnostic(
                            source,
                            lines.of("recommended", script.id, "sentences", j),
                            1,
                            "warning",
                            "rubric.short-sentence",
                            f"{script.id}: model sentence「{sentence}」is too short to stand for a script",
                            "in a YAML list [a, b] an ASCII comma splits a sentence: write ， or quote it",
                        )
                    )
                hits = compiled.forbidden_hits(_says(compiled, sentence, script.roles), script.stage)
                for rule_index, found in hits.items():
                    rule = compiled.rules[rule_index].rule
                    add(
                        Diagnostic(
                            source,
                            lines.of("recommended", script.id, "sentences", j),
                            1,
                            "error",
                            "rubric.conflict",
                            f"{script.id}: model sentence「{sentence}」triggers {rule.id} on「{found[0].text}」",
                            "reword the script or add an exception to the rule",
                        )
                    )
        for key, rules in (
            ("forbidden", rubric.forbidden),
            ("detectors", rubric.detectors),
            ("recommended", rubric.recommended),
            ("checks", rubric.checks),
        ):
            for entry in rules:
                if entry.enabled and not (entry.examples.hit or entry.examples.miss):
                    add(
                        Diagnostic(
                            source,
                            lines.of(key, entry.id, "id"),
                            1,
                            "info",
                            "rubric.no-examples",
                            f"{entry.id} has no examples",
                            "add examples: {hit: [...], miss: [...]}",
                        )
                    )
    return result


def run_rubric_examples(paths: list[Path]) -> tuple[CheckResult, int]:
    """Run every rule's examples; return the failures and how many examples ran."""
    result = CheckResult([], [], [])
    ran = 0
    for _rubric, source, lines, compiled in _compiled(paths, result):
        rules: list[ForbiddenRule | DetectorRule | RecommendedScript | Check] = [c.rule for c in compiled.rules]
        rules += [d.rule for d in compiled.detectors] + compiled.scripts + [c.check for c in compiled.checks]
        if not any(r.examples.hit or r.examples.miss for r in rules):
            result.diagnostics.append(
                Diagnostic(
                    source,
                    1,
                    1,
                    "error",
                    "rubric.no-examples",
                    "no rule has examples: nothing was tested",
                    "add examples: {hit: [...], miss: [...]} to the rules",
                )
            )
        for index, compiled_rule in enumerate(compiled.rules):
            rule = compiled_rule.rule
            stage = rule.stages[0]
            for expect, examples in (("hit", rule.examples.hit), ("miss", rule.examples.miss)):
                for j, example in enumerate(examples):
                    ran += 1
                    utterance = _says(compiled, example, rule.roles)
                    hits = compiled.forbidden_hits(utterance, stage).get(index, [])
                    if expect == "hit" and not hits:
                        message = f"{rule.id}: hit example「{example}」is not matched"
                    elif expect == "miss" and hits:
                        message = f"{rule.id}: miss example「{example}」is matched on「{hits[0].text}」"
                    elif expect == "miss" and (flagged := _detector_flags(compiled, utterance, rule)):
                        # A near-miss the rule leaves alone that the model flags for the same fault would
                        # still cost the agent points when scored.
                        message = f"{rule.id}: miss example「{example}」is not matched, but {flagged}"
                    else:
                        continue
                    result.diagnostics.append(
                        Diagnostic(
                            source,
                            lines.of("forbidden", rule.id, "examples", expect, j),
                            1,
                            "error",
                            "rubric.example",
                            message,
                        )
                    )
        for detector in compiled.detectors:  # a script line said alone, as `callqa lint` judges it
            detector_rule = detector.rule
            for expect, examples in (("hit", detector_rule.examples.hit), ("miss", detector_rule.examples.miss)):
                for j, example in enumerate(examples):
                    ran += 1
                    verdict = detector.flag([_says(compiled, example, detector_rule.roles)], 0)
                    if (verdict is not None) == (expect == "hit"):
                        continue
                    if verdict is None:
                        message = f"{detector_rule.id}: hit example「{example}」is not flagged by the model"
                    else:
                        message = (
                            f"{detector_rule.id}: miss example「{example}」is flagged by the model as "
                            f"{verdict.category} ({verdict.prediction.confidence:.0%})"
                        )
                    result.diagnostics.append(
                        Diagnostic(
                            source,
                            lines.of("detectors", detector_rule.id, "examples", expect, j),
                            1,
                            "error",
                            "rubric.example",
                            message,
                        )
                    )
        for index, script in enumerate(compiled.scripts):
            for expect, examples in (("hit", script.examples.hit), ("miss", script.examples.miss)):
                for j, example in enumerate(examples):
                    ran += 1
                    match = compiled.script_match(index, _says(compiled, example, script.roles))
                    if match.counts(script) == (expect == "hit"):
                        continue
                    why = f"similarity {match.similarity:.0%} (threshold {script.threshold:.0%})"
                    if match.missing:
                        why += f", missing {'、'.join(match.missing)}"
                    verb = "is not recognised" if expect == "hit" else "is recognised"
                    result.diagnostics.append(
                        Diagnostic(
                            source,
                            lines.of("recommended", script.id, "examples", expect, j),
                            1,
                            "error",
                            "rubric.example",
                            f"{script.id}: {expect} example「{example}」{verb}: {why}, closest to「{match.sentence}」",
                        )
                    )
        for compiled_check in compiled.checks:
            check = compiled_check.check
            for expect, examples in (("hit", check.examples.hit), ("miss", check.examples.miss)):
                for j, example in enumerate(examples):
                    ran += 1
                    failure = _check_example_failure(compiled, compiled_check, expect, example)
                    if failure:
                        result.diagnostics.append(
                            Diagnostic(
                                source,
                                lines.of("checks", check.id, "examples", expect, j),
                                1,
                                "error",
                                "rubric.example",
                                f"{check.id}: {failure}",
                            )
                        )
    return result, ran


def _detector_flags(compiled: CompiledRubric, utterance: Utterance, rule: ForbiddenRule) -> str | None:
    """How a detector of the rubric flags an agent line said alone for `rule`'s category, in a stage both
    cover, as scoring would: only where no phrase or pattern rule already flags the line."""
    for detector in compiled.detectors:
        if utterance.role not in detector.rule.roles:
            continue
        for stage in (s for s in rule.stages if s in detector.rule.stages):
            if compiled.forbidden_hits(utterance, stage):
                continue  # scored, another rule flags it first and the detector never runs on it
            verdict = detector.flag([utterance], 0)
            if verdict is not None and verdict.category == rule.category:
                return f"{detector.rule.id} flags it as {rule.category} ({verdict.prediction.confidence:.0%})"
            break  # the detector's verdict on a line said alone does not depend on the stage
    return None


def _check_example_failure(
    compiled: CompiledRubric, compiled_check: CompiledCheck, expect: str, example: str
) -> str | None:
    """Why a check's example dialogue fails, or None when it behaves as expected."""
    try:
        transcript = transcript_from_text(example, "<example>", compiled)
    except CallqaError as exc:
        roles = _watched_roles(compiled_check.check)
        if "\n" in example.strip() or not roles:
            return f"{expect} example cannot be read: {exc.message}"
        # One line with no ROLE: label, said by the role the check watches, as a rule's example is.
        transcript = Transcript("<example>", "text", (_says(compiled, example.strip(), roles),))
    stages = segment_transcript(transcript, compiled).stages
    findings, notes = run_checks([compiled_check], transcript.utterances, stages)
    shown = example.replace("\n", " / ")
    if notes:
        return f"{expect} example「{shown}」has no timestamps, so a timing check cannot run on it"
    if expect == "hit" and not findings:
        return f"hit example「{shown}」gives no finding"
    if expect == "miss" and findings:
        return f"miss example「{shown}」gives a finding: {findings[0].message}"
    return None
