"""`callqa score`: one call gives its report, several a ranked summary (and files with --out)."""

from __future__ import annotations

import glob
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from callqa.api import CallqaError, CompiledRubric, ReadOptions, open_store, score_file
from callqa.batch.dask import score_on_dask
from callqa.batch.runner import BatchSummary, Outcome, find_transcripts, interrupt_flag, score_many, summarize
from callqa.cli import reader_gone
from callqa.cli.common import (
    AUTO_INPUT_FORMAT,
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    GroupBy,
    InputFormat,
    OutputFormat,
    RubricOption,
    StageModelOption,
    compile_or_exit,
    error,
)
from callqa.reports.batch_files import CALL_COLUMNS, CsvStream, OutputFolder, call_row, json_line
from callqa.reports.html import render_html
from callqa.reports.terminal import TerminalRenderer, make_console, render_summary

if TYPE_CHECKING:
    from callqa.api import BatchWriter, CallRecorder


def score(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Transcript files, folders (searched recursively) or globs such as 'calls/**/*.json'.",
            show_default=False,
        ),
    ],
    rubric: RubricOption = None,
    stage_model: StageModelOption = None,
    output_format: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            "-f",
            help="auto: rich on a terminal, plain text when piped or NO_COLOR is set; json: one object "
            "(one file); jsonl: one object per call, streamed; csv: one row per call.",
        ),
    ] = OutputFormat.auto,
    input_format: Annotated[
        InputFormat,
        typer.Option(
            "--input-format",
            "-i",
            help="Transcript format; auto detects it from the extension and content.",
        ),
    ] = AUTO_INPUT_FORMAT,
    encoding: Annotated[
        str | None,
        typer.Option(
            help="Text encoding of the transcripts (default: detected; UTF-8, UTF-16, GB18030 …).", show_default=False
        ),
    ] = None,
    agent_channel: Annotated[
        int | None,
        typer.Option(help="The ASR channel that is the agent (e.g. 0), instead of inferring it.", show_default=False),
    ] = None,
    agent_speaker: Annotated[
        str | None,
        typer.Option(
            help="The speaker label or id that is the agent (e.g. spk1, A), instead of inferring it.",
            show_default=False,
        ),
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=1, help="Worker processes (default: all cores).", show_default=False)
    ] = os.cpu_count() or 1,
    pattern: Annotated[
        str | None,
        typer.Option(
            help="In folders, score only files matching this glob, e.g. '*.json' (default: every transcript "
            "extension).",
            show_default=False,
        ),
    ] = None,
    group_by: Annotated[
        GroupBy, typer.Option(help="auto: the `# agent: NAME` header, else the parent folder; header; folder; none.")
    ] = GroupBy.auto,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Score on this Dask cluster (tcp://host:8786) instead of local processes; its workers read "
            "the paths. Needs the dask extra: pip install 'callqa\\[dask]'.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Write summary.md, summary.csv, summary.json, calls.csv, calls.jsonl, feedback/<group>.md and "
            "report.html to this folder.",
            show_default=False,
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="CALLQA_DB",
            help="Also store every scored call in this database (for history, trends, review): a SQLAlchemy URL "
            "(sqlite:///scores.db, postgresql+psycopg://user@host/db), a SQLite file, or 'default' (a file in "
            "your data folder). Scoring the same transcript with the same rubric again updates its row.",
            show_default=False,
        ),
    ] = None,
    agent_name: Annotated[
        str | None,
        typer.Option(
            "--agent",
            help="With --db: the agent who took the call(s) (else the `# agent:` header, else --path-pattern).",
        ),
    ] = None,
    team: Annotated[
        str | None, typer.Option(help="With --db: the agent's team (else the `# team:` header, else --path-pattern).")
    ] = None,
    path_pattern_text: Annotated[
        str | None,
        typer.Option(
            "--path-pattern",
            help="With --db: read agent, team and date from each path, e.g. '{team}/{agent}/{date}_*.txt' "
            "({date} as 2024-07-03 or 20240703; * any name part, ** any folders).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Score call transcripts: one call gives its report; several give a ranked summary.

    Exit codes: 0 every call passed, 1 a call failed the pass mark, 2 a file could not be read, a
    usage error, or (--db) the database could not be opened or written (the scores are still printed),
    130 interrupted (what was finished is still written and stored).
    """
    if agent_channel is not None and agent_speaker is not None:
        error("give --agent-channel or --agent-speaker, not both")
        raise typer.Exit(EXIT_ERROR)
    agent = str(agent_channel) if agent_channel is not None else agent_speaker
    options = ReadOptions(input_format=input_format.value, encoding=encoding, agent_speaker=agent)
    compiled = compile_or_exit(rubric, stage_model)
    recorder = None
    if db is not None:
        # the store's code loads only for --db: `callqa score CALL` starts without it
        from callqa.api import CallMeta, CallRecorder, path_pattern

        try:
            found = path_pattern(path_pattern_text) if path_pattern_text else None
        except ValueError as exc:
            error(f"--path-pattern: {exc}")
            raise typer.Exit(EXIT_ERROR) from None
        recorder = CallRecorder(compiled, CallMeta(agent=agent_name, team=team), found)
    elif agent_name or team or path_pattern_text:
        error("--agent, --team and --path-pattern say what to store: give --db (or set CALLQA_DB) too")
        raise typer.Exit(EXIT_ERROR)
    files, missing = find_transcripts(paths, pattern)
    batch = (
        len(files) > 1
        or any(Path(p).is_dir() or glob.has_magic(p) for p in paths)
        or out is not None
        or scheduler is not None
    )
    if output_format is OutputFormat.json and batch:
        error("--format json prints one report; use --format jsonl for several files")
        raise typer.Exit(EXIT_ERROR)
    for message in missing:
        error(message)
    fmt = output_format
    if fmt is OutputFormat.auto:
        fmt = OutputFormat.rich if sys.stdout.isatty() and not os.environ.get("NO_COLOR") else OutputFormat.text
    plain = fmt is not OutputFormat.rich
    store = _Storage(db, recorder) if db is not None and recorder is not None else None
    if not batch:
        status = _score_one(files, compiled, options, fmt, plain, store)
        raise typer.Exit(store.finish(status) if store is not None else status)
    if not files:
        raise typer.Exit(EXIT_ERROR)
    status = _score_batch(files, compiled, options, fmt, plain, jobs, group_by.value, out, scheduler, store)
    if store is not None:
        status = store.finish(status)
    raise typer.Exit(EXIT_ERROR if missing and status != EXIT_INTERRUPTED else status)


class _Storage:
    """Storing a run's calls in the database. A database that cannot be opened or written costs no
    score: scoring and its output go on, the error is one line, and the run exits 2."""

    def __init__(self, db: str, recorder: CallRecorder) -> None:
        self.recorder = recorder
        self.writer: BatchWriter | None = None
        self.failed = False
        from callqa.api import BatchWriter

        try:
            self.writer = BatchWriter(open_store(db, create=True))
        except CallqaError as exc:
            error(f"{exc}; the scores are not stored")
            self.failed = True

    def add(self, report: dict[str, Any], path: str | Path) -> None:
        if self.writer is not None:
            self.writer.add(self.recorder.scored(report, path))

    def flush(self) -> None:
        """Store what is pending (inside a batch's Ctrl-C guard, so a second Ctrl-C cannot cut it)."""
        if self.writer is not None:
            self.writer.flush()

    def finish(self, status: int) -> int:
        recorder = self.recorder
        if recorder.pattern is not None and recorder.seen and not recorder.matched:
            print(f"callqa: warning: --path-pattern matched none of the {recorder.seen} paths", file=sys.stderr)
        if self.writer is not None:
            self.writer.flush()
            self.writer.store.close()
            if self.writer.error is not None:
                stored = self.writer.stored
                error(f"{self.writer.error}; " + (f"{stored} call(s) stored before it" if stored else "no call stored"))
                self.failed = True
            else:
                for path, reason in self.writer.failed:
                    error(f"{path}: not stored: {reason}")
                    self.failed = True
                self._stored(self.writer)
        if self.failed and status in (EXIT_OK, EXIT_FAILED):
            return EXIT_ERROR
        return status

    @staticmethod
    def _stored(writer: BatchWriter) -> None:
        """After a batch: how many calls the database now holds of it. Copies of one transcript are one
        call (one row), so the scorings are named too when they are more."""
        if writer.scorings <= 1:
            return
        calls = f"{writer.stored} call" + ("s" if writer.stored != 1 else "")
        scorings = f" ({writer.scorings} scorings)" if writer.scorings != writer.stored else ""
        print(f"callqa: stored {calls}{scorings} in {writer.store.name}", file=sys.stderr)


def _score_one(
    files: list[Path],
    compiled: CompiledRubric,
    options: ReadOptions,
    fmt: OutputFormat,
    plain: bool,
    store: _Storage | None = None,
) -> int:
    if not files:
        return EXIT_ERROR
    try:
        report = score_file(
            files[0],
            compiled,
            input_format=options.input_format,
            encoding=options.encoding,
            agent_speaker=options.agent_speaker,
        )
    except CallqaError as exc:
        error(str(exc))
        # A machine reading jsonl or csv gets the error as data too, as it would in a batch.
        if fmt is OutputFormat.jsonl:
            print(json_line(Outcome(str(files[0]), error=str(exc))))
        elif fmt is OutputFormat.csv:
            CsvStream(sys.stdout, CALL_COLUMNS).write(call_row(Outcome(str(files[0]), error=str(exc))))
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
    if store is not None:  # after the output: a database problem never hides the score
        store.add(report.model_dump(mode="json"), files[0])
    return EXIT_OK if report.passed else EXIT_FAILED


def _score_batch(
    files: list[Path],
    compiled: CompiledRubric,
    options: ReadOptions,
    fmt: OutputFormat,
    plain: bool,
    jobs: int,
    group_by: str,
    out: Path | None,
    scheduler: str | None = None,
    store: _Storage | None = None,
) -> int:
    summary = BatchSummary()
    try:  # before any call is scored: a folder that cannot be made costs no work
        if out is not None and out.exists() and not out.is_dir():
            raise NotADirectoryError(0, "it is a file, not a folder")
        folder = OutputFolder(out) if out is not None else None
    except OSError as exc:
        error(f"{out}: cannot write the --out folder: {exc.strerror or exc}")
        return EXIT_ERROR
    stdout = make_console(plain=plain)
    stderr = Console(stderr=True, highlight=False, markup=False)
    csv_stream = CsvStream(sys.stdout, CALL_COLUMNS) if fmt is OutputFormat.csv else None
    from callqa.cli.progress import batch_progress  # rich.progress: not for one call

    progress = batch_progress(stderr)
    unfinished = folder  # abandoned (its work folder removed) unless it is finished below
    unread = False
    try:
        with interrupt_flag() as stop, progress:
            task = progress.add_task("score", total=len(files))
            details = fmt is OutputFormat.jsonl or folder is not None or store is not None
            if scheduler is not None:
                try:
                    outcomes = score_on_dask(
                        files, compiled, options, scheduler, group_by=group_by, details=details, stop=stop
                    )
                except CallqaError as exc:  # the cluster could not be reached: no call was scored
                    error(str(exc))
                    return EXIT_ERROR
            else:
                outcomes = score_many(
                    files, compiled, options, min(jobs, len(files)), group_by=group_by, details=details, stop=stop
                )
            for outcome in outcomes:
                summary.add(outcome)
                if outcome.error is not None:
                    progress.console.print(
                        f"callqa: error: {outcome.error}", markup=False, highlight=False, soft_wrap=True
                    )
                if fmt is OutputFormat.jsonl:
                    print(json_line(outcome), flush=True)
                elif csv_stream is not None:
                    csv_stream.write(call_row(outcome))
                if folder is not None:
                    folder.add(outcome)
                document = outcome.document() if store is not None else None
                if store is not None and document is not None:
                    store.add(document, outcome.path)
                progress.advance(task)
                if reader_gone() and folder is None and store is None:
                    unread = True  # `| head`: nobody reads the rest, and nothing else keeps it
                    stop.set()
            if store is not None:
                store.flush()
            interrupted = stop.is_set() and not unread
        done = summary.calls + len(summary.errors)
        if unread and done < len(files):
            print(f"callqa: the output's reader stopped after {done} of {len(files)} calls", file=sys.stderr)
        if interrupted:
            print(
                f"callqa: interrupted after {summary.calls + len(summary.errors)} of {len(files)} calls; "
                "writing what was finished",
                file=sys.stderr,
            )
        rubric_name = f"{compiled.rubric.name} v{compiled.rubric.version}"
        if fmt in (OutputFormat.rich, OutputFormat.text):
            render_summary(summary, stdout, plain=plain, rubric=rubric_name)
        if folder is not None:
            written = folder.finish(summary, render_html(summary, rubric_name, compiled.rubric.pass_mark))
            print(f"callqa: wrote {len(written)} files to {out}", file=sys.stderr)
            unfinished = None
    finally:
        if unfinished is not None:  # an early return or an internal error: no half-written work folder left
            unfinished.abandon()
    if interrupted:
        return EXIT_INTERRUPTED
    if summary.errors:
        return EXIT_ERROR
    return EXIT_FAILED if summary.passed < summary.calls else EXIT_OK
