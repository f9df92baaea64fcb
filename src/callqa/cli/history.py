"""The commands that use the results database: `db`, `history`, `trends`, `review`, `appeal` and
`rules precision`. Each opens the database named by --db, else $CALLQA_DB, else a SQLite file in the
user's data folder; a database problem is one error line and exit 2."""

from __future__ import annotations

import getpass
import io
import json
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from callqa.api import CallqaError, open_store
from callqa.cli.common import EXIT_ERROR, EXIT_FAILED, error
from callqa.reports.history import (
    APPEAL_WORDS,
    HISTORY_COLUMNS,
    agreement_record,
    agreement_table,
    appeal_record,
    appeals_table,
    call_header,
    call_record,
    describe_filter,
    finding_detail,
    history_record,
    history_table,
    precision_record,
    precision_table,
    to_csv,
    to_json,
    trend_record,
    trends_html,
    trends_table,
)
from callqa.reports.terminal import make_console

if TYPE_CHECKING:
    from callqa.api import HistoryFilter, Store, StoredCall

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="CALLQA_DB",
        help="Results database: a SQLAlchemy URL (sqlite:///scores.db, postgresql+psycopg://user@host/db), a "
        "SQLite file, or 'default' (a file in your data folder). Default: $CALLQA_DB, else 'default'.",
        show_default=False,
    ),
]


class TableFormat(StrEnum):
    auto = "auto"
    rich = "rich"
    text = "text"
    csv = "csv"
    json = "json"


class TrendsFormat(StrEnum):
    auto = "auto"
    rich = "rich"
    text = "text"
    csv = "csv"
    json = "json"
    html = "html"


class TrendBy(StrEnum):
    agent = "agent"
    team = "team"
    rule = "rule"


class TrendPeriod(StrEnum):
    day = "day"
    week = "week"
    month = "month"


class DecisionChoice(StrEnum):
    confirmed = "confirmed"
    false_alarm = "false-alarm"
    adjusted = "adjusted"


class AppealOutcome(StrEnum):
    upheld = "upheld"
    rejected = "rejected"
    adjusted = "adjusted"


class AppealStatusChoice(StrEnum):
    open = "open"
    all = "all"
    upheld = "upheld"
    rejected = "rejected"
    adjusted = "adjusted"
    obsolete = "obsolete"


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not a date such as 2024-07-03", param_hint=option) from None


AgentOption = Annotated[str | None, typer.Option(help="Only this agent's calls.", show_default=False)]
TeamOption = Annotated[str | None, typer.Option(help="Only this team's calls.", show_default=False)]
SinceOption = Annotated[
    str | None, typer.Option(help="Calls on or after this date (YYYY-MM-DD; the call's date, else the day scored).")
]
UntilOption = Annotated[str | None, typer.Option(help="Calls on or before this date (YYYY-MM-DD).")]
RubricNameOption = Annotated[
    str | None, typer.Option("--rubric", help="Only calls scored with this rubric (its name).")
]
ReviewerOption = Annotated[
    str | None,
    typer.Option(
        envvar="CALLQA_REVIEWER",
        help="Your name, recorded with the decision (default: $CALLQA_REVIEWER, else your login).",
    ),
]


def _filter(
    agent: str | None,
    team: str | None,
    since: str | None,
    until: str | None,
    rubric: str | None,
    grade: str | None = None,
    rule: str | None = None,
    limit: int | None = None,
) -> HistoryFilter:
    start, end = _day(since, "--since"), _day(until, "--until")
    if start and end and start > end:
        raise typer.BadParameter(f"{since} is after --until {until}", param_hint="--since")
    from callqa.api import HistoryFilter  # loaded with the store, not for every command

    return HistoryFilter(agent, team, start, end, rubric, grade, rule, limit)


@contextmanager
def _store(db: str | None, *, create: bool = False, check: bool = True) -> Iterator[Store]:
    """The open store; any callqa error inside is one line and exit 2."""
    try:
        store = open_store(db, create=create, check=check)
    except CallqaError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_ERROR) from None
    try:
        yield store
    except CallqaError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_ERROR) from None
    finally:
        store.close()


def _console(fmt: str) -> tuple[Console, bool]:
    if fmt == "auto":
        fmt = "rich" if sys.stdout.isatty() and not os.environ.get("NO_COLOR") else "text"
    plain = fmt != "rich"
    return make_console(plain=plain), plain


