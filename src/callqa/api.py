"""The typed library API: read a transcript, load a rubric, segment, score one call or many.

Everything the command line does with a call goes through these functions, so a Python user gets
exactly what `callqa score --format json` prints: `score()` returns a `Report`, a pydantic model
whose `model_dump_json()` is that document.

    import callqa
    rubric = callqa.load_rubric()                       # the built-in default
    report = callqa.score(callqa.read_transcript("call.txt"), rubric)
    print(report.score, report.grade, [f.rule for f in report.findings])
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from callqa.batch.dask import score_on_dask
from callqa.batch.runner import score_many as _score_many
from callqa.errors import CallqaError, InputError
from callqa.model import Report, Segmentation, Transcript
from callqa.rules.compiled import CompiledRubric
from callqa.rules.schema import rubric_json_schema
from callqa.scoring.pipeline import compile_rubric, score_transcript
from callqa.stages.segment import segment as _segment
from callqa.transcripts.reader import FORMATS, TRANSCRIPT_SUFFIXES, ReadOptions, transcript_from_text
from callqa.transcripts.reader import read_transcript as _read_file
from callqa.transcripts.source import decode

PathLike = str | os.PathLike[str]

__all__ = [
    "FORMATS",
    "TRANSCRIPT_SUFFIXES",
    "CallqaError",
    "CompiledRubric",
    "ReadOptions",
    "Report",
    "ScoredFile",
    "Segmentation",
    "Transcript",
    "load_rubric",
    "read_transcript",
    "report_json_schema",
    "rubric_json_schema",
    "score",
    "score_file",
    "score_many",
    "segment",
]


def load_rubric(path: PathLike | None = None) -> CompiledRubric:
    """Load, validate and compile a rubric (`None` or "default": the built-in one, compiled once per
    process). Raises `RubricError` naming the file and line of the first problem."""
    if path is None or str(path) == "default":
        return _default_rubric()
    return compile_rubric(os.fspath(path))


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
    return _segment(transcript, rubric or load_rubric())


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
        if outcome.json is None:
            yield ScoredFile(outcome.path, None, outcome.error or "unknown error")
        else:
            yield ScoredFile(outcome.path, Report.model_validate_json(outcome.json))


def report_json_schema() -> dict[str, Any]:
    """The JSON Schema of the `--format json` report (`callqa schema report`)."""
    return Report.model_json_schema(by_alias=True)
