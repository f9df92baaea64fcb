"""The `callqa` command: the Typer app, its commands registered from one module per concern.

Exit codes: 0 every scored call passed (or nothing found); 1 a call failed the pass mark (or findings
at or above --fail-on); 2 usage error, a file or rubric that could not be read (the other files are
still scored), or a database that could not be opened or written (the scores are still printed);
3 internal error (a bug); 130 interrupted.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from callqa.api import report_json_schema, rubric_json_schema
from callqa.cli import history, lint, score, stages
from callqa.cli.common import EXIT_INTERNAL, EXIT_INTERRUPTED, error
from callqa.version import __version__

app = typer.Typer(
    name="callqa",
    help="Score Chinese customer-service call transcripts against a YAML rubric.",
    epilog="Exit codes: 0 all passed or nothing found; 1 a call failed or findings at --fail-on; 2 usage, "
    "input or database error (other files still processed, scores still printed); 3 internal error; "
    "130 interrupted.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    # Locals would print transcript text (personal data) if a bug ever raised.
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"callqa {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool | None, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = None,
) -> None:
    """Score Chinese customer-service call transcripts against a YAML rubric.

    Exit codes: 0 all calls passed (or nothing found), 1 a call failed the pass mark (or findings), 2 usage
    or input error, 3 internal error, 130 interrupted.
    """


app.command()(score.score)
app.command()(lint.lint)
rubric_app = typer.Typer(help="Check, test, compare and describe rubrics.", no_args_is_help=True)
rubric_app.command("check")(lint.rubric_check)
rubric_app.command("test")(lint.rubric_test)
rubric_app.command("diff")(lint.rubric_diff)
rubric_app.command("schema")(lint.rubric_schema)
app.add_typer(rubric_app, name="rubric")
app.command()(stages.segment)
app.command("eval")(stages.eval_command)
train_app = typer.Typer(help="Train models from labelled calls.", no_args_is_help=True)
train_app.command("stages")(stages.train_stages_command)
train_app.command("forbidden")(stages.train_forbidden_command)
app.add_typer(train_app, name="train")
app.command()(history.history)
app.command()(history.trends)
app.command()(history.review)
app.add_typer(history.appeal_app, name="appeal")
app.add_typer(history.rules_app, name="rules")
app.add_typer(history.db_app, name="db")

schema_app = typer.Typer(help="Print the JSON Schema of callqa's documents.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")


@schema_app.command("report")
def schema_report() -> None:
    """The JSON Schema of the `callqa score --format json` report (callqa.report/1)."""
    print(json.dumps(report_json_schema(), ensure_ascii=False, indent=2))


@schema_app.command("rubric")
def schema_rubric() -> None:
    """The JSON Schema of the rubric format (the same as `callqa rubric schema`)."""
    print(json.dumps(rubric_json_schema(), ensure_ascii=False, indent=2))


# The click that typer vendors: its errors, found from the one typer exports (typer.BadParameter).
def _click_error(name: str) -> type[Exception]:
    found: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)
    return found


_UsageError = _click_error("UsageError")
_ClickException = _click_error("ClickException")


def main() -> None:
    try:
        # Not standalone: click would draw a usage error as a box of several lines (and turn a
        # broken pipe into exit 1); callqa's errors are one line on stderr, as the README promises.
        code = app(standalone_mode=False)
    except _ClickException as exc:  # a usage error, or another error click reports
        clicked: Any = exc  # typer's vendored click is untyped here: found at run time, above
        context = getattr(clicked, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and context is not None:  # `callqa rubric`: its help
            print(context.get_help())
        elif isinstance(exc, _UsageError):
            hint = f"{context.command_path} --help" if context is not None else "callqa --help"
            error(f"{_plain(clicked.format_message())} (see '{hint}')")
        else:
            error(_plain(clicked.format_message()))
        sys.exit(clicked.exit_code)
    except typer.Abort:  # end of input or Ctrl-C at a prompt
        print("callqa: aborted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        print("callqa: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # a bug: one line, never a traceback full of transcript text
        error(f"internal error: {type(exc).__name__}: {exc} (please report this)")
        sys.exit(EXIT_INTERNAL)
    sys.exit(code if isinstance(code, int) else 0)


def _plain(message: str) -> str:
    """A click message on one line, without pydantic's "Value error, " before a validator's words."""
    return " ".join(message.replace("Value error, ", "").split())