def _reviewer(name: str | None) -> str:
    if name:
        return name
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (a container's numeric user, say)
        error("say who you are with --reviewer NAME (or $CALLQA_REVIEWER)")
        raise typer.Exit(EXIT_ERROR) from None


# --- db ---------------------------------------------------------------------------------------------

db_app = typer.Typer(help="Create, upgrade and inspect the results database.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create the database's tables, or migrate them to this callqa's schema."""
    with _store(db, create=True, check=False) as store:
        before, after = store.upgrade()
    if before == after:
        print(f"callqa: {store.name} is up to date (revision {after})", file=sys.stderr)
    else:
        print(f"callqa: upgraded {store.name} from {before or 'empty'} to revision {after}", file=sys.stderr)


@db_app.command("status")
def db_status(db: DbOption = None) -> None:
    """The database, its schema revision and what it holds. Exit 1 when it needs `callqa db upgrade`."""
    with _store(db, check=False) as store:
        status = store.status()
    print(f"数据库: {status.url}")
    print(f"结构版本: {status.revision or '(空)'}(本版本 callqa: {status.head})")
    if status.up_to_date:
        print(
            f"通话: {status.calls}  发现: {status.findings}  复核: {status.reviews}  待处理申诉: {status.appeals_open}"
        )
        return
    if status.known:
        print("需要升级: callqa db upgrade")
    else:
        print("数据库比本版本 callqa 新: 请升级 callqa")
    raise typer.Exit(EXIT_FAILED)


# --- history and trends -----------------------------------------------------------------------------


def history(
    db: DbOption = None,
    agent: AgentOption = None,
    team: TeamOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    rubric: RubricNameOption = None,
    grade: Annotated[str | None, typer.Option(help="Only calls of this grade (after review), e.g. 不合格.")] = None,
    rule: Annotated[str | None, typer.Option(help="Only calls with a finding of this rule id.")] = None,
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="At most this many calls, newest first (default: 50 in a table, all in CSV/JSON)."),
    ] = None,
    output_format: Annotated[
        TableFormat,
        typer.Option("--format", "-f", help="auto: a table on a terminal, plain text when piped; csv; json."),
    ] = TableFormat.auto,
) -> None:
    """Stored calls, newest first: date, agent, team, score (→ after review), grade and lost points."""
    tabular = output_format in (TableFormat.auto, TableFormat.rich, TableFormat.text)
    where = _filter(agent, team, since, until, rubric, grade, rule, limit or (50 if tabular else None))
    with _store(db) as store:
        stored = store.calls(where)
    if output_format is TableFormat.csv:
        sys.stdout.write(to_csv([history_record(c) for c in stored], HISTORY_COLUMNS))
    elif output_format is TableFormat.json:
        print(to_json("callqa.history/1", "calls", [history_record(c) for c in stored]))
    else:
        console, plain = _console(output_format.value)
        if not stored:
            console.print(f"没有符合条件的通话({describe_filter(where)})")
            return
        console.print(history_table(stored, plain=plain))
        if limit is None and len(stored) == where.limit:
            print(f"callqa: showing the newest {where.limit}; --limit N or --format csv for more", file=sys.stderr)


