"""The rubric compiled once into matchers: Aho-Corasick automata for the forbidden phrases and for the
stage cues, compiled regexes, a jieba tokenizer for word boundaries, and keys for script similarity."""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from itertools import chain
from pathlib import Path
from typing import Any, Literal

import ahocorasick
from rapidfuzz import fuzz
from rapidfuzz.distance import Indel

from callqa.errors import RubricError
from callqa.model import Role, Utterance
from callqa.rules.checks import compile_check
from callqa.rules.detector import ForbiddenModel, Prediction, default_detector_path, load_detector
from callqa.rules.detector_features import CallContext
from callqa.rules.patterns import Pattern, PatternError, compile_pattern, fold_homophones, required_literals
from callqa.rules.schema import DetectorRule, ForbiddenRule, RecommendedScript, Rubric
from callqa.rules.spans import near, script_key
from callqa.text.normalize import filler_pattern, normalize_phrase

_SHORT_PHRASE = 2  # phrases this short need word boundaries under `word_boundary: auto`

#: What the automaton stores for a phrase: a forbidden rule's (index, needs a word boundary), a stage
#: cue's (stage, cue role), or a forbidden rule's or recommended script's pattern that may match where
#: the phrase is ((rule or script) index, pattern index): one of the literals the pattern requires.
_Entry = (
    tuple[Literal["rule"], int, bool]
    | tuple[Literal["cue"], str, str]
    | tuple[Literal["pattern"], int, int]
    | tuple[Literal["script"], int, int]
)
#: How many lines' script patterns `_script_patterns_in` keeps (a call has a few dozen lines).
_SCRIPT_LINES_KEPT = 4096


@dataclass(frozen=True, slots=True)
class Hit:
    """Where a forbidden rule matched an utterance, in normalised text."""

    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class ScriptMatch:
    similarity: float  # 0..1, the best over the script's model sentences
    sentence: str  # the model sentence it came closest to
    missing: tuple[str, ...]  # must_include words the utterance lacks

    def counts(self, script: RecommendedScript) -> bool:
        return self.similarity >= script.threshold and not self.missing


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    rule: ForbiddenRule
    regexes: tuple[re.Pattern[str], ...]
    patterns: tuple[Pattern, ...]
    exceptions: tuple[Pattern, ...]
    exception_regexes: tuple[re.Pattern[str], ...]


@lru_cache(maxsize=4)
def _tokenizer_for(words: tuple[str, ...]) -> Any:  # a jieba.Tokenizer: jieba ships no types
    """A jieba tokenizer tuned to keep `words` whole. Its dictionary costs about half a second and
    70 MB, so a process builds one per distinct word list (in practice: one)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    for word in words:
        tokenizer.suggest_freq(word, tune=True)
    return tokenizer


@dataclass(frozen=True, slots=True)
class DetectorFlag:
    """A line the detector flags: its category, the rubric's points and words for it, and why."""

    category: str
    deduct: float
    message: str
    suggestion: str | None
    prediction: Prediction


@dataclass(frozen=True, slots=True)
class CompiledDetector:
    rule: DetectorRule
    model: ForbiddenModel
    #: category -> (threshold, deduct, message, suggestion), the rubric's settings over the model's.
    categories: dict[str, tuple[float, float, str, str | None]]
    #: category -> the rubric's exception patterns: a line one matches is not flagged for it.
    exceptions: dict[str, tuple[Pattern, ...]] = field(default_factory=dict)
    #: category -> the rubric's required patterns: a line none matches is not flagged for it.
    requirements: dict[str, tuple[Pattern, ...]] = field(default_factory=dict)
    #: The lowest of the categories' thresholds: a line the model gives less no category flags.
    lowest_threshold: float = field(init=False)

    def __post_init__(self) -> None:
        # Worked out once, not per line: `flag` asks for it on every agent line of every call.
        lowest = min((setting[0] for setting in self.categories.values()), default=1.0)
        object.__setattr__(self, "lowest_threshold", lowest)  # the dataclass is frozen

    def flag(
        self,
        utterances: Sequence[Utterance],
        index: int,
        context: CallContext | None = None,
        confidence: float | None = None,
    ) -> DetectorFlag | None:
        """The verdict on utterance `index` in its call (scoring) or alone (a script line in lint);
        `context`, `call_context(utterances)`, when several lines of the call are judged, and
        `confidence`, when `ForbiddenModel.confidences` gave it already."""
        model = self.model
        if confidence is None:
            confidence = model.confidences(utterances, [index], context)[0]
        if confidence < self.lowest_threshold:
            return None  # most lines: no category could flag it; their features need not be built
        features = model.line_features(utterances, index, context)
        category, probability = model.category(features)
        setting = self.categories.get(category)
        if setting is None or confidence < setting[0]:
            return None
        norm = utterances[index].norm
        if any(e.spans(norm) for e in self.exceptions.get(category, ())):
            return None
        required = self.requirements.get(category)
        if required and not any(r.spans(norm) for r in required):
            return None
        _, deduct, message, suggestion = setting
        prediction = Prediction(category, confidence, probability, model.drivers(features))  # only when flagged
        return DetectorFlag(category, deduct, message, suggestion, prediction)


