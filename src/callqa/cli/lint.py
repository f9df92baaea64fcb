"""`callqa lint` and `callqa rubric check|test|diff|schema`: the commands CI pipelines run."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from callqa.api import CallqaError, load_rubric, rubric_json_schema
from callqa.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    DiagnosticFormat,
    DiagnosticFormatOption,
    FailOn,
    FailOnOption,
    RubricOption,
    SummaryFormat,
    SummaryFormatOption,
    compile_or_exit,
    error,
)

if TYPE_CHECKING:
    from callqa.lint.diagnostics import CheckResult

# The linter, the rubric tools and the diff load inside their commands: `callqa score` starts without them.


def _emit(
    result: CheckResult, fmt: DiagnosticFormat, fail_on: FailOn, tool: str, summary: str | None = None
) -> NoReturn:
    """The result in `fmt` on stdout; input errors, then the one-line `summary` (if any), on stderr:
    stdout stays the format's alone (JSON, SARIF and JUnit parse; text is one finding a line)."""
    from callqa.reports.ci import FORMATTERS

    if fmt is not DiagnosticFormat.github:  # github prints errors as annotations itself
        for problem in result.errors:
            error(str(problem))
    sys.stdout.write(FORMATTERS[fmt.value](result, fail_on.value, tool))
    sys.stdout.flush()
    if summary is not None:
        print(summary, file=sys.stderr)
    raise typer.Exit(result.exit_code(fail_on.value))


def _check_summary(result: CheckResult, rubrics: int) -> str:
    """`callqa rubric check: 2 rubrics, no problems`, or what was found, by severity."""
    parts = [f"{rubrics} rubric{'s' if rubrics != 1 else ''}"]
    if result.errors:
        parts.append(f"{len(result.errors)} load error{'s' if len(result.errors) != 1 else ''}")
    if result.diagnostics:
        counts = Counter(diagnostic.severity for diagnostic in result.diagnostics)
        by_severity = ", ".join(f"{n} {severity}" for severity, n in sorted(counts.items()))
        parts.append(f"{len(result.diagnostics)} finding{'s' if len(result.diagnostics) != 1 else ''} ({by_severity})")
    if not result.errors and not result.diagnostics:
        parts.append("no problems")
    return "callqa rubric check: " + ", ".join(parts)


def lint(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Script libraries (YAML, Markdown, text), model dialogues, or folders of them.", show_default=False
        ),
    ],
    rubric: RubricOption = None,
    output_format: DiagnosticFormatOption = DiagnosticFormat.text,
    fail_on: FailOnOption = FailOn.error,
    min_score: Annotated[
        float | None,
        typer.Option(
            help="Lowest score a model dialogue may get (default: the rubric's pass mark).", show_default=False
        ),
    ] = None,
    no_suppress: Annotated[bool, typer.Option("--no-suppress", help="Ignore `callqa: disable=` comments.")] = False,
) -> None:
    """Check script libraries for forbidden expressions and model dialogues for their score.

    Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or input error.
    """
    from callqa.lint.diagnostics import CheckResult
    from callqa.lint.linter import Linter

    try:
        compiled = load_rubric(rubric)
    except CallqaError as exc:  # an input error like a broken script file, so every format carries it
        _emit(CheckResult([], [exc], []), output_format, fail_on, "lint")
    result = Linter(compiled, min_score=min_score, suppress=not no_suppress).lint_paths(paths)
    _emit(result, output_format, fail_on, "lint")


RubricPaths = Annotated[
    list[Path], typer.Argument(help="Rubric YAML files ('default' for the built-in one).", show_default=False)
]


def rubric_check(
    rubrics: RubricPaths,
    output_format: DiagnosticFormatOption = DiagnosticFormat.text,
    fail_on: FailOnOption = FailOn.error,
) -> None:
    """Validate rubrics: schema (file:line), regexes, duplicate ids and phrases, one-character phrases,
    scripts that trigger a forbidden rule, extends cycles.

    Prints a one-line summary on stderr (stdout is the chosen format's alone).

    Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or input error (a rubric that cannot
    be read or does not validate, whatever --fail-on says).
    """
    from callqa.lint.rubric_tools import check_rubrics

    result = check_rubrics(rubrics)
    _emit(result, output_format, fail_on, "rubric check", _check_summary(result, len(rubrics)))


def rubric_test(rubrics: RubricPaths, output_format: DiagnosticFormatOption = DiagnosticFormat.text) -> None:
    """Run every rule's examples (hit: must match, miss: must not) and report the ones that fail.

    Exit codes: 0 all examples pass, 1 an example failed, 2 usage or input error (a rubric that cannot
    be read or does not validate).
    """
    from callqa.lint.rubric_tools import run_rubric_examples

    result, ran = run_rubric_examples(rubrics)
    failed = len([d for d in result.diagnostics if d.rule == "rubric.example"])
    summary = f"callqa rubric test: {ran} examples, {ran - failed} passed, {failed} failed"
    _emit(result, output_format, FailOn.error, "rubric test", summary)


def rubric_diff(
    old: Annotated[
        Path, typer.Argument(help="The rubric as it is ('default' for the built-in one).", show_default=False)
    ],
    new: Annotated[Path, typer.Argument(help="The rubric as it would be.", show_default=False)],
    corpus: Annotated[list[str], typer.Argument(help="Transcripts, folders or globs to rescore.", show_default=False)],
    output_format: SummaryFormatOption = SummaryFormat.text,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes.")] = os.cpu_count() or 1,
) -> None:
    """Rescore a corpus under two rubric versions; list the calls and groups whose score or pass/fail
    changed, largest first.

    Exit codes: 0 done, 2 usage or input error.
    """
    from callqa.batch.rubric_diff import diff_rubrics, format_diff
    from callqa.batch.runner import find_transcripts

    before, after = compile_or_exit(old), compile_or_exit(new)
    files, missing = find_transcripts(corpus)
    for message in missing:
        error(message)
    result = diff_rubrics(before, after, files, jobs)
    for message in result.errors:
        error(message)
    if output_format is SummaryFormat.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        old_name, new_name = (f"{r.rubric.name} v{r.rubric.version}" for r in (before, after))
        print(format_diff(result, old_name, new_name))
    raise typer.Exit(EXIT_ERROR if missing or result.errors or not files else EXIT_OK)


def rubric_schema() -> None:
    """Print the JSON Schema of the rubric format (for editors: yaml-language-server)."""
    print(json.dumps(rubric_json_schema(), ensure_ascii=False, indent=2))
