"""The one pipeline: read -> normalise -> segment -> match -> score. Rendering is the caller's."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from callqa.errors import ModelError, RubricError
from callqa.model import Report, Segmentation, Transcript
from callqa.rules.compiled import CompiledRubric
from callqa.rules.detector import load_detector
from callqa.rules.schema import Rubric, load_rubric
from callqa.rules.yamlsource import RuleLines, load_yaml
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
    problems = model_problems(rubric, source, stage_model=stage_model is None)
    if problems:
        raise problems[0]
    compiled = CompiledRubric(rubric, source)
    if stage_model is not None:
        compiled.stage_model_source = CompiledRubric.resolve_stage_model(str(stage_model), Path.cwd())
    stage_model_for(compiled)
    return compiled


def model_problems(rubric: Rubric, source: str, *, stage_model: bool = True) -> list[RubricError]:
    """Each model file the rubric names (a detector's `model:`, its `stage_model:`) that cannot be
    loaded, as a rubric error on the line of that key, with the model's own error: the mistake is in
    the rubric, and a line in a model file that does not exist is one no editor or CI can show. A key
    the rubric inherits (`extends`) is placed on its `extends:` line. `stage_model=False`: the rubric's
    stage model is not used (another was chosen), so it is not loaded."""
    folder = Path(source).parent
    wanted: list[tuple[tuple[str | int, ...], str, str, Any]] = []  # (where, what, file, loader)
    for detector in rubric.detectors:
        if detector.enabled:
            file = CompiledRubric.resolve_detector_model(detector.model, folder)
            wanted.append((("detectors", detector.id, "model"), f"{detector.id}: model", file, load_detector))
    if stage_model and rubric.stage_model not in ("default", "cues"):
        stage_file = CompiledRubric.resolve_stage_model(rubric.stage_model, folder)
        wanted.append((("stage_model",), "stage_model", stage_file, load_stage_model))
    problems: list[RubricError] = []
    for where, what, model_file, loader in wanted:
        try:
            loader(model_file)
        except ModelError as exc:
            line = _line_of(source, where)
            problems.append(RubricError(source, f"{what}: {exc.path}: {exc.message}", line=line, hint=exc.hint))
    return problems


def _line_of(source: str, where: tuple[str | int, ...]) -> int:
    """The line of `stage_model` or of `(detectors, id, model)` in the rubric file itself; its
    `extends:` line when the key comes from the rubric it extends; else the entry's line, or 1."""
    try:
        lines = RuleLines(load_yaml(Path(source)))
    except RubricError:  # it loaded a moment ago
        return 1
    if where[0] == "detectors":
        return lines.of("detectors", str(where[1]), *where[2:])
    return lines.of_key(str(where[0]))


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
        models["stages"] = model_version(stage_model.manifest, stage_model.path)
    for detector in compiled.detectors:
        models[detector.rule.id] = model_version(detector.model.manifest, detector.model.path)
    # A rubric with no file behind it (built in memory) is known by its content.
    digest = _file_sha256(compiled.path) or hashlib.sha256(compiled.rubric.model_dump_json().encode()).hexdigest()
    return {"rubric_sha256": digest, "models": models}


def model_version(manifest: dict[str, Any], path: str) -> str:
    """A model as `name created digest12`, e.g. callqa-stages 2026-12-04 d65369a2b540."""
    name = f"{manifest.get('name', Path(path).stem)} {manifest.get('created', '')}".strip()
    digest = _file_sha256(path)
    return f"{name} {digest[:12]}" if digest else name


def _file_sha256(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:  # a model built in memory, say: no file to hash
        return ""
