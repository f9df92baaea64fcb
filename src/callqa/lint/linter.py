"""`callqa lint`: no script in a script library (话术库) may contain a forbidden expression, and every
model dialogue must still score at least the pass mark.

Script libraries:
- YAML: a list of scripts, or `{scripts: [...]}`, or a mapping `id: script`; a script is a string or a
  mapping `{id, stage, text}` where `text` is a string or a list of strings.
- Markdown: every bullet (`-`, `*`, `+`, `1.`) and paragraph line is a script; code blocks are skipped;
  a heading that names a stage (`## 问候话术`) sets the stage of what follows.
- Plain text: one script per line, optionally tagged with its stage: `[结束] 请问还有什么可以帮您?`;
  lines starting with `#` are comments.
A script with a stage is checked as if an agent said it in that stage; one without, in every stage.

Transcripts (text files of `ROLE:TEXT` lines, ASR JSON, subtitles, CSV) are model dialogues: they are
scored, their forbidden hits reported, and a score under `--min-score` is itself a violation.

Suppression: `# callqa: disable=forbidden.hedging,forbidden.cold` (or `disable=all`) at the end of a YAML
or text line, `<!-- callqa: disable=… -->` in Markdown, silences that line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from callqa.errors import CallqaError, InputError
from callqa.lint.diagnostics import CheckResult, Diagnostic
from callqa.model import STAGES, Utterance
from callqa.rules.compiled import CompiledRubric
from callqa.rules.yamlsource import parse_yaml
from callqa.scoring.pipeline import score_transcript
from callqa.text.normalize import normalize, to_simplified
from callqa.transcripts.files import files_under
from callqa.transcripts.reader import STRUCTURED_SUFFIXES, TRANSCRIPT_SUFFIXES, ReadOptions, transcript_from_text
from callqa.transcripts.source import decode, read_bytes
from callqa.transcripts.text import speaker_label

LIBRARY_SUFFIXES = frozenset({".yaml", ".yml", ".md", ".markdown", ".txt"})
LINT_RULES = {"lint.unknown-rule", "lint.unknown-stage", "transcript.min-score"}

_SUPPRESS = re.compile(r"(?:#|<!--)\s*callqa:\s*disable=(?P<ids>[\w.,\-\s]+?)\s*(?:-->|$)")
_HTML_COMMENT = re.compile(r"<!--.*?-->")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?P<text>.*)$")
_HEADING = re.compile(r"^\s*#{1,6}\s+(?P<text>.*)$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_STAGE_TAG = re.compile(r"^\[(?P<stage>[^\]]+)\]\s*")
_INLINE_MARKUP = re.compile(r"\*\*|__|`|\[([^\]]*)\]\([^)]*\)")


@dataclass(frozen=True, slots=True)
class Script:
    line: int
    text: str
    stage: str | None
    suppressed: frozenset[str] = frozenset()  # rule ids, or "all"
    suppress_col: int = 0


def _suppression(line: str) -> tuple[frozenset[str], int, str]:
    """(ids, 1-based column of the comment, the line without it)."""
    match = _SUPPRESS.search(line)
    if not match:
        return frozenset(), 0, line
    ids = frozenset(i.strip() for i in match["ids"].split(",") if i.strip())
    return ids, match.start() + 1, line[: match.start()] + line[match.end() :]


def _stage(name: str | None) -> str | None:
    if name is None:
        return None
    simplified = to_simplified(str(name)).strip()
    return next((s for s in STAGES if s in simplified), simplified)


# --- library readers ---------------------------------------------------------------------------


def _text_scripts(source: str) -> list[Script]:
    scripts = []
    for number, raw in enumerate(source.splitlines(), start=1):
        ids, col, line = _suppression(raw)
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        stage = None
        tag = _STAGE_TAG.match(line)
        if tag:
            stage, line = _stage(tag["stage"]), line[tag.end() :]
        scripts.append(Script(number, line.strip(), stage, ids, col))
    return scripts


def _markdown_scripts(source: str) -> list[Script]:
    scripts = []
    stage: str | None = None
    in_fence = False
    previous_blank = True
    in_list = False
    for number, raw in enumerate(source.splitlines(), start=1):
        if _FENCE.match(raw):
            in_fence, in_list = not in_fence, False
            continue
        if in_fence:
            continue
        ids, col, line = _suppression(raw)
        line = _HTML_COMMENT.sub("", line)
        if not line.strip():
            previous_blank = True
            continue
        if previous_blank and not in_list and (line.startswith("    ") or line.startswith("\t")):
            continue  # an indented code block
        previous_blank = False
        heading = _HEADING.match(line)
        if heading:
            stage = next((s for s in STAGES if s in to_simplified(heading["text"])), None)
            in_list = False
            continue
        bullet = _BULLET.match(line)
        in_list = bool(bullet) or (in_list and line.startswith((" ", "\t")))
        text = bullet["text"] if bullet else line.strip().lstrip(">").strip()
        text = _INLINE_MARKUP.sub(lambda m: m.group(1) or "", text).strip()
        if text and not set(text) <= set("-|:= "):  # not a table rule or a horizontal line
            scripts.append(Script(number, text, stage, ids, col))
    return scripts


def _yaml_scripts(path: Path, source: str) -> list[Script]:
    source_lines = source.splitlines()
    doc = parse_yaml(source, str(path), InputError)
    if doc.root is None:
        return []
    scripts: list[Script] = []

    def add(node: yaml.Node, stage: str | None) -> None:
        if isinstance(node, yaml.ScalarNode) and str(node.value).strip():
            number = node.start_mark.line + 1
            ids, col, _ = _suppression(source_lines[number - 1] if number <= len(source_lines) else "")
            scripts.append(Script(number, str(node.value).strip(), stage, ids, col))
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                add(item, stage)

    def item(node: yaml.Node) -> None:
        if isinstance(node, yaml.MappingNode):
            fields = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
            stage_node = fields.get("stage")
            stage = _stage(stage_node.value) if isinstance(stage_node, yaml.ScalarNode) else None
            for key in ("text", "texts", "sentences", "script"):
                if key in fields:
                    add(fields[key], stage)
        else:
            add(node, None)

    root = doc.root
    if isinstance(root, yaml.MappingNode):
        fields = {k.value: v for k, v in root.value if isinstance(k, yaml.ScalarNode)}
        if "scripts" in fields:
            root = fields["scripts"]
    if isinstance(root, yaml.SequenceNode):
        for node in root.value:
            item(node)
    elif isinstance(root, yaml.MappingNode):
        for _, node in root.value:  # id: script
            item(node)
    else:
        raise InputError(path, "a script library must be a list or mapping of scripts", line=1)
    return scripts


# --- checking ----------------------------------------------------------------------------------


def _locate(lines: list[str], line: int, needle: str) -> tuple[int, int]:
    """The (line, column) where `needle` first appears from `line` on (a YAML block may span lines)."""
    for number in range(line, min(line + 50, len(lines)) + 1):
        at = lines[number - 1].find(needle) if needle else -1
        if at != -1:
            return number, at + 1
    return line, 1


def _is_transcript(path: Path, source: str, compiled: CompiledRubric) -> bool:
    if path.suffix.lower() in STRUCTURED_SUFFIXES:
        return True
    if path.suffix.lower() != ".txt":
        return False
    lines = [line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    labelled = 0
    for line in lines:
        label = speaker_label(line)
        if label is not None and compiled.role_of(label) != "unknown":
            labelled += 1
    return bool(lines) and labelled * 2 >= len(lines)


class Linter:
    def __init__(
        self,
        compiled: CompiledRubric,
        *,
        min_score: float | None = None,
        suppress: bool = True,
        read_options: ReadOptions = ReadOptions(),
    ):
        self.compiled = compiled
        self.min_score = compiled.rubric.pass_mark if min_score is None else min_score
        self.suppress = suppress
        self.read_options = read_options
        self.rule_ids = (
            {r.id for r in compiled.rubric.forbidden} | {s.id for s in compiled.rubric.recommended} | LINT_RULES
        )

    def lint_paths(self, paths: list[Path]) -> CheckResult:
        result = CheckResult([], [], [])
        for path in discover(paths, result):
            try:
                result.diagnostics.extend(self.lint_file(path))
                result.checked.append(str(path))
            except CallqaError as exc:
                result.errors.append(exc)
        return result

    def lint_file(self, path: Path) -> list[Diagnostic]:
        source, _ = decode(read_bytes(path), str(path))
        lines = source.splitlines()
        if _is_transcript(path, source, self.compiled):
            return self._lint_transcript(path, source, lines)
        suffix = path.suffix.lower()
        if suffix in (".yaml", ".yml"):
            scripts = _yaml_scripts(path, source)
        elif suffix in (".md", ".markdown"):
            scripts = _markdown_scripts(source)
        else:
            scripts = _text_scripts(source)
        diagnostics = []
        for script in scripts:
            diagnostics.extend(self._lint_script(str(path), lines, script))
        return diagnostics

    def _lint_script(self, path: str, lines: list[str], script: Script) -> list[Diagnostic]:
        diagnostics = []
        for unknown in sorted(script.suppressed - self.rule_ids - {"all"}):
            diagnostics.append(
                Diagnostic(
                    path,
                    script.line,
                    script.suppress_col,
                    "warning",
                    "lint.unknown-rule",
                    f"suppression names an unknown rule '{unknown}'",
                )
            )
        stages = STAGES
        if script.stage is not None:
            if script.stage in STAGES:
                stages = (script.stage,)
            else:
                diagnostics.append(
                    Diagnostic(
                        path,
                        script.line,
                        1,
                        "warning",
                        "lint.unknown-stage",
                        f"unknown stage '{script.stage}'; checked as if said in every stage",
                        f"use one of {' '.join(STAGES)}",
                    )
                )
        norm = normalize(script.text, self.compiled.fillers)
        utterance = Utterance(
            index=0, line=script.line, speaker="", role="agent", text=script.text, norm=norm.text, norm_index=norm.index
        )
        seen: set[tuple[str, int]] = set()
        for stage in stages:
            for rule_index, hits in self.compiled.forbidden_hits(utterance, stage).items():
                rule = self.compiled.rules[rule_index].rule
                if self._suppressed(script, rule.id):
                    continue
                for hit in hits[:1]:  # one diagnostic per rule and line, as scoring makes one finding
                    start, end = utterance.original_span(hit.start, hit.end)
                    if (rule.id, start) in seen:
                        continue
                    seen.add((rule.id, start))
                    matched = script.text[start:end]
                    line, col = _locate(lines, script.line, matched)
                    diagnostics.append(
                        Diagnostic(
                            path,
                            line,
                            col,
                            rule.severity,
                            rule.id,
                            f"{rule.category}「{matched}」: {rule.message}",
                            rule.suggestion,
                        )
                    )
        if not diagnostics or all(d.rule.startswith("lint.") for d in diagnostics):
            diagnostics += self._model_diagnostics(path, lines, script, utterance, stages)
        return diagnostics

    def _suppressed(self, script: Script, rule_id: str) -> bool:
        """A `callqa: disable=` comment on the script line names this rule (or all), and is honoured."""
        return self.suppress and (rule_id in script.suppressed or "all" in script.suppressed)

    def _model_diagnostics(
        self, path: str, lines: list[str], script: Script, utterance: Utterance, stages: tuple[str, ...]
    ) -> list[Diagnostic]:
        """The rubric's trained detectors on a script line no rule flagged: a script line is an agent
        line said on its own, so the CI contract catches what scoring catches."""
        found = []
        for detector in self.compiled.detectors:
            rule = detector.rule
            if self._suppressed(script, rule.id):
                continue
            if not set(stages) & set(rule.stages):
                continue
            verdict = detector.flag([utterance], 0)
            if verdict is None:
                continue
            words = "、".join(detector.model.describe(name) for name, _ in verdict.prediction.drivers[:3])
            line, col = _locate(lines, script.line, script.text[:4])
            found.append(
                Diagnostic(
                    path,
                    line,
                    col,
                    rule.severity,
                    rule.id,
                    f"{verdict.category}(模型判断,把握 {verdict.prediction.confidence:.0%};"
                    f"依据 {words}): {verdict.message}",
                    verdict.suggestion,
                )
            )
        return found

    def _lint_transcript(self, path: Path, source: str, lines: list[str]) -> list[Diagnostic]:
        report = score_transcript(transcript_from_text(source, path, self.compiled, self.read_options), self.compiled)
        diagnostics = []
        for finding in report.findings:
            if finding.kind != "forbidden":
                continue
            line, col = _locate(lines, finding.line, finding.matched) if finding.line else (1, 1)
            diagnostics.append(
                Diagnostic(
                    str(path),
                    line,
                    col,
                    finding.severity,
                    finding.rule,
                    f"{finding.category}「{finding.matched}」: {finding.message}",
                    finding.suggestion,
                )
            )
        if report.fatal or report.score < self.min_score:
            why = "a fatal rule was hit" if report.fatal else f"below the minimum {self.min_score:g}"
            diagnostics.append(
                Diagnostic(
                    str(path),
                    1,
                    1,
                    "error",
                    "transcript.min-score",
                    f"model dialogue scores {report.score:g}/{report.max_score:g} ({report.grade}): {why}",
                )
            )
        return diagnostics


def discover(paths: list[Path], result: CheckResult) -> list[Path]:
    """Files named, and the library and transcript files under folders named (hidden ones skipped)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                files_under(path, lambda name: Path(name).suffix.lower() in LIBRARY_SUFFIXES | TRANSCRIPT_SUFFIXES)
            )
        elif path.exists():
            found.append(path)
        else:
            result.errors.append(InputError(path, "no such file"))
    return found
