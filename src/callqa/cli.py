"""The command line: a thin layer over callqa.pipeline and the renderers.

Exit codes: 0 every scored call passed; 1 a call failed the pass mark (or lint found violations);
2 usage error, or a file or rubric that could not be read (the other files are still scored).
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from callqa import __version__
from callqa.errors import CallqaError
from callqa.pipeline import compile_rubric, score_file
from callqa.readers import FORMATS, ReadOptions
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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        print("callqa: interrupted", file=sys.stderr)
        sys.exit(130)
