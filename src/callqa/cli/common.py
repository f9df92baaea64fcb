"""What every command shares: exit codes, the one-line error, and the options several commands take."""

from __future__ import annotations

import sys
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated

import typer

from callqa.api import FORMATS, CallqaError, CompiledRubric, load_rubric

#: Documented in `callqa --help` and the README.
EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def error(message: str) -> None:
    """One line on stderr, never a traceback."""
    print(f"callqa: error: {message}", file=sys.stderr)


def compile_or_exit(rubric: Path | str | None, stage_model: str | None = None) -> CompiledRubric:
    """The compiled rubric (with `stage_model` instead of the one it names), or one error line and exit 2."""
    try:
        return load_rubric(rubric, stage_model=stage_model)
    except CallqaError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_ERROR) from None


# Built from FORMATS so the choices never drift; mypy cannot analyse an Enum made from a computed dict.
InputFormat = Enum("InputFormat", {name: name for name in FORMATS}, type=str)  # type: ignore[misc]
AUTO_INPUT_FORMAT = InputFormat("auto")  # the --input-format default


class OutputFormat(StrEnum):
    auto = "auto"
    rich = "rich"
    text = "text"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


RubricOption = Annotated[
    Path | None,
    typer.Option("--rubric", "-r", help="Rubric YAML (default: the built-in rubric).", show_default=False),
]


StageModelOption = Annotated[
    str | None,
    typer.Option(
        "--stage-model",
        help="Stage model file to use instead of the rubric's: a file from `callqa train "
        "stages`, 'default' (shipped) or 'cues' (the rubric's cues alone).",
        show_default=False,
    ),
]


class SummaryFormat(StrEnum):
    text = "text"
    json = "json"


SummaryFormatOption = Annotated[SummaryFormat, typer.Option("--format", "-f", help="text or json.")]


class GroupBy(StrEnum):
    auto = "auto"
    header = "header"
    folder = "folder"
    none = "none"


class DiagnosticFormat(StrEnum):
    text = "text"
    json = "json"
    github = "github"
    junit = "junit"
    sarif = "sarif"


class FailOn(StrEnum):
    info = "info"
    warning = "warning"
    error = "error"
    fatal = "fatal"


DiagnosticFormatOption = Annotated[
    DiagnosticFormat,
    typer.Option(
        "--format",
        "-f",
        help="text: path:line:col: severity rule message (suggestion); json; github (workflow "
        "annotations); junit (XML); sarif (2.1.0).",
    ),
]
FailOnOption = Annotated[FailOn, typer.Option(help="Exit 1 when a finding is at least this severe.")]
