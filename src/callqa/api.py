"""The typed library API: read a transcript, load a rubric, segment, score one call or many.

Everything the command line does with a call goes through these functions, so a Python user gets
what `callqa score --format json` prints: `score()` returns a `Report`, a pydantic model whose
`model_dump_json()` is that document as data (the command pretty-prints it: `Report.to_json()` gives
its very bytes).

    import callqa
    rubric = callqa.load_rubric()                       # the built-in default
    report = callqa.score(callqa.read_transcript("call.txt"), rubric)
    print(report.score, report.grade, [f.rule for f in report.findings])
"""

from __future__ import annotations

import hashlib
import importlib
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callqa.batch.dask import score_on_dask
from callqa.batch.runner import score_many as _score_many
from callqa.errors import CallqaError, InputError, StoreError
from callqa.model import Report, Segmentation, Transcript
from callqa.rules.compiled import CompiledRubric
from callqa.rules.detector import ForbiddenModel
from callqa.rules.schema import rubric_json_schema
from callqa.scoring.pipeline import compile_rubric, evidence_for, score_transcript, segment_transcript
from callqa.stages.model import StageModel
from callqa.stages.segment import Boundary, StageEvidence, explain_boundaries
from callqa.stages.segment import segment as decode_evidence
from callqa.store.location import database_url
from callqa.transcripts.gold import LabelledCall, labelled_files, read_labelled, without_markers
from callqa.transcripts.reader import FORMATS, TRANSCRIPT_SUFFIXES, ReadOptions, transcript_from_text
from callqa.transcripts.reader import read_transcript as _read_file
from callqa.transcripts.source import decode
from callqa.version import __version__

if TYPE_CHECKING:  # the store's module imports SQLAlchemy: `open_store` imports it when called
    from callqa.store.database import Store as Store
    from callqa.store.paths import path_pattern as path_pattern
    from callqa.store.records import CallMeta as CallMeta
    from callqa.store.records import HistoryFilter as HistoryFilter
    from callqa.store.records import StoredCall as StoredCall
    from callqa.store.writer import BatchWriter as BatchWriter
    from callqa.store.writer import CallRecorder as CallRecorder

#: Names of the store's records, writer and path patterns, loaded on first use (PEP 562): `callqa
#: score CALL` is a cold start every time, and only --db, history and review need them.
LAZY: dict[str, str] = {
    "BatchWriter": "callqa.store.writer",
    "CallRecorder": "callqa.store.writer",
    "CallMeta": "callqa.store.records",
    "HistoryFilter": "callqa.store.records",
    "StoredCall": "callqa.store.records",
    "path_pattern": "callqa.store.paths",
}


def __getattr__(name: str) -> Any:
    if name not in LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:  # the lazy names too, for help(), completion and inspect
    return sorted({*globals(), *LAZY})


PathLike = str | os.PathLike[str]

__all__ = [
    "FORMATS",
    "TRANSCRIPT_SUFFIXES",
    "BatchWriter",
    "CallMeta",
    "CallRecorder",
    "CallqaError",
    "CompiledRubric",
    "ForbiddenModel",
    "HistoryFilter",
    "LabelledCall",
    "ReadOptions",
    "Report",
    "ScoredFile",
    "Segmentation",
    "SegmentationExplained",
    "StageModel",
    "StoreError",
    "StoredCall",
    "Transcript",
    "database_url",
    "explain_segmentation",
    "load_rubric",
    "open_store",
    "path_pattern",
    "read_labelled_calls",
    "read_transcript",
    "report_json_schema",
    "rubric_json_schema",
    "score",
    "score_file",
    "score_many",
    "segment",
    "train_forbidden_model",
    "train_stage_model",
    "without_markers",
]


def load_rubric(path: PathLike | None = None, *, stage_model: PathLike | None = None) -> CompiledRubric:
    """Load, validate and compile a rubric (`None` or "default": the built-in one, compiled once per
    process) with the stage model it names, or `stage_model` ("default", "cues" or a model file).
    Raises `RubricError` naming the file and line of the first problem, `ModelError` for a bad model."""
    if (path is None or str(path) == "default") and stage_model is None:
        return _default_rubric()
    return compile_rubric(
        None if path is None or str(path) == "default" else os.fspath(path),
        stage_model=None if stage_model is None else os.fspath(stage_model),
    )


@lru_cache(maxsize=1)
def _default_rubric() -> CompiledRubric:
    return compile_rubric(None)


