"""callqa: score Chinese customer-service call transcripts against a YAML rubric.

The library API (see `callqa.api`): `read_transcript`, `load_rubric`, `segment`, `score`,
`score_file`, `score_many`; results are typed (`Transcript`, `Segmentation`, `Report`).
"""

from callqa.api import (
    FORMATS,
    CallqaError,
    CompiledRubric,
    ReadOptions,
    Report,
    ScoredFile,
    Segmentation,
    Transcript,
    load_rubric,
    read_transcript,
    report_json_schema,
    rubric_json_schema,
    score,
    score_file,
    score_many,
    segment,
)
from callqa.version import __version__

__all__ = [
    "FORMATS",
    "CallqaError",
    "CompiledRubric",
    "ReadOptions",
    "Report",
    "ScoredFile",
    "Segmentation",
    "Transcript",
    "__version__",
    "load_rubric",
    "read_transcript",
    "report_json_schema",
    "rubric_json_schema",
    "score",
    "score_file",
    "score_many",
    "segment",
]
