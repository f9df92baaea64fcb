"""`callqa segment`, `callqa eval` and `callqa train stages`: the stage split of a call, how good it is
on labelled calls, and a model trained from a team's own labelled calls."""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from callqa.api import (
    CallqaError,
    CompiledRubric,
    LabelledCall,
    explain_segmentation,
    read_labelled_calls,
    read_transcript,
    train_forbidden_model,
    train_stage_model,
    without_markers,
)
from callqa.cli.common import (
    AUTO_INPUT_FORMAT,
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_OK,
    InputFormat,
    RubricOption,
    StageModelOption,
    SummaryFormat,
    SummaryFormatOption,
    compile_or_exit,
    error,
)
from callqa.reports.segmentation import segmentation_document
from callqa.reports.terminal import make_console, print_segmentation


class SegmentFormat(StrEnum):
    text = "text"
    json = "json"


def segment(
    path: Annotated[Path, typer.Argument(help="A transcript file.", show_default=False)],
    rubric: RubricOption = None,
    stage_model: StageModelOption = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Show, at each boundary, what put it there (the model's "
            "strongest features, or the rubric's cues) and each line's "
            "scores.",
        ),
    ] = False,
    ignore_markers: Annotated[
        bool, typer.Option("--ignore-markers", help="Infer the split even where ## stage markers give it.")
    ] = False,
    input_format: Annotated[InputFormat, typer.Option("--input-format", "-i")] = AUTO_INPUT_FORMAT,
    output_format: Annotated[
        SegmentFormat,
        typer.Option(
            "--format",
            "-f",
            help="text (lines with their stage), or json: every line's stage and P(stage), every boundary's "
            "confidence and reasons (schema callqa.segmentation/1).",
        ),
    ] = SegmentFormat.text,
) -> None:
    """Print the transcript with the stage of every line (问候 切入 转化 协议 结束).

    Exit codes: 0 done, 2 usage or input error.
    """
    compiled = compile_or_exit(rubric, stage_model)
    try:
        transcript = read_transcript(path, rubric=compiled, input_format=input_format.value)
    except CallqaError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_ERROR) from None
    if ignore_markers:
        transcript = without_markers(transcript)
    explained = explain_segmentation(transcript, compiled)
    if output_format is SegmentFormat.json:
        document = segmentation_document(
            transcript, explained.segmentation, explained.evidence, explained.boundaries, explained.model
        )
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return
    plain = not sys.stdout.isatty() or bool(os.environ.get("NO_COLOR"))
    print_segmentation(
        transcript,
        explained.segmentation,
        explained.evidence,
        explained.boundaries,
        explained.model,
        make_console(plain=plain),
        plain=plain,
        explain=explain,
    )


class GroupBy(StrEnum):
    folder = "folder"
    none = "none"


def _read_or_exit(paths: list[Path], compiled: CompiledRubric, what: str) -> list[LabelledCall]:
    calls, errors = read_labelled_calls(paths, compiled)
    for message in errors:
        error(message)
    if errors:
        raise typer.Exit(EXIT_ERROR)
    if not calls:
        error(f"no labelled calls in {', '.join(map(str, paths))} ({what})")
        raise typer.Exit(EXIT_ERROR)
    return calls


def eval_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Labelled calls (## stage markers, or NAME.gold.json beside NAME.txt) or folders of them.",
            show_default=False,
        ),
    ],
    rubric: RubricOption = None,
    stage_model: StageModelOption = None,
    group_by: Annotated[
        GroupBy, typer.Option(help="folder: a group per folder (a writer, a team); none: one group.")
    ] = GroupBy.none,
    leave_one_group_out: Annotated[
        bool,
        typer.Option(
            "--leave-one-group-out",
            help="Score each group with models trained on every other group (and --train-also), never on itself.",
        ),
    ] = False,
    train_also: Annotated[
        list[Path] | None,
        typer.Option(
            help="More labelled calls for training in --leave-one-group-out; never scored.", show_default=False
        ),
    ] = None,
    train_stages_also: Annotated[
        list[Path] | None,
        typer.Option(
            help="More labelled calls for the stage model's training only (not the detector's) in "
            "--leave-one-group-out, as the shipped models are built; never scored.",
            show_default=False,
        ),
    ] = None,
    train_forbidden_also: Annotated[
        list[Path] | None,
        typer.Option(
            help="More labelled calls for the detector's training only (not the stage model's) in "
            "--leave-one-group-out; never scored.",
            show_default=False,
        ),
    ] = None,
    baselines: Annotated[
        bool, typer.Option(help="Also show the rubric's cues alone and a split by position alone.")
    ] = False,
    output_format: SummaryFormatOption = SummaryFormat.text,
    min_accuracy: Annotated[
        float | None,
        typer.Option(
            help="Exit 1 when overall utterance accuracy is below this (0-1), e.g. in CI.", show_default=False
        ),
    ] = None,
) -> None:
    """Measure stages (accuracy, boundaries, κ, per-stage F1, confusion) and, where the gold labels lines,
    forbidden expressions (precision, recall, near-misses flagged), recommended scripts and ranking.

    Exit codes: 0 done, 1 accuracy below --min-accuracy, 2 usage or input error.
    """
    # measuring code loads only to measure: every other command starts without it
    from callqa.evaluation.evaluate import evaluate
    from callqa.reports.evaluation import render_evaluation

    training_options = {  # option -> its folders: calls that train models in every fold, never scored
        "--train-also": train_also,
        "--train-stages-also": train_stages_also,
        "--train-forbidden-also": train_forbidden_also,
    }
    given = [option for option, folders in training_options.items() if folders]
    if given and not leave_one_group_out:  # without it nothing is trained, and they would do nothing
        error(f"{', '.join(given)} trains models per fold: add --leave-one-group-out")
        raise typer.Exit(EXIT_ERROR)
    compiled = compile_or_exit(rubric, stage_model)
    calls = _read_or_exit(paths, compiled, "to evaluate")
    extra, stage_extra, forbidden_extra = (
        _read_or_exit(folders, compiled, option) if folders else [] for option, folders in training_options.items()
    )
    if group_by is GroupBy.none:
        calls = [call.__class__(call.transcript, call.labels, "全部", call.has_line_labels) for call in calls]
    if leave_one_group_out and len({c.group for c in calls}) < 2 and not (extra or stage_extra):
        error("--leave-one-group-out needs two groups or more (use --group-by folder)")
        raise typer.Exit(EXIT_ERROR)
    stderr = Console(stderr=True)
    report = (
        (lambda group: stderr.print(f"callqa eval: {group} …", markup=False, highlight=False))
        if stderr.is_terminal
        else (lambda group: None)
    )
    result = evaluate(
        calls,
        compiled,
        leave_one_group_out=leave_one_group_out,
        train_also=extra,
        stage_train_also=stage_extra,
        forbidden_train_also=forbidden_extra,
        baselines=baselines,
        progress=report,
    )
    for message in result.warnings:
        print(f"callqa eval: warning: {message}", file=sys.stderr)
    if output_format is SummaryFormat.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        plain = not sys.stdout.isatty() or bool(os.environ.get("NO_COLOR"))
        render_evaluation(result, make_console(plain=plain))
    accuracy = result.overall.stage_figures()["utterance_accuracy"] or 0.0
    raise typer.Exit(EXIT_FAILED if min_accuracy is not None and accuracy < min_accuracy else EXIT_OK)


