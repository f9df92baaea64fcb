"""The one pipeline: read -> normalise -> segment -> match -> score. Rendering is the caller's."""

from __future__ import annotations

from pathlib import Path

from callqa.model import Report, Transcript
from callqa.rules.compiled import CompiledRubric
from callqa.rules.schema import load_rubric
from callqa.scoring.score import score
from callqa.stages.segment import segment
from callqa.transcripts.reader import ReadOptions, read_transcript


def compile_rubric(path: str | Path | None = None) -> CompiledRubric:
    """Load and compile a rubric (the built-in default when `path` is None)."""
    rubric, source = load_rubric(path)
    return CompiledRubric(rubric, source)


def score_file(path: str | Path, compiled: CompiledRubric, options: ReadOptions = ReadOptions()) -> Report:
    return score_transcript(read_transcript(path, compiled, options), compiled)  # reading normalises


def score_transcript(transcript: Transcript, compiled: CompiledRubric) -> Report:
    return score(transcript, segment(transcript, compiled), compiled)
