"""Labelled calls: a transcript and, for each utterance, what a human annotator said it is.

Two gold formats are read, both used for training and for `callqa eval`:
- stage markers in the transcript itself (`## 切入` starts a stage), as in `tests/data/stages/`;
- a `NAME.gold.json` beside `NAME.txt` (the format of the shared labelled set): one entry per line
  of the transcript an utterance starts on (not for `#` header and comment lines, nor blank ones),
  `{"stage", "forbidden", "near_miss", "recommended", ...}`; a file with one per non-empty line
  reads too.

A labelled call is read blind: the transcript the model sees has no marker stages left in it.
Every problem is one `InputError` naming the file and the line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from callqa.errors import InputError
from callqa.model import FORBIDDEN_CATEGORIES, RECOMMENDED_LABELS, STAGES, Transcript
from callqa.transcripts.base import SpeakerVocabulary
from callqa.transcripts.reader import read_transcript

GOLD_SUFFIX = ".gold.json"


@dataclass(frozen=True, slots=True)
class GoldLabel:
    """An annotator's labels for one utterance."""

    stage: str
    forbidden: str | None = None  # one of FORBIDDEN_CATEGORIES on an agent line
    near_miss: bool = False  # looks like a violation and is not
    recommended: str | None = None  # one of RECOMMENDED_LABELS


@dataclass(frozen=True, slots=True)
class LabelledCall:
    transcript: Transcript  # blind: no marker stages
    labels: tuple[GoldLabel, ...]  # one per utterance of `transcript`
    group: str  # the folder it came from (a writer, a team, a source)
    #: True when the gold labels violations and scripts too (.gold.json), not only stages.
    has_line_labels: bool

    @property
    def stages(self) -> list[str]:
        return [label.stage for label in self.labels]


def without_markers(transcript: Transcript) -> Transcript:
    """The transcript as if it had no `## stage` marker lines: what a segmenter is measured on."""
    return replace(transcript, utterances=tuple(replace(u, given_stage=None) for u in transcript.utterances))


def gold_path(transcript: Path) -> Path:
    return transcript.with_name(transcript.stem + GOLD_SUFFIX)


def labelled_files(paths: Iterable[Path]) -> list[Path]:
    """The transcripts among `paths` (folders searched recursively): every .txt, each once, sorted
    within a folder. Whether each has labels is checked when it is read."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*.txt"))
                if not any(part.startswith(".") for part in p.relative_to(path).parts)  # hidden folders skipped
            )
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def read_labelled(path: Path, vocabulary: SpeakerVocabulary) -> LabelledCall:
    """A labelled call from either gold format; InputError (file and line) on anything wrong."""
    transcript = read_transcript(path, vocabulary)
    group = path.parent.name or "."
    gold_file = gold_path(path)
    if gold_file.is_file():
        labels = _json_labels(path, gold_file, transcript)
        return LabelledCall(without_markers(transcript), labels, group, has_line_labels=True)
    missing = next((u for u in transcript.utterances if u.given_stage is None), None)
    if missing is not None:
        if all(u.given_stage is None for u in transcript.utterances):
            raise InputError(path, "no labels", hint=f"add ## stage marker lines or a {gold_file.name} beside it")
        raise InputError(
            path,
            "utterance before the first stage marker",
            line=missing.line,
            hint="every utterance of a labelled call needs a stage: start with a ## marker",
        )
    labels = tuple(GoldLabel(stage=u.given_stage or "") for u in transcript.utterances)
    return LabelledCall(without_markers(transcript), labels, group, has_line_labels=False)


def _json_labels(path: Path, gold_file: Path, transcript: Transcript) -> tuple[GoldLabel, ...]:
    try:
        gold = json.loads(gold_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(gold_file, f"cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(gold_file, f"not valid JSON: {exc.msg}", line=exc.lineno) from None
    entries = gold.get("utterances") if isinstance(gold, dict) else None
    if not isinstance(entries, list):
        raise InputError(gold_file, 'no "utterances" list')
    # One entry per line an utterance starts on: headers (`# agent: 张三`), comments and blank lines
    # need none. (A line holding two run-together turns is one entry, both take it.) A file with an
    # entry per non-empty line, as the shared labelled set's format said, still reads when that is
    # how many it has: its entries for the other lines are passed over.
    lines = sorted({u.line for u in transcript.utterances})
    if len(entries) != len(lines):
        text = path.read_text(encoding=transcript.encoding or "utf-8", errors="replace")
        non_empty = [number for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
        if len(entries) != len(non_empty) or not set(lines) <= set(non_empty):
            counts = f"{len(entries)} gold utterances but {path.name} has {len(lines)} utterance lines"
            hint = "one entry per line an utterance starts on, in order; # lines and blank lines need none"
            if len(entries) < len(lines):  # named: the first utterance without an entry
                raise InputError(
                    path, f"no gold entry for this utterance ({counts})", line=lines[len(entries)], hint=hint
                )
            final = f" (the last on line {lines[-1]})" if lines else ""
            raise InputError(gold_file, f"{counts}{final}: entries left over", hint=hint)
        lines = non_empty
    by_line: dict[int, GoldLabel] = {}
    last = 0
    for number, entry in zip(lines, entries, strict=True):
        label = _label(gold_file, path, number, entry)
        if STAGES.index(label.stage) < last:
            raise InputError(path, f"gold stage goes back to {label.stage} after {STAGES[last]}", line=number)
        last = STAGES.index(label.stage)
        by_line[number] = label
    return tuple(by_line[u.line] for u in transcript.utterances)


def _label(gold_file: Path, path: Path, line: int, entry: object) -> GoldLabel:
    """One entry, checked; errors name the transcript line the entry belongs to."""
    if not isinstance(entry, dict):
        raise InputError(gold_file, f"the entry for {path.name} line {line} is not an object")
    stage = entry.get("stage")
    if stage not in STAGES:
        raise InputError(path, f"unknown gold stage {stage!r}", line=line, hint=f"one of {' '.join(STAGES)}")
    forbidden = entry.get("forbidden")
    if forbidden is not None and forbidden not in FORBIDDEN_CATEGORIES:
        raise InputError(
            path,
            f"unknown forbidden category {forbidden!r}",
            line=line,
            hint=f"one of {' '.join(FORBIDDEN_CATEGORIES)}",
        )
    recommended = entry.get("recommended")
    if recommended is not None and recommended not in RECOMMENDED_LABELS:
        raise InputError(
            path, f"unknown recommended label {recommended!r}", line=line, hint=f"one of {' '.join(RECOMMENDED_LABELS)}"
        )
    return GoldLabel(stage, forbidden, bool(entry.get("near_miss")), recommended)