def _automaton(entries: Mapping[str, Sequence[_Entry]]) -> Any:  # an ahocorasick.Automaton: no types shipped
    """An automaton of the keys, each with (its length, its entries); None for no keys (an automaton
    cannot be empty)."""
    if not entries:
        return None
    automaton = ahocorasick.Automaton()
    for key, values in entries.items():
        automaton.add_word(key, (len(key), tuple(values)))
    automaton.make_automaton()
    return automaton


class CompiledRubric:
    """A rubric ready to match: built once per run, then applied to every utterance of every call."""

    def __init__(self, rubric: Rubric, path: str):
        self.rubric = rubric
        self.path = path
        self.fillers = filler_pattern(rubric.fillers)
        self.stage_positions = tuple((stage.name, stage.position) for stage in rubric.stages)
        #: "default", "cues", or the path of a stage model file (resolved against the rubric's folder).
        self.stage_model_source = self.resolve_stage_model(rubric.stage_model, Path(path).parent)
        speakers: tuple[tuple[Role, list[str]], ...] = (
            ("system", rubric.speakers.system),
            ("agent", rubric.speakers.agent),
            ("customer", rubric.speakers.customer),
        )
        self.speaker_patterns: list[tuple[Role, re.Pattern[str]]] = [
            (role, re.compile(pattern, re.IGNORECASE)) for role, patterns in speakers for pattern in patterns
        ]
        try:
            self._compile_rules(rubric)
            self.detectors = [self._compile_detector(d, Path(path).parent) for d in rubric.detectors if d.enabled]
        except PatternError as exc:  # a class name used deep inside a check or a detector's exception, say
            raise RubricError(path, str(exc)) from None
        self._script_keys = [tuple(script_key(normalize_phrase(x)) for x in s.sentences) for s in self.scripts]
        self._script_required = [tuple(normalize_phrase(w) for w in s.must_include) for s in self.scripts]
        self._script_regexes = [tuple(re.compile(r) for r in s.regexes) for s in self.scripts]
        # What the score's caps need, the same for every call: each stage's base (its points less the
        # non-bonus scripts it can earn), its maximum, and each rule's cap per call (`max_deduct`).
        self.stage_bases: dict[str, float] = {
            stage.name: stage.points - sum(s.points for s in self.scripts if s.stage == stage.name and not s.bonus)
            for stage in rubric.stages
        }
        self.stage_maxima: dict[str, float] = {stage.name: stage.points for stage in rubric.stages}
        self.grades: tuple[tuple[str, float], ...] = tuple((g.name, g.min) for g in rubric.grades)  # highest first
        capped = [c.rule for c in self.rules] + [d.rule for d in self.detectors] + [c.check for c in self.checks]
        self.rule_caps: dict[str, float] = {r.id: r.max_deduct for r in capped if r.max_deduct is not None}

        # One automaton for forbidden phrases and the literals of the rules' patterns, another for
        # stage cues (value = list of (kind, payload)): scoring and segmentation each scan a line
        # with theirs, and go through no hits that are the other's.
        entries: dict[str, list[_Entry]] = {}
        for rule_index, compiled in enumerate(self.rules):
            for phrase in compiled.rule.phrases:
                norm = normalize_phrase(phrase)
                if norm:
                    entries.setdefault(norm, []).append(("rule", rule_index, self._needs_boundary(compiled.rule, norm)))
        # A pattern is tried on a line only where the automaton found a literal it requires: 600
        # pattern tests a call became 30. For a rule that matches homophone-folded text, a second
        # automaton looks for its patterns' literals in the folded line. A rule with a pattern that
        # requires nothing has all its patterns tried on every line.
        self._patterns_everywhere: set[int] = set()
        folded_entries: dict[str, list[_Entry]] = {}
        for rule_index, compiled in enumerate(self.rules):
            if required_literals(compiled.patterns) is not None:
                where = entries
            elif required_literals(compiled.patterns, folded=True) is not None:
                where = folded_entries
            else:
                self._patterns_everywhere.add(rule_index)
                continue
            for k, pattern in enumerate(compiled.patterns):
                for literal in pattern.required:
                    where.setdefault(literal, []).append(("pattern", rule_index, k))
        self._folded_automaton = _automaton(folded_entries)
        cue_entries: dict[str, list[_Entry]] = {}
        for stage in rubric.stages:
            for role in ("agent", "customer", "any"):
                for cue in getattr(stage.cues, role):
                    norm = normalize_phrase(cue)
                    if norm:
                        cue_entries.setdefault(norm, []).append(("cue", stage.name, role))
        self._cue_automaton = _automaton(cue_entries)
        self._cue_regexes: list[tuple[str, str, re.Pattern[str]]] = [
            (stage.name, role, re.compile(pattern))
            for stage in rubric.stages
            for role, patterns in (("agent", stage.cues.agent_regexes), ("customer", stage.cues.customer_regexes))
            for pattern in patterns
        ]
        self._needs_tokenizer = any(v[0] == "rule" and v[2] for values in entries.values() for v in values)
        self._automaton = _automaton(entries)
        #: (role, stage) -> the indices of the rules whose scope covers a line of that role in that
        #: stage, filled as they are asked for (`_rules_covering`).
        self._covering: dict[tuple[str, str], tuple[int, ...]] = {}

    def _compile_rules(self, rubric: Rubric) -> None:
        """Forbidden rules, scripts and checks, their patterns compiled against the rubric's classes."""
        classes = rubric.classes
        self.rules = [
            _CompiledRule(
                rule,
                tuple(re.compile(r) for r in rule.regexes),
                tuple(compile_pattern(p, classes, pinyin=rule.pinyin) for p in rule.patterns),
                tuple(compile_pattern(e, classes, pinyin=rule.pinyin) for e in rule.exceptions),
                tuple(re.compile(r) for r in rule.exception_regexes),
            )
            for rule in rubric.forbidden
            if rule.enabled
        ]
        self.scripts = [s for s in rubric.recommended if s.enabled]
        self.checks = [compile_check(c, classes) for c in rubric.checks if c.enabled]
        self._script_patterns = [tuple(compile_pattern(p, classes) for p in s.patterns) for s in self.scripts]
        # One automaton over the literals every script's patterns require: a line is scanned once for
        # all scripts (`_script_patterns_in`), not tested for each script's literals and then each
        # pattern's in turn (~50 such tests a call). A pattern that requires nothing is tried everywhere.
        script_entries: dict[str, list[_Entry]] = {}
        self._script_patterns_everywhere: dict[int, tuple[int, ...]] = {}
        for script_index, group in enumerate(self._script_patterns):
            everywhere = tuple(k for k, pattern in enumerate(group) if not pattern.required)
            if everywhere:
                self._script_patterns_everywhere[script_index] = everywhere
            for k, pattern in enumerate(group):
                for literal in pattern.required:
                    script_entries.setdefault(literal, []).append(("script", script_index, k))
        self._script_automaton = _automaton(script_entries)
        #: normalised line -> `_script_patterns_in` of it, for the lines of the latest calls
        self._script_lines: dict[str, dict[int, tuple[int, ...]]] = {}

    def _compile_detector(
        self, rule: DetectorRule, folder: Path, model: ForbiddenModel | None = None
    ) -> CompiledDetector:
        """The detector rule with its model loaded, and each category's message taken from this
        rubric's phrase rule of that category where the detector rule gives none."""
        if model is None:
            model = load_detector(self.resolve_detector_model(rule.model, folder))
        by_category = {r.category: r for r in reversed(self.rubric.forbidden)}  # switched-off rules' words too
        categories: dict[str, tuple[float, float, str, str | None]] = {}
        for name, setting in rule.categories.items():
            phrase_rule = by_category.get(name)
            message = setting.message or (phrase_rule.message if phrase_rule else f"{name}(模型判断)")
            suggestion = setting.suggestion or (phrase_rule.suggestion if phrase_rule else None)
            threshold = setting.threshold if setting.threshold is not None else model.threshold(name)
            categories[name] = (threshold, setting.deduct, message, suggestion)

        def patterns(field: str) -> dict[str, tuple[Pattern, ...]]:  # category -> its `exceptions` or `requires`
            return {
                name: tuple(compile_pattern(p, self.rubric.classes) for p in getattr(setting, field))
                for name, setting in rule.categories.items()
                if getattr(setting, field)
            }

        return CompiledDetector(rule, model, categories, patterns("exceptions"), patterns("requires"))

    def with_detector_model(self, model: ForbiddenModel) -> CompiledRubric:
        """This rubric with every detector rule using `model` (leave-one-group-out evaluation)."""
        clone = copy.copy(self)
        clone.detectors = [self._compile_detector(d.rule, Path(self.path).parent, model) for d in self.detectors]
        return clone

    @staticmethod
    def resolve_stage_model(name: str, folder: Path) -> str:
        return name if name in ("default", "cues") else str((folder / name).resolve())

    @staticmethod
    def resolve_detector_model(name: str, folder: Path) -> str:
        """The file a detector rule's `model:` names (relative to the rubric's folder), as `load_detector` caches it."""
        return str(default_detector_path() if name == "default" else (folder / name).resolve())

    @staticmethod
    def _needs_boundary(rule: ForbiddenRule, phrase: str) -> bool:
        if rule.word_boundary == "auto":
            return len(phrase) <= _SHORT_PHRASE
        return rule.word_boundary == "always"

    @cached_property
    def _tokenizer(self) -> Any:  # a jieba.Tokenizer
        """A jieba tokenizer that keeps the rubric's `words` whole, built only when a short phrase
        needs a word boundary, and shared by rubrics with the same words."""
        return _tokenizer_for(tuple(normalize_phrase(w) for w in self.rubric.words))

    def missing_words(self, sentence: str, norm: str) -> list[str]:
        """The stretches of a model sentence (two characters or more) that an utterance lacks: what
        an alignment of the two (rapidfuzz's Indel opcodes) leaves of the sentence unmatched. Not a
        word list: loading jieba's dictionary for this hint cost a cold `callqa score` 0.9 s whenever
        a required script was missed."""
        key = script_key(normalize_phrase(sentence))
        words: list[str] = []
        for op in Indel.opcodes(key, script_key(norm)):
            chunk = key[op.src_start : op.src_end]
            if op.tag == "delete" and len(chunk) >= 2 and "#" not in chunk and chunk not in norm and chunk not in words:
                words.append(chunk)
        return words

    def warm_up(self) -> None:
        """Load what is otherwise loaded on first use (jieba's dictionary, the regexes of the forbidden
        rules' and scripts' patterns), e.g. before forking workers, so that they share it."""
        if self._needs_tokenizer:
            self._tokenizer  # noqa: B018 - the cached property does the loading
        patterns = [p for c in self.rules for p in (*c.patterns, *c.exceptions)]
        patterns += [p for group in self._script_patterns for p in group]
        patterns += [p for d in self.detectors for group in d.exceptions.values() for p in group]
        patterns += [p for d in self.detectors for group in d.requirements.values() for p in group]
        for pattern in patterns:
            pattern.regex  # noqa: B018 - the property compiles it

    def word_boundaries(self, text: str) -> set[int]:
        bounds = {0}
        for _, _, end in self._tokenizer.tokenize(text, HMM=False):
            bounds.add(end)
        return bounds

    # --- roles ---------------------------------------------------------------------------------

    def role_of(self, label: str) -> Role:
        """The role a speaker label stands for (客服人員 -> agent), by the rubric's `speakers` regexes
        matched at the start of the normalised (Simplified, half-width) label."""
        norm = normalize_phrase(label)
        for role, pattern in self.speaker_patterns:
            if pattern.match(norm):
                return role
        return "unknown"

    # --- phrase hits ---------------------------------------------------------------------------

    @staticmethod
    def _phrase_hits(text: str, automaton: Any) -> Iterator[tuple[int, int, tuple[_Entry, ...]]]:
        """Every (start, end, entries) the automaton (None: one with no keys) finds in text.
        Segmentation and scoring each scan an utterance once; caching the scan was measured and
        gained nothing."""
        if automaton is None:
            return
        for end_index, (length, values) in automaton.iter(text):
            yield end_index + 1 - length, end_index + 1, values

    def cue_hits(self, utterance: Utterance) -> list[tuple[str, str, str]]:
        """(stage, cue role, cue text) for every stage cue in the utterance that fits its speaker.
        A system line (a bot's menu, a queue notice, a placeholder) carries no cue."""
        if utterance.role == "system":
            return []
        return self.cue_hits_in(utterance.norm, utterance.role)

    def cue_hits_in(self, norm: str, role: str | None) -> list[tuple[str, str, str]]:
        """Stage cues in normalised text, for a speaker role (None: cues of every role).
        A cue inside a longer cue counts only as the longer one: 可以帮您 in 有什么可以帮您 is a greeting."""
        found = []
        for start, end, values in self._phrase_hits(norm, self._cue_automaton):
            for value in values:
                if value[0] == "cue":
                    _, stage, cue_role = value
                    if role is None or cue_role in ("any", role):
                        found.append((start, end, stage, cue_role))
        hits = [
            (stage, cue_role, norm[start:end])
            for start, end, stage, cue_role in found
            if not any(s <= start and end <= e and e - s > end - start for s, e, _, _ in found)
        ]
        for stage, cue_role, pattern in self._cue_regexes:
            if role is None or cue_role == role:
                match = pattern.search(norm)
                if match:
                    hits.append((stage, cue_role, match.group()))
        return hits

    def _rules_covering(self, role: str, stage: str) -> tuple[int, ...]:
        """The indices of the rules whose role and stage scope covers a line of `role` in `stage`, in
        rule order."""
        covering = self._covering.get((role, stage))
        if covering is None:
            covering = tuple(
                i
                for i, compiled in enumerate(self.rules)
                if role in compiled.rule.roles and stage in compiled.rule.stages
            )
            self._covering[(role, stage)] = covering
        return covering

    def forbidden_hits(self, utterance: Utterance, stage: str) -> dict[int, list[Hit]]:
        """Hits per rule index, for rules whose role and stage scope cover this utterance.
        Overlapping hits of one rule keep the longest; near-misses (exceptions) are dropped."""
        covering = self._rules_covering(utterance.role, stage)
        if not covering:  # a customer's line, say, where every rule looks at the agent's: nothing to scan
            return {}
        text = utterance.norm
        candidates: dict[int, list[tuple[int, int, bool]]] = {}
        # rule index -> the indices of its patterns worth trying here
        patterns_here = {i: set(range(len(self.rules[i].patterns))) for i in self._patterns_everywhere}
        # The homophone-folded text: made for the folded literals' automaton, or later for a rule
        # that asks for it.
        folded = None if self._folded_automaton is None else fold_homophones(text)
        found = self._phrase_hits(text, self._automaton)
        if folded is not None:
            found = chain(found, self._phrase_hits(folded, self._folded_automaton))
        for start, end, values in found:
            for value in values:
                if value[0] == "rule":
                    _, rule_index, needs_boundary = value
                    candidates.setdefault(rule_index, []).append((start, end, needs_boundary))
                elif value[0] == "pattern":
                    patterns_here.setdefault(value[1], set()).add(value[2])
        for rule_index in covering:
            compiled = self.rules[rule_index]
            chosen = patterns_here.get(rule_index)
            try_patterns = chosen is not None
            rule = compiled.rule
            if not (compiled.regexes or try_patterns):
                continue
            for regex in compiled.regexes:
                for match in regex.finditer(text):
                    if match.end() > match.start():
                        candidates.setdefault(rule_index, []).append((match.start(), match.end(), False))
            if try_patterns:
                if rule.pinyin and folded is None:
                    folded = fold_homophones(text)
                for k in sorted(chosen or ()):  # in the rule's order, as its hits have always been listed
                    for start, end in compiled.patterns[k].spans(text, folded):
                        candidates.setdefault(rule_index, []).append((start, end, False))
        hits: dict[int, list[Hit]] = {}
        boundaries: set[int] | None = None
        for rule_index, spans in candidates.items():
            if rule_index not in covering:
                continue
            compiled = self.rules[rule_index]
            kept: list[Hit] = []
            for start, end, needs_boundary in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]))):
                if kept and start < kept[-1].end:
                    continue  # inside a longer hit of the same rule
                if self._is_exception(compiled, text, folded, start, end):
                    continue
                if needs_boundary:
                    if boundaries is None:
                        boundaries = self.word_boundaries(text)
                    if start not in boundaries or end not in boundaries:
                        continue
                kept.append(Hit(start, end, text[start:end]))
            if kept:
                hits[rule_index] = kept
        return hits

    @staticmethod
    def _is_exception(compiled: _CompiledRule, text: str, folded: str | None, start: int, end: int) -> bool:
        """An exception pattern or regex overlapping the hit, or within the rule's context window of it."""
        window = compiled.rule.context_window
        if compiled.rule.pinyin and folded is None:
            folded = fold_homophones(text)
        if any(
            near(a, b, start, end, window) for pattern in compiled.exceptions for a, b in pattern.spans(text, folded)
        ):
            return True
        return any(
            near(*m.span(), start, end, window) for regex in compiled.exception_regexes for m in regex.finditer(text)
        )

    # --- recommended scripts -------------------------------------------------------------------

    def _script_patterns_in(self, norm: str) -> dict[int, tuple[int, ...]]:
        """Script index -> the indices, in order, of its patterns that can match a normalised line: those
        with a literal they require in it, and those that require none. A line is asked about once
        for each script of its stage; it is scanned once, and the answer kept."""
        found = self._script_lines.get(norm)
        if found is not None:
            return found
        here: dict[int, list[int]] = {}
        if self._script_automaton is not None:  # it holds only ("script", script index, pattern index)
            for _, (_, entries) in self._script_automaton.iter(norm):
                for _, script_index, k in entries:
                    here.setdefault(script_index, []).append(k)
        for script_index, ks in self._script_patterns_everywhere.items():
            here.setdefault(script_index, []).extend(ks)
        found = {script_index: tuple(sorted(set(ks))) for script_index, ks in here.items()}
        if len(self._script_lines) >= _SCRIPT_LINES_KEPT:  # a long batch: keep only the recent lines
            self._script_lines.clear()
        self._script_lines[norm] = found
        return found

    def script_match(self, script_index: int, utterance: Utterance) -> ScriptMatch:
        """How close an utterance comes to a script: 1.0 where one of its patterns (else regexes)
        matches, else the best similarity to a model sentence. A longer utterance may contain the
        sentence anywhere (partial ratio); a shorter one must not leave much of it out (plain ratio)."""
        norm = utterance.norm
        missing = tuple(w for w in self._script_required[script_index] if w not in norm)
        patterns = self._script_patterns[script_index]
        for k in self._script_patterns_in(norm).get(script_index, ()):  # the others find nothing here
            spans = patterns[k].spans(norm)
            if spans:
                return ScriptMatch(1.0, norm[slice(*spans[0])], missing)
        for regex in self._script_regexes[script_index]:
            found = regex.search(utterance.norm)
            if found:
                return ScriptMatch(1.0, found.group() or self.scripts[script_index].sentences[0], missing)
        key = script_key(utterance.norm)
        best, best_sentence = 0.0, ""
        for sentence_key, sentence in zip(
            self._script_keys[script_index], self.scripts[script_index].sentences, strict=True
        ):
            if not key or not sentence_key:
                continue
            scorer = fuzz.partial_ratio if len(key) > len(sentence_key) else fuzz.ratio
            similarity = scorer(sentence_key, key) / 100
            if similarity > best:
                best, best_sentence = similarity, sentence
        return ScriptMatch(best, best_sentence or self.scripts[script_index].sentences[0], missing)