def read_transcript(
    source: PathLike | bytes | None = None,
    *,
    text: str | None = None,
    name: str = "<text>",
    rubric: CompiledRubric | None = None,
    input_format: str = "auto",
    encoding: str | None = None,
    agent_speaker: str | None = None,
) -> Transcript:
    """A transcript from a file path, from raw `bytes` (encoding detected) or from decoded `text=`.

    `name` stands for the file in messages and in the report when the source is not a path; its
    extension helps format detection (`call.srt`). The rubric decides which speaker labels mean the
    agent and which words are fillers (default: the built-in rubric). Raises `InputError`.
    """
    rubric = rubric or load_rubric()
    options = ReadOptions(input_format=input_format, encoding=encoding, agent_speaker=agent_speaker)
    if options.input_format not in FORMATS:
        raise InputError(name, f"unknown input format '{input_format}'", hint=f"one of {', '.join(FORMATS)}")
    if (source is None) == (text is None):
        raise TypeError("read_transcript takes a path or bytes, or text=, not both")
    if isinstance(source, bytes):
        decoded, found = decode(source, name, encoding)
        return transcript_from_text(decoded, name, rubric, options, encoding=found)
    if text is not None:
        return transcript_from_text(text, name, rubric, options)
    assert source is not None  # checked above: exactly one of source and text
    return _read_file(Path(source), rubric, options)


def segment(transcript: Transcript, rubric: CompiledRubric | None = None) -> Segmentation:
    """The stage of every utterance (问候 切入 转化 协议 结束, never going back)."""
    return segment_transcript(transcript, rubric or load_rubric())


@dataclass(frozen=True, slots=True)
class SegmentationExplained:
    """A split with its reasons: per-utterance evidence and, at each boundary, what put it there."""

    segmentation: Segmentation
    evidence: list[StageEvidence]
    boundaries: list[Boundary]
    model: str | None  # the stage model's name, or None when the rubric's cues made the split


def explain_segmentation(transcript: Transcript, rubric: CompiledRubric | None = None) -> SegmentationExplained:
    """`segment`, with the evidence `callqa segment --explain` prints."""
    rubric = rubric or load_rubric()
    evidence, model = evidence_for(transcript, rubric)
    segmentation = decode_evidence(transcript, rubric, model, evidence)
    name = str(model.manifest.get("name", model.path)) if model is not None else None
    return SegmentationExplained(segmentation, evidence, explain_boundaries(segmentation, evidence, model), name)


def score(transcript: Transcript, rubric: CompiledRubric | None = None) -> Report:
    """Segment and score one call."""
    return score_transcript(transcript, rubric or load_rubric())


def score_file(path: PathLike, rubric: CompiledRubric | None = None, **read_options: Any) -> Report:
    """Read and score one transcript file; `read_options` as for `read_transcript`."""
    rubric = rubric or load_rubric()
    return score(read_transcript(path, rubric=rubric, **read_options), rubric)


@dataclass(frozen=True, slots=True)
class ScoredFile:
    """One file of `score_many`: its report, or the one-line reason it could not be scored."""

    path: str
    report: Report | None
    error: str | None = None


def score_many(
    paths: Iterable[PathLike],
    rubric: CompiledRubric | None = None,
    *,
    jobs: int | None = None,
    input_format: str = "auto",
    encoding: str | None = None,
    agent_speaker: str | None = None,
    scheduler: str | Any | None = None,
    stop: threading.Event | None = None,
) -> Iterator[ScoredFile]:
    """Score many files in worker processes (`jobs`, default: every core), or on a Dask cluster
    (`scheduler`: its address or a `distributed.Client`; the `dask` extra), yielding each as it is
    finished (not in input order). A file that cannot be read yields an error and never stops the
    others; setting `stop` ends the iteration between calls."""
    rubric = rubric or load_rubric()
    names = [Path(p) for p in paths]
    options = ReadOptions(input_format=input_format, encoding=encoding, agent_speaker=agent_speaker)
    workers = jobs or os.cpu_count() or 1
    if scheduler is not None:
        outcomes = score_on_dask(names, rubric, options, scheduler, details=True, stop=stop)
    else:
        outcomes = _score_many(names, rubric, options, min(workers, max(len(names), 1)), details=True, stop=stop)
    for outcome in outcomes:
        if outcome.report is not None:
            yield ScoredFile(outcome.path, Report.model_validate(outcome.report))
        elif outcome.json is not None:
            yield ScoredFile(outcome.path, Report.model_validate_json(outcome.json))
        else:
            yield ScoredFile(outcome.path, None, outcome.error or "unknown error")