def train_stages_command(
    paths: Annotated[
        list[Path], typer.Argument(help="Labelled calls or folders of them (both gold formats).", show_default=False)
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The model file to write (JSON).", show_default=False)],
    rubric: RubricOption = None,
    name: Annotated[str, typer.Option(help="The model's name, shown in reports.")] = "stages",
) -> None:
    """Train a stage model from labelled calls; use it with `stage_model:` in a rubric or --stage-model.

    Exit codes: 0 written, 2 bad training input (nothing is written).
    """
    compiled = compile_or_exit(rubric, "cues")
    calls = _read_or_exit(paths, compiled, "to train on")
    model = train_stage_model(calls, compiled, name=name)
    try:
        model.save(out)
    except OSError as exc:
        error(f"{out}: cannot write: {exc.strerror}")
        raise typer.Exit(EXIT_ERROR) from None
    utterances = sum(len(c.labels) for c in calls)
    print(f"callqa: trained {name} on {len(calls)} calls ({utterances} utterances); wrote {out}", file=sys.stderr)


def train_forbidden_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Labelled calls with NAME.gold.json (forbidden labels) or "
            "folders of them; each folder is a group for the threshold choice.",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The model file to write (JSON).", show_default=False)],
    rubric: RubricOption = None,
    name: Annotated[str, typer.Option(help="The model's name, shown in reports.")] = "forbidden",
) -> None:
    """Train a forbidden-expression detector from labelled calls; a rubric uses it under `detectors:`
    (`model: FILE`). Needs scikit-learn (pip install 'callqa\\[train]'); scoring with it does not.

    Exit codes: 0 written, 2 bad training input (nothing is written).
    """
    compiled = compile_or_exit(rubric, "cues")
    read = _read_or_exit(paths, compiled, "to train on")
    # Only calls whose gold labels their lines (NAME.gold.json) teach the detector: the others are
    # left out of the count and of the model's manifest, and said so.
    calls = [c for c in read if c.has_line_labels]
    if not calls:
        error(
            "no call has line labels (NAME.gold.json with forbidden labels): "
            "stage markers alone cannot train a detector"
        )
        raise typer.Exit(EXIT_ERROR)
    if len(calls) < len(read):
        skipped = len(read) - len(calls)
        print(
            f"callqa: skipped {skipped} call{'s' if skipped != 1 else ''} with stage markers only "
            "(no NAME.gold.json labelling their lines): the detector learns from line labels",
            file=sys.stderr,
        )
    groups = sorted({c.group for c in calls if any(u.role == "agent" for u in c.transcript.utterances)})
    if len(groups) == 1:
        print(
            f"callqa: the calls are one group ({groups[0]}), so the threshold is not chosen but left at 0.5: "
            "it is chosen by leaving each group out in turn, which needs calls in two folders or more",
            file=sys.stderr,
        )
    try:
        model = train_forbidden_model(calls, compiled, name=name)
        model.save(out)
    except CallqaError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_ERROR) from None
    except OSError as exc:
        error(f"{out}: cannot write: {exc.strerror}")
        raise typer.Exit(EXIT_ERROR) from None
    lines = sum(1 for c in calls for u in c.transcript.utterances if u.role == "agent")
    print(f"callqa: trained {name} on {len(calls)} calls ({lines} agent lines); wrote {out}", file=sys.stderr)