def trends(
    by: Annotated[TrendBy, typer.Option(help="One line per agent, team or rule.")] = TrendBy.agent,
    period: Annotated[
        TrendPeriod, typer.Option(help="One point per day, week (from Monday) or month.")
    ] = TrendPeriod.week,
    db: DbOption = None,
    agent: AgentOption = None,
    team: TeamOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    rubric: RubricNameOption = None,
    output_format: Annotated[
        TrendsFormat,
        typer.Option(
            "--format",
            "-f",
            help="auto: a table with sparklines on a terminal, plain text when piped; csv; json; html (a page "
            "with charts).",
        ),
    ] = TrendsFormat.auto,
    out: Annotated[
        Path | None, typer.Option(help="Write the output to this file instead (an .html name implies --format html).")
    ] = None,
) -> None:
    """Mean score and pass rate per agent or team and period, or how often each rule cost points."""
    where = _filter(agent, team, since, until, rubric)
    if out is not None and output_format is TrendsFormat.auto:  # the file's name says the format
        output_format = _SUFFIX_FORMATS.get(out.suffix.lower(), TrendsFormat.text)
    with _store(db) as store:
        found = store.trends(by.value, period.value, where)
    if output_format is TrendsFormat.html:
        text = trends_html(found, by.value, period.value, where)
    elif output_format is TrendsFormat.json:
        text = to_json("callqa.trends/1", "trends", [trend_record(t) for t in found], by=by.value, period=period.value)
        text += "\n"
    elif output_format is TrendsFormat.csv:
        rows = [
            {"key": t.key, "period": p.start.isoformat(), "calls": p.calls, "mean": round(p.mean, 4)}
            | ({"passed": round(p.passed, 4)} if p.passed is not None else {})
            for t in found
            for p in t.points
        ]
        text = to_csv(rows, ["key", "period", "calls", "mean", "passed"])
    else:
        console, plain = _console(output_format.value)
        if out is not None:
            console = Console(file=io.StringIO(), no_color=True, width=200, highlight=False, markup=False, emoji=False)
        if not found:
            console.print(f"没有符合条件的通话({describe_filter(where)})")
        else:
            console.print(trends_table(found, by.value, period.value, plain=plain or out is not None))
        if out is None:
            return
        text = console.file.getvalue()  # type: ignore[attr-defined]
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        error(f"{out}: cannot write: {exc.strerror}")
        raise typer.Exit(EXIT_ERROR) from None
    print(f"callqa: wrote {out}", file=sys.stderr)


_SUFFIX_FORMATS = {
    ".html": TrendsFormat.html,
    ".htm": TrendsFormat.html,
    ".csv": TrendsFormat.csv,
    ".json": TrendsFormat.json,
}


# --- review and appeal ------------------------------------------------------------------------------

_KEYS = {"c": "confirmed", "f": "false_alarm", "a": "adjusted"}


def review(
    call: Annotated[str, typer.Argument(help="The stored call: its id (callqa history) or its transcript's path.")],
    db: DbOption = None,
    reviewer: ReviewerOption = None,
    list_only: Annotated[
        bool, typer.Option("--list", help="Show the call's findings and decisions; change nothing.")
    ] = False,
    finding: Annotated[
        int | None, typer.Option(help="Decide this one finding (its id from --list) instead of walking through all.")
    ] = None,
    decision: Annotated[DecisionChoice | None, typer.Option(help="With --finding: the decision.")] = None,
    points: Annotated[
        float | None, typer.Option(help="With --decision adjusted: the finding's points instead, e.g. -2.")
    ] = None,
    comment: Annotated[str, typer.Option(help="With --finding: why.")] = "",
    all_findings: Annotated[
        bool, typer.Option("--all", help="Walk through every finding, not only those still to review.")
    ] = False,
    output_format: Annotated[
        TableFormat, typer.Option("--format", "-f", help="For --list: text, json, or csv (a row per finding).")
    ] = TableFormat.auto,
) -> None:
    """Review one stored call's findings: confirm each, mark it a false alarm, or adjust its points.

    The call's score is recomputed from the decisions (the score as scored is kept), and an open appeal
    against a finding is resolved by its decision. Without --finding or --list, walks through the
    findings that moved points, deductions first, and asks for a decision on each.
    """
    with _store(db) as store:
        stored = store.call(call)
        if list_only:
            _show_call(stored, output_format)
            return
        if finding is not None or decision is not None:
            if finding is None or decision is None:
                error("give --finding ID and --decision together")
                raise typer.Exit(EXIT_ERROR)
            if finding not in {f.id for f in stored.findings}:
                error(f"finding {finding} is not one of call {stored.id}'s (callqa review {stored.id} --list)")
                raise typer.Exit(EXIT_ERROR)
            decided = decision.value.replace("-", "_")
            updated = store.review(finding, _reviewer(reviewer), decided, points=points, comment=comment)
            _print_outcome(updated)
            return
        _walk(store, stored, _reviewer(reviewer), all_findings)


FINDING_COLUMNS = (
    "call", "id", "rule", "kind", "category", "severity", "stage", "line", "role", "matched", "said",
    "points", "nominal_points", "decided_points", "source", "confidence", "active", "decision", "message",
)  # fmt: skip