def report_json_schema() -> dict[str, Any]:
    """The JSON Schema of the `--format json` report (`callqa schema report`)."""
    return Report.model_json_schema(by_alias=True)


# --- the store: history, review and appeal ------------------------------------------------------


def open_store(url: str | None = None, *, create: bool = False, check: bool = True) -> Store:
    """The callqa database at `url` (a SQLAlchemy URL, a SQLite file path or "default"; else
    $CALLQA_DB, else a SQLite file in the user's data folder), its schema checked (unless `check` is
    False). With `create`, a missing SQLite file or an empty database is created; without, it is an
    error (a command that only reads never makes a database). Raises `StoreError`."""
    from callqa.store.database import Store  # SQLAlchemy takes 0.3 s to import: only storing pays it

    return Store(database_url(url), create=create, check=check)


# --- labelled calls: training and evaluation ---------------------------------------------------


def read_labelled_calls(
    paths: Iterable[PathLike], rubric: CompiledRubric | None = None
) -> tuple[list[LabelledCall], list[str]]:
    """Labelled calls under `paths` (either gold format), and one error line per file that is not one."""
    rubric = rubric or load_rubric()
    calls, errors = [], []
    for path in labelled_files(Path(p) for p in paths):
        try:
            calls.append(read_labelled(path, rubric))
        except CallqaError as exc:
            errors.append(str(exc))
    return calls, errors


def train_stage_model(
    calls: Sequence[LabelledCall],
    rubric: CompiledRubric | None = None,
    *,
    settings: dict[str, Any] | None = None,
    name: str = "stages",
) -> StageModel:
    """A stage model trained on labelled calls (deterministic: the same calls give the same weights),
    its manifest saying what it was trained on."""
    from callqa.evaluation.evaluate import train_stages  # training code loads only to train

    rubric = rubric or load_rubric()
    model = train_stages(calls, rubric, settings)
    model.manifest.update(_training_manifest(calls, rubric, name))
    return model


def train_forbidden_model(
    calls: Sequence[LabelledCall],
    rubric: CompiledRubric | None = None,
    *,
    settings: dict[str, Any] | None = None,
    name: str = "forbidden",
) -> ForbiddenModel:
    """A forbidden-expression detector trained on the agent lines of labelled calls (`.gold.json`
    with `forbidden` labels), its threshold chosen by leave-one-group-out inside them. Needs the
    `train` extra (scikit-learn); scoring with the model does not."""
    from callqa.evaluation.evaluate import train_forbidden

    rubric = rubric or load_rubric()
    model = train_forbidden(calls, settings)
    # Calls with stage markers only give the detector no line: its manifest lists the ones it learned from.
    model.manifest.update(_training_manifest([c for c in calls if c.has_line_labels], rubric, name))
    return model


def _training_manifest(calls: Sequence[LabelledCall], rubric: CompiledRubric, name: str) -> dict[str, Any]:
    """What a model was trained on, when, by which callqa: recorded in its file."""
    from callqa.evaluation.evaluate import call_fingerprint

    digest = hashlib.sha256()
    groups: dict[str, dict[str, int]] = {}
    for call in calls:
        digest.update("\n".join(u.norm for u in call.transcript.utterances).encode("utf-8"))
        digest.update("|".join(call.stages).encode("utf-8"))
        group = groups.setdefault(call.group, {"calls": 0, "utterances": 0})
        group["calls"] += 1
        group["utterances"] += len(call.labels)
    epoch = os.environ.get("SOURCE_DATE_EPOCH")  # reproducible builds fix the date
    created = (datetime.fromtimestamp(int(epoch), tz=UTC) if epoch else datetime.now(UTC)).date()
    return {
        "name": name,
        "created": created.isoformat(),
        "callqa_version": __version__,
        "rubric": {"name": rubric.rubric.name, "version": rubric.rubric.version},
        "trained_on": {
            "groups": groups,
            "calls": len(calls),
            "sha256": digest.hexdigest(),
            # each call as 16 hex digits of a hash of its words, no text: `callqa eval` tells in-sample figures by them
            "fingerprints": sorted({call_fingerprint(c) for c in calls}),
        },
    }
