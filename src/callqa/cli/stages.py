"""`callqa segment` and `callqa eval-stages`: the stage split of a call, and how good it is."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from callqa.api import CallqaError, read_transcript
from callqa.batch.runner import find_transcripts
from callqa.cli.common import (
    AUTO_INPUT_FORMAT,
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_OK,
    InputFormat,
    RubricOption,
    SummaryFormat,
    SummaryFormatOption,
    compile_or_exit,
    error,
)
from callqa.evaluation.stages import evaluate, format_evaluation, without_markers
from callqa.reports.terminal import make_console, print_segmentation


def segment(
    path: Annotated[Path, typer.Argument(help="A transcript file.", show_default=False)],
    rubric: RubricOption = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show the cues and scores behind each line's stage and each boundary.")
    ] = False,
    ignore_markers: Annotated[
        bool, typer.Option("--ignore-markers", help="Infer the split even where ## stage markers give it.")
    ] = False,
    input_format: Annotated[InputFormat, typer.Option("--input-format", "-i")] = AUTO_INPUT_FORMAT,
) -> None:
    """Print the transcript with the stage of every line (问候 切入 转化 协议 结束).

    Exit codes: 0 done, 2 usage or input error.
    """
    compiled = compile_or_exit(rubric)
    try:
        transcript = read_transcript(path, rubric=compiled, input_format=input_format.value)
    except CallqaError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_ERROR) from None
    if ignore_markers:
        transcript = without_markers(transcript)
    plain = not sys.stdout.isatty() or bool(os.environ.get("NO_COLOR"))
    print_segmentation(transcript, compiled, make_console(plain=plain), plain=plain, explain=explain)


def eval_stages(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Labelled transcripts (with ## stage markers) or folders of them.", show_default=False),
    ],
    rubric: RubricOption = None,
    output_format: SummaryFormatOption = SummaryFormat.text,
    min_accuracy: Annotated[
        float | None,
        typer.Option(help="Exit 1 when utterance accuracy is below this (0-1), e.g. in CI.", show_default=False),
    ] = None,
) -> None:
    """Compare automatic segmentation with the stage markers written in labelled calls.

    Prints utterance accuracy, boundary accuracy (exact and within one utterance) and a confusion table.
    Exit codes: 0 done, 1 accuracy below --min-accuracy, 2 usage or input error.
    """
    files, missing = find_transcripts(paths, "*.txt")
    for message in missing:
        error(message)
    compiled = compile_or_exit(rubric)
    try:
        result = evaluate(files, compiled)
    except CallqaError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_ERROR) from None
    if output_format is SummaryFormat.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(format_evaluation(result))
    if missing or not files:
        raise typer.Exit(EXIT_ERROR)
    raise typer.Exit(EXIT_FAILED if min_accuracy is not None and result.accuracy < min_accuracy else EXIT_OK)
