"""The command line: a thin layer over callqa.pipeline and the renderers.

Exit codes: 0 every scored call passed; 1 a call failed the pass mark (or lint found violations);
2 usage error, or a file or rubric that could not be read (the other files are still scored).
"""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from callqa import __version__
from callqa.errors import CallqaError
from callqa.pipeline import compile_rubric, score_file
from callqa.diagnostics import CheckResult
from callqa.formatters import FORMATTERS
from callqa.lint import Linter
from callqa.readers import FORMATS, ReadOptions
from callqa.rubric import rubric_json_schema
from callqa.rubric_tools import check_rubrics, run_rubric_examples
from callqa.render import TerminalRenderer, make_console
from callqa.report_json import to_json

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2

app = typer.Typer(
    name="callqa",
    help="Score Chinese customer-service call transcripts against a YAML rubric.",
    no_args_is_help=True,
    add_completion=False,
    # Locals would print transcript text (personal data) if a bug ever raised.
    pretty_exceptions_show_locals=False,
)


InputFormat = Enum("InputFormat", {name: name for name in FORMATS}, type=str)


class OutputFormat(str, Enum):
    auto = "auto"
    rich = "rich"
    text = "text"
    json = "json"
    jsonl = "jsonl"


def error(message: str) -> None:
    """One line on stderr, never a traceback."""
    print(f"callqa: error: {message}", file=sys.stderr)


def _version(value: bool) -> None:
    if value:
        print(f"callqa {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Show the version and exit.")] = None,
) -> None:
    """Score Chinese customer-service call transcripts against a YAML rubric.

    Exit codes: 0 all calls passed, 1 a call failed the pass mark, 2 usage or input error.
    """


RubricOption = Annotated[
    Optional[Path],
    typer.Option("--rubric", "-r", help="Rubric YAML (default: the built-in rubric).", show_default=False),
]


@app.command()
def score(
    paths: Annotated[list[Path], typer.Argument(help="Transcript files to score.", show_default=False)],
    rubric: RubricOption = None,
    output_format: Annotated[OutputFormat, typer.Option(
        "--format", "-f",
        help="auto: rich on a terminal, plain text when piped or NO_COLOR is set; json: one object "
             "(one file); jsonl: one object per line.")] = OutputFormat.auto,
    input_format: Annotated[InputFormat, typer.Option(
        "--input-format", "-i", help="Transcript format; auto detects it from the extension and content.",
    )] = InputFormat.auto,
    encoding: Annotated[Optional[str], typer.Option(
        help="Text encoding of the transcripts (default: detected; UTF-8, UTF-16, GB18030 …).",
        show_default=False)] = None,
    agent_channel: Annotated[Optional[int], typer.Option(
        help="The ASR channel that is the agent (e.g. 0), instead of inferring it.", show_default=False)] = None,
    agent_speaker: Annotated[Optional[str], typer.Option(
        help="The speaker label or id that is the agent (e.g. spk1, A), instead of inferring it.",
        show_default=False)] = None,
) -> None:
    """Score call transcripts and print a report per call.

    Exit codes: 0 every call passed, 1 a call failed the pass mark, 2 usage or input error.
    """
    if agent_channel is not None and agent_speaker is not None:
        error("give --agent-channel or --agent-speaker, not both")
        raise typer.Exit(EXIT_ERROR)
    agent = str(agent_channel) if agent_channel is not None else agent_speaker
    options = ReadOptions(input_format=input_format.value, encoding=encoding, agent_speaker=agent)
    if output_format is OutputFormat.json and len(paths) > 1:
        error("--format json prints one report; use --format jsonl for several files")
        raise typer.Exit(EXIT_ERROR)
    try:
        compiled = compile_rubric(rubric)
    except CallqaError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_ERROR) from None

    fmt = output_format
    if fmt is OutputFormat.auto:
        fmt = OutputFormat.rich if sys.stdout.isatty() and not os.environ.get("NO_COLOR") else OutputFormat.text
    renderer = None
    if fmt in (OutputFormat.rich, OutputFormat.text):
        renderer = TerminalRenderer(make_console(plain=fmt is OutputFormat.text), plain=fmt is OutputFormat.text)

    errors = failed = 0
    for path in paths:
        try:
            report = score_file(path, compiled, options)
        except CallqaError as exc:
            error(str(exc))
            errors += 1
            continue
        except Exception as exc:  # a bug must not lose the other files' reports, nor print a traceback
            error(f"{path}: internal error: {type(exc).__name__}: {exc} (please report this with the file)")
            errors += 1
            continue
        failed += not report.passed
        if fmt is OutputFormat.json:
            print(to_json(report))
        elif fmt is OutputFormat.jsonl:
            print(to_json(report, indent=None), flush=True)
        else:
            renderer.render(report)
    raise typer.Exit(EXIT_ERROR if errors else EXIT_FAILED if failed else EXIT_OK)


class DiagnosticFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"
    junit = "junit"
    sarif = "sarif"


class FailOn(str, Enum):
    info = "info"
    warning = "warning"
    error = "error"
    fatal = "fatal"


DiagnosticFormatOption = Annotated[DiagnosticFormat, typer.Option(
    "--format", "-f", help="text: path:line:col: severity rule message (suggestion); json; github (workflow "
                           "annotations); junit (XML); sarif (2.1.0).")]
FailOnOption = Annotated[FailOn, typer.Option(help="Exit 1 when a finding is at least this severe.")]


def _emit(result: CheckResult, fmt: DiagnosticFormat, fail_on: FailOn, tool: str) -> None:
    if fmt is not DiagnosticFormat.github:  # github prints errors as annotations itself
        for message in result.errors:
            error(message)
    sys.stdout.write(FORMATTERS[fmt.value](result, fail_on.value, tool))
    raise typer.Exit(result.exit_code(fail_on.value))


@app.command()
def lint(
    paths: Annotated[list[Path], typer.Argument(help="Script libraries (YAML, Markdown, text), model dialogues, "
                                                     "or folders of them.", show_default=False)],
    rubric: RubricOption = None,
    output_format: DiagnosticFormatOption = DiagnosticFormat.text,
    fail_on: FailOnOption = FailOn.error,
    min_score: Annotated[Optional[float], typer.Option(
        help="Lowest score a model dialogue may get (default: the rubric's pass mark).", show_default=False)] = None,
    no_suppress: Annotated[bool, typer.Option("--no-suppress", help="Ignore `callqa: disable=` comments.")] = False,
) -> None:
    """Check script libraries for forbidden expressions and model dialogues for their score.

    Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or input error.
    """
    try:
        compiled = compile_rubric(rubric)
    except CallqaError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_ERROR) from None
    result = Linter(compiled, min_score=min_score, suppress=not no_suppress).lint_paths(paths)
    _emit(result, output_format, fail_on, "lint")


rubric_app = typer.Typer(help="Check, test and describe rubrics.", no_args_is_help=True)
app.add_typer(rubric_app, name="rubric")
RubricPaths = Annotated[list[Path], typer.Argument(help="Rubric YAML files ('default' for the built-in one).",
                                                   show_default=False)]


@rubric_app.command("check")
def rubric_check(rubrics: RubricPaths, output_format: DiagnosticFormatOption = DiagnosticFormat.text,
                 fail_on: FailOnOption = FailOn.error) -> None:
    """Validate rubrics: schema (file:line), regexes, duplicate ids and phrases, one-character phrases,
    scripts that trigger a forbidden rule, extends cycles.

    Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage error.
    """
    _emit(check_rubrics(rubrics), output_format, fail_on, "rubric check")


@rubric_app.command("test")
def rubric_test(rubrics: RubricPaths, output_format: DiagnosticFormatOption = DiagnosticFormat.text) -> None:
    """Run every rule's examples (hit: must match, miss: must not) and report the ones that fail.

    Exit codes: 0 all examples pass, 1 an example failed, 2 usage error.
    """
    result, ran = run_rubric_examples(rubrics)
    failed = len([d for d in result.diagnostics if d.rule == "rubric.example"])
    print(f"callqa rubric test: {ran} examples, {ran - failed} passed, {failed} failed", file=sys.stderr)
    _emit(result, output_format, FailOn.error, "rubric test")


@rubric_app.command("schema")
def rubric_schema() -> None:
    """Print the JSON Schema of the rubric format (for editors: yaml-language-server)."""
    print(json.dumps(rubric_json_schema(), ensure_ascii=False, indent=2))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        print("callqa: interrupted", file=sys.stderr)
        sys.exit(130)
