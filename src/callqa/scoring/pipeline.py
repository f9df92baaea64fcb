"""The one pipeline: read -> normalise -> segment -> match -> score. Rendering is the caller's."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from callqa.model import Report, Segmentation, Transcript
from callqa.rules.compiled import CompiledRubric
from callqa.rules.schema import load_rubric
from callqa.scoring.score import score
from callqa.stages.model import StageModel, default_model_path, load_stage_model
from callqa.stages.segment import StageEvidence, segment, stage_evidence
from callqa.transcripts.reader import ReadOptions, read_transcript

#: Stands for "the model the rubric names" where a caller may also pass a model (or None: cues only).
RUBRIC_MODEL = "rubric"


def compile_rubric(path: str | Path | None = None, *, stage_model: str | Path | None = None) -> CompiledRubric:
    """Load and compile a rubric (the built-in default when `path` is None) and load the stage model
    it names, or `stage_model` instead ("default", "cues" or a file): a bad model fails here, once."""
    rubric, source = load_rubric(path)
    compiled = CompiledRubric(rubric, source)
    if stage_model is not None:
        compiled.stage_model_source = CompiledRubric.resolve_stage_model(str(stage_model), Path.cwd())
    stage_model_for(compiled)
    return compiled


def stage_model_for(compiled: CompiledRubric) -> StageModel | None:
    """The stage model a compiled rubric uses (loaded once per process), or None for its cues alone."""
    source = compiled.stage_model_source
    if source == "cues":
        return None
    return load_stage_model(str(default_model_path()) if source == "default" else source)


def evidence_for(
    transcript: Transcript, compiled: CompiledRubric, model: StageModel | str | None = RUBRIC_MODEL
) -> tuple[list[StageEvidence], StageModel | None]:
    """Per-utterance stage evidence with the model's features (to explain it), and the model that
    gave it (None: the rubric's cues)."""
    chosen = stage_model_for(compiled) if isinstance(model, str) else model
    return stage_evidence(transcript, compiled, chosen, explain=True), chosen


def segment_transcript(
    transcript: Transcript, compiled: CompiledRubric, model: StageModel | str | None = RUBRIC_MODEL
) -> Segmentation:
    chosen = stage_model_for(compiled) if isinstance(model, str) else model
    return segment(transcript, compiled, chosen)


def score_file(path: str | Path, compiled: CompiledRubric, options: ReadOptions = ReadOptions()) -> Report:
    return score_transcript(read_transcript(path, compiled, options), compiled)  # reading normalises


def score_transcript(
    transcript: Transcript, compiled: CompiledRubric, model: StageModel | str | None = RUBRIC_MODEL
) -> Report:
    return score(transcript, segment_transcript(transcript, compiled, model), compiled)


def provenance(compiled: CompiledRubric) -> dict[str, Any]:
    """What scores a call, for the store: the rubric file's SHA-256 and each model as name, date and
    the first 12 hex digits of its file's SHA-256 (a retrained model is a new version)."""
    models: dict[str, str] = {}
    stage_model = stage_model_for(compiled)
    if stage_model is not None:
        models["stages"] = _model_version(stage_model.manifest, stage_model.path)
    for detector in compiled.detectors:
        models[detector.rule.id] = _model_version(detector.model.manifest, detector.model.path)
    # A rubric with no file behind it (built in memory) is known by its content.
    digest = _file_sha256(compiled.path) or hashlib.sha256(compiled.rubric.model_dump_json().encode()).hexdigest()
    return {"rubric_sha256": digest, "models": models}


def _model_version(manifest: dict[str, Any], path: str) -> str:
    name = f"{manifest.get('name', Path(path).stem)} {manifest.get('created', '')}".strip()
    digest = _file_sha256(path)
    return f"{name} {digest[:12]}" if digest else name


def _file_sha256(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:  # a model built in memory, say: no file to hash
        return ""