def _show_call(stored: StoredCall, output_format: TableFormat) -> None:
    if output_format is TableFormat.json:
        print(json.dumps({"schema": "callqa.stored-call/1", **call_record(stored)}, ensure_ascii=False, indent=2))
        return
    if output_format is TableFormat.csv:  # one row per finding, with the call's id and its last decision
        findings = call_record(stored)["findings"]
        rows = [
            {"call": stored.id, **f, "decision": f["reviews"][-1]["decision"] if f["reviews"] else None}
            for f in findings
        ]
        sys.stdout.write(to_csv(rows, FINDING_COLUMNS))
        return
    console, plain = _console(output_format.value)
    console.print(call_header(stored))
    for item in stored.findings:
        console.print(finding_detail(item, plain=plain))


def _print_outcome(stored: StoredCall) -> None:
    shown = f"{stored.reviewed_score:g}({stored.reviewed_grade})" if stored.reviewed_score is not None else "未复核"
    print(f"通话 {stored.id}: 原始得分 {stored.score:g}({stored.grade}),复核后 {shown}")


def _walk(store: Store, stored: StoredCall, reviewer: str, every: bool) -> None:
    """Ask for a decision on each finding that moved points (or has an open appeal); each decision is
    stored as it is made, so stopping half-way (q, Ctrl-D) keeps what was decided."""
    console, plain = _console("auto")
    console.print(call_header(stored))
    todo = [
        f
        for f in stored.findings
        if f.active
        and (f.points != 0 or f.kind == "forbidden" or any(a.status == "open" for a in f.appeals))
        and (every or f.decision is None or any(a.status == "open" for a in f.appeals))
    ]
    if not todo:
        console.print("没有待复核的发现(--all 复核全部)")
        return
    todo.sort(key=lambda f: f.points >= 0 and f.kind != "forbidden")  # deductions first, then credits
    decided = 0
    for number, item in enumerate(todo, start=1):
        console.print(f"\n({number}/{len(todo)})")
        console.print(finding_detail(item, plain=plain))
        try:
            answer = _ask_decision()
            if answer == "q":
                break
            if answer not in _KEYS:
                continue
            new_points = _ask_points(item.nominal_points) if answer == "a" else None
            comment = typer.prompt("说明(可留空)", default="", show_default=False)
        except typer.Abort:  # Ctrl-D or Ctrl-C at a prompt: stop, keeping what was decided
            print(file=sys.stderr)
            break
        try:
            stored = store.review(item.id, reviewer, _KEYS[answer], points=new_points, comment=comment)
        except CallqaError as exc:  # e.g. points outside the finding's own: say so, go on to the next
            error(str(exc))
            continue
        decided += 1
    print(f"callqa: {decided} decision(s) recorded by {reviewer}", file=sys.stderr)
    _print_outcome(stored)


def _ask_decision() -> str:
    """c, f, a, s or q; anything else is asked again (a typo must not pass as a skip)."""
    while True:
        answer = str(typer.prompt("[c]确认 [f]误报 [a]调整分数 [s]跳过 [q]结束", default="s")).strip().lower()
        if answer[:1] in (*_KEYS, "s", "q") and len(answer) == 1:
            return answer
        print("请输入 c、f、a、s 或 q 中的一个字母", file=sys.stderr)


def _ask_points(nominal: float) -> float:
    """New points for an adjusted finding, asked again until they lie between the rule's and 0."""
    low, high = sorted((nominal, 0.0))
    while True:
        points = float(typer.prompt(f"新的分数({low:g} 到 {high:g} 之间,如 {nominal / 2:g})", type=float))
        if math.isfinite(points) and low <= points <= high:
            return points
        print(f"分数须在 {low:g} 到 {high:g} 之间", file=sys.stderr)


appeal_app = typer.Typer(help="File, list and resolve agents' appeals against findings.", no_args_is_help=True)


@appeal_app.command("file")
def appeal_file(
    finding: Annotated[
        int, typer.Argument(help="The finding appealed against (its id from callqa review CALL --list).")
    ],
    reason: Annotated[str, typer.Option(help="Why the finding is wrong.", show_default=False)],
    agent: Annotated[
        str | None, typer.Option(help="Who appeals (default: the call's agent).", show_default=False)
    ] = None,
    db: DbOption = None,
) -> None:
    """An agent's appeal against one finding; it stays open until a reviewer resolves it."""
    with _store(db) as store:
        filed = store.appeal(finding, reason, agent)
    print(f"申诉 #{filed.id} 已提交(通话 {filed.call},发现 {filed.finding} {filed.rule}),待复核")


