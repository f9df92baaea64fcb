"""The command line: a thin layer over the library (pipeline, batch, lint, rubric tools) and renderers.

Exit codes: 0 every scored call passed (or nothing found); 1 a call failed the pass mark (or findings
at or above --fail-on); 2 usage error, or a file or rubric that could not be read (the other files are
still scored); 3 internal error (a bug); 130 interrupted.
"""

from __future__ import annotations

import glob
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

from callqa import __version__
from callqa.batch.runner import BatchSummary, Outcome, find_transcripts, interrupt_flag, score_many, summarize
from callqa.reports.batch_files import CALL_COLUMNS, CsvStream, OutputFolder, call_row, json_line
from callqa.lint.diagnostics import CheckResult
from callqa.errors import CallqaError
from callqa.reports.ci import FORMATTERS
from callqa.reports.html import render_html
from callqa.lint.linter import Linter
from callqa.rules.compiled import CompiledRubric
from callqa.scoring.pipeline import compile_rubric, score_file
from callqa.transcripts.reader import FORMATS, ReadOptions, read_transcript
from callqa.reports.terminal import TerminalRenderer, make_console, print_segmentation, render_summary
from callqa.rules.schema import rubric_json_schema
from callqa.batch.rubric_diff import diff_rubrics, format_diff
from callqa.lint.rubric_tools import check_rubrics, run_rubric_examples
from callqa.evaluation.stages import evaluate, format_evaluation, without_markers

EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_INTERNAL = 0, 1, 2, 3