@appeal_app.command("list")
def appeal_list(
    status: Annotated[AppealStatusChoice, typer.Option(help="Which appeals.")] = AppealStatusChoice.open,
    db: DbOption = None,
    output_format: Annotated[
        TableFormat, typer.Option("--format", "-f", help="A table, csv or json.")
    ] = TableFormat.auto,
) -> None:
    """Appeals, oldest first (by default the open ones)."""
    with _store(db) as store:
        found = store.appeals(None if status is AppealStatusChoice.all else status.value)
    records = [appeal_record(a) for a in found]
    if output_format is TableFormat.json:
        print(to_json("callqa.appeals/1", "appeals", records))
    elif output_format is TableFormat.csv:
        sys.stdout.write(to_csv(records, list(records[0]) if records else ["id"]))
    else:
        console, plain = _console(output_format.value)
        console.print(appeals_table(found, plain=plain) if found else "没有申诉")


@appeal_app.command("resolve")
def appeal_resolve(
    appeal: Annotated[int, typer.Argument(help="The appeal's number (callqa appeal list).")],
    decision: Annotated[
        AppealOutcome,
        typer.Option(help="upheld: the finding was a false alarm; rejected: it stands; adjusted: --points."),
    ],
    points: Annotated[float | None, typer.Option(help="With adjusted: the finding's points instead, e.g. -2.")] = None,
    comment: Annotated[str, typer.Option(help="The reviewer's answer to the agent.")] = "",
    reviewer: ReviewerOption = None,
    db: DbOption = None,
) -> None:
    """Resolve an open appeal; the decision is recorded as a review and the call's score recomputed."""
    with _store(db) as store:
        resolved, stored = store.resolve_appeal(
            appeal, _reviewer(reviewer), decision.value, points=points, comment=comment
        )
    print(f"申诉 #{resolved.id}: {APPEAL_WORDS[resolved.status]}")
    _print_outcome(stored)


# --- rules precision ----------------------------------------------------------------------------------

rules_app = typer.Typer(help="What reviews say about the rubric's rules.", no_args_is_help=True)


@rules_app.command("precision")
def rules_precision(
    db: DbOption = None,
    rubric: RubricNameOption = None,
    team: TeamOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    min_reviews: Annotated[
        int,
        typer.Option(
            min=0,
            help="Only rows with at least this many reviewed findings (a row: a rule, or one of forbidden.model's "
            "categories).",
        ),
    ] = 0,
    output_format: Annotated[
        TableFormat, typer.Option("--format", "-f", help="A table, csv or json.")
    ] = TableFormat.auto,
) -> None:
    """Each rule's precision from reviewed findings (upheld / reviewed, with its 95 % interval and the
    counts), lowest first, and how well reviewers agree (Cohen's κ) where two judged the same findings.
    The trained detector (forbidden.model) gets one row per category it flags, each at its own threshold."""
    where = _filter(None, team, since, until, rubric)
    with _store(db) as store:
        rules = [r for r in store.rule_precision(where) if r.reviewed >= min_reviews]
        pairs = store.agreement(where)
    if output_format is TableFormat.json:
        print(
            json.dumps(
                {
                    "schema": "callqa.rule-precision/1",
                    "rules": [precision_record(r) for r in rules],
                    "agreement": [agreement_record(p) for p in pairs],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    if output_format is TableFormat.csv:
        records = [precision_record(r) for r in rules]
        for record in records:
            interval = record.pop("interval_95")
            record["low_95"], record["high_95"] = interval if interval else (None, None)
        columns = [
            "rule",
            "category",
            "reviewed",
            "confirmed",
            "false_alarms",
            "unreviewed",
            "precision",
            "low_95",
            "high_95",
        ]
        sys.stdout.write(to_csv(records, columns))
        return
    console, plain = _console(output_format.value)
    if not rules:
        console.print("还没有扣分的发现" if min_reviews == 0 else f"没有复核数达到 {min_reviews} 的规则")
    else:
        console.print("规则精确率(复核确认 / 已复核;区间越宽,复核越少,越不可信)")
        console.print(precision_table(rules, plain=plain))
    if pairs:
        console.print("\n复核一致性(Cohen's κ,两人复核的同一批发现)")
        console.print(agreement_table(pairs, plain=plain))