app = typer.Typer(
    name="callqa",
    help="Score Chinese customer-service call transcripts against a YAML rubric.",
    epilog="Exit codes: 0 all passed or nothing found; 1 a call failed or findings at --fail-on; 2 usage or "
           "input error (other files still processed); 3 internal error; 130 interrupted.",
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
    csv = "csv"


def error(message: str) -> None:
    """One line on stderr, never a traceback."""
    print(f"callqa: error: {message}", file=sys.stderr)


def _compile_or_exit(rubric: Path | str | None) -> CompiledRubric:
    """The compiled rubric, or one error line and exit code 2."""
    try:
        return compile_rubric(rubric)
    except CallqaError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_ERROR) from None


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

    Exit codes: 0 all calls passed (or nothing found), 1 a call failed the pass mark (or findings), 2 usage
    or input error, 3 internal error, 130 interrupted.
    """


RubricOption = Annotated[
    Optional[Path],
    typer.Option("--rubric", "-r", help="Rubric YAML (default: the built-in rubric).", show_default=False),
]


class SummaryFormat(str, Enum):
    text = "text"
    json = "json"


SummaryFormatOption = Annotated[SummaryFormat, typer.Option("--format", "-f", help="text or json.")]


class GroupBy(str, Enum):
    auto = "auto"
    header = "header"
    folder = "folder"
    none = "none"


class SpeedColumn(ProgressColumn):
    """Calls per second."""

    def render(self, task) -> Text:
        return Text(f"{task.speed:.0f} 通/秒" if task.speed else "", style="cyan")


@app.command()
def score(
    paths: Annotated[list[str], typer.Argument(
        help="Transcript files, folders (searched recursively) or globs such as 'calls/**/*.json'.",
        show_default=False)],
    rubric: RubricOption = None,
    output_format: Annotated[OutputFormat, typer.Option(
        "--format", "-f",
        help="auto: rich on a terminal, plain text when piped or NO_COLOR is set; json: one object "
             "(one file); jsonl: one object per call, streamed; csv: one row per call.")] = OutputFormat.auto,
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
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes (default: all cores).",
                                      show_default=False)] = os.cpu_count() or 1,
    pattern: Annotated[Optional[str], typer.Option(
        help="In folders, score only files matching this glob, e.g. '*.json' (default: every transcript "
             "extension).", show_default=False)] = None,
    group_by: Annotated[GroupBy, typer.Option(
        help="auto: the `# agent: NAME` header, else the parent folder; header; folder; none.")] = GroupBy.auto,
    out: Annotated[Optional[Path], typer.Option(
        help="Write summary.md, summary.csv, summary.json, calls.csv, calls.jsonl, feedback/<group>.md and "
             "report.html to this folder.", show_default=False)] = None,
) -> None:
    """Score call transcripts: one call gives its report; several give a ranked summary.

    Exit codes: 0 every call passed, 1 a call failed the pass mark, 2 a file could not be read or a
    usage error, 130 interrupted (what was finished is still written).
    """
    if agent_channel is not None and agent_speaker is not None:
        error("give --agent-channel or --agent-speaker, not both")
        raise typer.Exit(EXIT_ERROR)
    agent = str(agent_channel) if agent_channel is not None else agent_speaker
    options = ReadOptions(input_format=input_format.value, encoding=encoding, agent_speaker=agent)
    compiled = _compile_or_exit(rubric)
    files, missing = find_transcripts(paths, pattern)
    batch = len(files) > 1 or any(Path(p).is_dir() or glob.has_magic(p) for p in paths) or out is not None
    if output_format is OutputFormat.json and batch:
        error("--format json prints one report; use --format jsonl for several files")
        raise typer.Exit(EXIT_ERROR)
    for message in missing:
        error(message)
    fmt = output_format
    if fmt is OutputFormat.auto:
        fmt = OutputFormat.rich if sys.stdout.isatty() and not os.environ.get("NO_COLOR") else OutputFormat.text
    plain = fmt is not OutputFormat.rich
    if not batch:
        raise typer.Exit(_score_one(files, compiled, options, fmt, plain))
    if not files:
        raise typer.Exit(EXIT_ERROR)
    status = _score_batch(files, compiled, options, fmt, plain, jobs, group_by.value, out)
    raise typer.Exit(EXIT_ERROR if missing and status != 130 else status)


def _score_one(files: list[Path], compiled, options: ReadOptions, fmt: OutputFormat, plain: bool) -> int:
    if not files:
        return EXIT_ERROR
    try:
        report = score_file(files[0], compiled, options)
    except CallqaError as exc:
        error(str(exc))
        return EXIT_ERROR
    if fmt is OutputFormat.json:
        print(report.to_json())
    elif fmt is OutputFormat.jsonl:
        print(report.to_json(indent=None))
    elif fmt is OutputFormat.csv:
        call, _ = summarize(report.model_dump(mode="json"), files[0], "auto")
        CsvStream(sys.stdout, CALL_COLUMNS).write(call_row(Outcome(str(files[0]), call=call)))
    else:
        TerminalRenderer(make_console(plain=plain), plain=plain).render(report)
    return EXIT_OK if report.passed else EXIT_FAILED


def _score_batch(files: list[Path], compiled, options: ReadOptions, fmt: OutputFormat, plain: bool, jobs: int,
                 group_by: str, out: Optional[Path]) -> int:
    summary = BatchSummary()
    folder = OutputFolder(out) if out is not None else None
    stdout = make_console(plain=plain)
    stderr = Console(stderr=True, highlight=False, markup=False)
    csv_stream = CsvStream(sys.stdout, CALL_COLUMNS) if fmt is OutputFormat.csv else None
    progress = Progress(TextColumn("评分"), BarColumn(), MofNCompleteColumn(), SpeedColumn(), TimeRemainingColumn(),
                        console=stderr, transient=True, disable=not stderr.is_terminal)
    with interrupt_flag() as stop, progress:
        task = progress.add_task("score", total=len(files))
        details = fmt is OutputFormat.jsonl or folder is not None
        for outcome in score_many(files, compiled, options, min(jobs, len(files)), group_by=group_by,
                                  details=details, stop=stop):
            summary.add(outcome)
            if outcome.error is not None:
                progress.console.print(f"callqa: error: {outcome.error}", markup=False, highlight=False,
                                       soft_wrap=True)
            if fmt is OutputFormat.jsonl:
                print(json_line(outcome), flush=True)
            elif csv_stream is not None:
                csv_stream.write(call_row(outcome))
            if folder is not None:
                folder.add(outcome)
            progress.advance(task)
        interrupted = stop.is_set()
    if interrupted:
        print(f"callqa: interrupted after {summary.calls + len(summary.errors)} of {len(files)} calls; "
              "writing what was finished", file=sys.stderr)
    rubric_name = f"{compiled.rubric.name} v{compiled.rubric.version}"
    if fmt in (OutputFormat.rich, OutputFormat.text):
        render_summary(summary, stdout, plain=plain, rubric=rubric_name)
    if folder is not None:
        written = folder.finish(summary, render_html(summary, rubric_name, compiled.rubric.pass_mark))
        print(f"callqa: wrote {len(written)} files to {out}", file=sys.stderr)
    if interrupted:
        return 130
    if summary.errors:
        return EXIT_ERROR
    return EXIT_FAILED if summary.passed < summary.calls else EXIT_OK


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
    compiled = _compile_or_exit(rubric)
    result = Linter(compiled, min_score=min_score, suppress=not no_suppress).lint_paths(paths)
    _emit(result, output_format, fail_on, "lint")


rubric_app = typer.Typer(help="Check, test, compare and describe rubrics.", no_args_is_help=True)
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


@rubric_app.command("diff")
def rubric_diff(
    old: Annotated[Path, typer.Argument(help="The rubric as it is ('default' for the built-in one).", show_default=False)],
    new: Annotated[Path, typer.Argument(help="The rubric as it would be.", show_default=False)],
    corpus: Annotated[list[str], typer.Argument(help="Transcripts, folders or globs to rescore.", show_default=False)],
    output_format: SummaryFormatOption = SummaryFormat.text,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes.")] = os.cpu_count() or 1,
) -> None:
    """Rescore a corpus under two rubric versions; list the calls and groups whose score or pass/fail
    changed, largest first.

    Exit codes: 0 done, 2 usage or input error.
    """
    before, after = _compile_or_exit(old), _compile_or_exit(new)
    files, missing = find_transcripts(corpus)
    for message in missing:
        error(message)
    result = diff_rubrics(before, after, files, jobs)
    for message in result.errors:
        error(message)
    if output_format is SummaryFormat.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        names = (f"{r.rubric.name} v{r.rubric.version}" for r in (before, after))
        print(format_diff(result, *names))
    raise typer.Exit(EXIT_ERROR if missing or result.errors or not files else EXIT_OK)


@rubric_app.command("schema")
def rubric_schema() -> None:
    """Print the JSON Schema of the rubric format (for editors: yaml-language-server)."""
    print(json.dumps(rubric_json_schema(), ensure_ascii=False, indent=2))


@app.command()
def segment(
    path: Annotated[Path, typer.Argument(help="A transcript file.", show_default=False)],
    rubric: RubricOption = None,
    explain: Annotated[bool, typer.Option("--explain", help="Show the cues and scores behind each line's stage "
                                                            "and each boundary.")] = False,
    ignore_markers: Annotated[bool, typer.Option("--ignore-markers", help="Infer the split even where ## stage "
                                                                         "markers give it.")] = False,
    input_format: Annotated[InputFormat, typer.Option("--input-format", "-i")] = InputFormat.auto,
) -> None:
    """Print the transcript with the stage of every line (问候 切入 转化 协议 结束).

    Exit codes: 0 done, 2 usage or input error.
    """
    compiled = _compile_or_exit(rubric)
    try:
        transcript = read_transcript(path, compiled, ReadOptions(input_format=input_format.value))
    except CallqaError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_ERROR) from None
    if ignore_markers:
        transcript = without_markers(transcript)
    plain = not sys.stdout.isatty() or bool(os.environ.get("NO_COLOR"))
    print_segmentation(transcript, compiled, make_console(plain=plain), plain=plain, explain=explain)


@app.command("eval-stages")
def eval_stages(
    paths: Annotated[list[Path], typer.Argument(help="Labelled transcripts (with ## stage markers) or folders "
                                                     "of them.", show_default=False)],
    rubric: RubricOption = None,
    output_format: SummaryFormatOption = SummaryFormat.text,
    min_accuracy: Annotated[Optional[float], typer.Option(
        help="Exit 1 when utterance accuracy is below this (0-1), e.g. in CI.", show_default=False)] = None,
) -> None:
    """Compare automatic segmentation with the stage markers written in labelled calls.

    Prints utterance accuracy, boundary accuracy (exact and within one utterance) and a confusion table.
    Exit codes: 0 done, 1 accuracy below --min-accuracy, 2 usage or input error.
    """
    files, missing = find_transcripts(paths, "*.txt")
    for message in missing:
        error(message)
    compiled = _compile_or_exit(rubric)
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


def main() -> None:
    try:
        app(standalone_mode=True)
    except KeyboardInterrupt:
        print("callqa: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # a bug: one line, never a traceback full of transcript text
        error(f"internal error: {type(exc).__name__}: {exc} (please report this)")
        sys.exit(EXIT_INTERNAL)
