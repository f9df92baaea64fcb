"""The store: scored calls, findings, reviews and appeals in SQLite or PostgreSQL (SQLAlchemy Core).

One `Store` per database URL. Opening it checks the schema: an empty database is created at the head
revision (when `create`), an older one must be upgraded (`callqa db upgrade`), a newer one needs a
newer callqa. Every problem the user can fix (a corrupt or read-only file, a server that cannot be
reached, a missing driver) is a `StoreError`: one line naming the database.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine

from callqa.agreement import cohen_kappa
from callqa.errors import StoreError
from callqa.store.records import (
    APPEAL_DECISIONS,
    APPEAL_OUTCOMES,
    DECISIONS,
    Agreement,
    AppealRecord,
    HistoryFilter,
    Period,
    ReviewRecord,
    RulePrecision,
    ScoredCall,
    ScoringRules,
    StoredCall,
    StoredFinding,
    StoredStage,
    StoreStatus,
    Trend,
    TrendPoint,
)
from callqa.store.review import period_start, recompute, wilson
from callqa.store.tables import appeals, call_stages, calls, findings, reviews

#: Every schema revision this callqa knows, oldest first (a test checks them against migrations/).
REVISIONS: tuple[str, ...] = ("0001", "0002")
HEAD = REVISIONS[-1]
MIGRATIONS = Path(__file__).parent / "migrations"
_RACE_RETRIES = 3
_REVIEWED = ("reviewed_score", "reviewed_grade", "reviewed_passed", "reviewed_fatal")
_CHUNK = 500  # ids or hashes per IN (...) list
_R = TypeVar("_R")
_WRITE = "callqa_write"  # the execution option of a connection that writes
_SCHEMA_LOCK = 7_150_001  # PostgreSQL advisory lock id held while migrating (any fixed number of ours)


def shown_url(url: str) -> str:
    """The URL as messages print it: any password hidden, in the URL or in its query."""
    try:
        parsed = sa.make_url(url)
    except (exc.ArgumentError, ValueError):
        return re.sub(r"(?i)(password=)[^&]*", r"\1***", url)
    if parsed.password or any(k.lower() == "password" for k in parsed.query):
        query = {k: ("***" if k.lower() == "password" else v) for k, v in parsed.query.items()}
        return parsed.set(query=query).render_as_string(hide_password=True).replace("%2A%2A%2A", "***")
    return url


def _reason(error: BaseException) -> str:
    """The driver's own words, first line only (SQLAlchemy appends SQL and a link)."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip()
    return text.splitlines()[0] if text else type(original).__name__


def _now() -> datetime:
    return datetime.now(UTC)


def _today() -> date:
    """The day a call is scored, in the scorer's own time zone (not UTC: a call scored at 07:00 in
    Beijing belongs to that day)."""
    return datetime.now().astimezone().date()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite keeps no zone


class Store:
    """A callqa database. `create`: make the schema in an empty database; `check=False` does not ask
    for the head revision, for `callqa db upgrade` and `db status` (which still refuse a database that
    is not callqa's: `_schema`)."""

    def __init__(self, url: str, *, create: bool = False, check: bool = True) -> None:
        self.url = url
        self.name = shown_url(url)
        self.engine = self._engine(url, create)
        if not check:
            return
        with self._errors("cannot open"), self.engine.connect() as connection:
            revision = self._schema(connection)
        if revision is None and create:
            self.upgrade()
        elif revision is None:
            raise StoreError(self.name, "the database is empty", hint="create it with: callqa db upgrade")
        elif revision not in REVISIONS:
            raise StoreError(
                self.name,
                f"the database's schema (revision {revision}) is newer than this callqa knows ({HEAD})",
                hint="upgrade callqa: pip install -U callqa",
            )
        elif revision != HEAD:
            raise StoreError(
                self.name,
                f"the database's schema is at revision {revision}; this callqa needs {HEAD}",
                hint="run: callqa db upgrade",
            )

    # --- opening, checking, upgrading --------------------------------------------------------------

    def _engine(self, url: str, create: bool) -> Engine:
        try:
            parsed = sa.make_url(url)
        except (exc.ArgumentError, ValueError) as error:
            hint = "e.g. sqlite:///scores.db or postgresql+psycopg://user@host/db"
            raise StoreError(self.name, f"not a database URL ({error})", hint=hint) from None
        try:
            if parsed.get_backend_name() == "sqlite":
                database = parsed.database or ""
                if database and not database.startswith("file:"):
                    path = Path(database).expanduser()
                    if not path.parent.is_dir():
                        raise StoreError(self.name, f"no such folder: {path.parent}")
                    if path.is_dir():
                        raise StoreError(self.name, "is a folder, not a database file")
                    if not create and not path.exists():  # connecting would make an empty file
                        raise StoreError(
                            self.name,
                            "no such database file",
                            hint="callqa score --db FILE or callqa db upgrade makes one",
                        )
                # timeout: a second writer (another batch) waits for the lock instead of failing.
                engine = sa.create_engine(parsed, connect_args={"timeout": 30})
                event.listen(engine, "connect", _sqlite_connect)
                event.listen(engine, "begin", _sqlite_begin)
                return engine
            connect_args = {"connect_timeout": 10} if parsed.get_backend_name() == "postgresql" else {}
            return sa.create_engine(parsed, connect_args=connect_args, pool_pre_ping=True)
        except ModuleNotFoundError as error:
            driver = "pip install 'callqa[postgres]'" if parsed.get_backend_name() == "postgresql" else None
            raise StoreError(self.name, f"the database driver is not installed ({error.name})", hint=driver) from None
        except exc.NoSuchModuleError:
            raise StoreError(
                self.name,
                f"unknown kind of database '{parsed.drivername}'",
                hint="use sqlite:/// or postgresql+psycopg://",
            ) from None
        except (exc.ArgumentError, ValueError) as error:  # a port that is not a number, say
            raise StoreError(self.name, f"not a database URL ({error})") from None

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Database errors as one StoreError line: `doing` says what failed (cannot open, cannot write)."""
        try:
            yield
        except StoreError:
            raise
        except exc.DBAPIError as error:
            reason = _reason(error)
            if "file is not a database" in reason or "malformed" in reason:
                hint = "move the file away or give another --db"
                raise StoreError(self.name, f"not a callqa database ({reason})", hint=hint) from None
            if "readonly" in reason or "read-only" in reason:
                raise StoreError(self.name, f"cannot write: the database is read-only ({reason})") from None
            raise StoreError(self.name, f"{doing}: {reason}") from None
        except exc.SQLAlchemyError as error:
            raise StoreError(self.name, f"{doing}: {_reason(error)}") from None

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction (on SQLite, one that holds the write lock from its start)."""
        with self.engine.connect() as connection:
            writing = connection.execution_options(**{_WRITE: True})
            with writing.begin():
                yield writing

    def _schema(self, connection: Connection) -> str | None:
        """The database's callqa schema revision, None when it is empty (no tables at all). The one
        place that decides whether a database is callqa's, for every command that opens, inspects or
        upgrades one: tables without callqa's revision belong to another application, and callqa
        neither reports on that database nor writes its own tables into it."""
        names = set(sa.inspect(connection).get_table_names())
        revision = self._revision(connection, names)
        if revision is None and names:
            raise StoreError(
                self.name,
                "not a callqa database (it has tables but no callqa schema revision)",
                hint="give another --db: a callqa database or a new one",
            )
        return revision

    def upgrade(self) -> tuple[str | None, str]:
        """Migrate to the head revision; returns (revision before, after). One process at a time: the
        migration holds SQLite's write lock (BEGIN IMMEDIATE) or a PostgreSQL advisory lock, and looks
        at the revision again once it has it, so two batches starting on an empty database make its
        schema once."""
        from alembic.config import Config  # Alembic is needed only here; opening a store does not import it

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        sqlite = self.engine.dialect.name == "sqlite"
        with self._errors("cannot upgrade"), self.engine.connect() as plain:
            connection = plain.execution_options(**{_WRITE: True})
            if sqlite:
                # SQLite changes a column by copying its table; with foreign keys on, dropping the old
                # copy would cascade-delete every finding. Off outside any transaction (inside one the
                # pragma does nothing), checked after, on again whatever happens.
                _driver(connection).execute("PRAGMA foreign_keys=OFF")
            try:
                before = self._migrate(connection, config, sqlite)
            finally:
                if sqlite:
                    _driver(connection).execute("PRAGMA foreign_keys=ON")
        return before, HEAD

    def _migrate(self, connection: Connection, config: Any, sqlite: bool) -> str | None:
        """Run the migrations in one transaction under the schema lock; returns the revision before."""
        from alembic import command

        with connection.begin():
            if self.engine.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
            before = self._schema(connection)  # under the lock: another batch may just have made it
            if before is not None and before not in REVISIONS:
                raise StoreError(self.name, f"the database's schema (revision {before}) is newer than this callqa")
            if before != HEAD:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise StoreError(self.name, f"the upgrade would leave {len(broken)} rows without their call")
        return before

    @staticmethod
    def _revision(connection: Connection, names: set[str] | None = None) -> str | None:
        """The schema revision (None: no callqa schema); `names`: the tables, when already looked up."""
        if "alembic_version" not in (names if names is not None else sa.inspect(connection).get_table_names()):
            return None
        rows = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
        return max(rows) if rows else None

    def status(self) -> StoreStatus:
        with self._errors("cannot read"), self.engine.connect() as connection:
            revision = self._schema(connection)
            if revision != HEAD:
                return StoreStatus(self.name, revision, HEAD, known=revision is None or revision in REVISIONS)

            def count(table: sa.Table, *where: Any) -> int:
                query = sa.select(sa.func.count()).select_from(table).where(*where)
                return int(connection.execute(query).scalar_one())

            return StoreStatus(
                self.name,
                revision,
                HEAD,
                calls=count(calls),
                findings=count(findings),
                reviews=count(reviews),
                appeals_open=count(appeals, appeals.c.status == "open"),
            )

    def close(self) -> None:
        self.engine.dispose()

    # --- storing -----------------------------------------------------------------------------------

    def save(self, scored: Sequence[ScoredCall]) -> list[int]:
        """Store calls in one transaction (all or none). A transcript already stored with the same
        rubric (by name) is updated in place: its reviewed findings are kept, its day too. Returns the
        stored calls' ids, one per distinct transcript."""
        # The same transcript twice in one batch (two copies of a file) is one call: the last one counts.
        unique = list({c.stored_as: c for c in scored}.values())
        with self._errors("cannot write"):
            for _ in range(_RACE_RETRIES):
                try:
                    with self._write() as connection:
                        return self._save_in(connection, unique)
                except exc.IntegrityError as error:
                    # Another process stored one of these transcripts between this one's look-up and its
                    # insert: the transaction rolled back; the look-up now finds that row and updates it.
                    if "uq_calls_transcript_rubric" not in str(error) and "calls.content_sha256" not in str(error):
                        raise
            raise StoreError(self.name, "cannot write: other writers keep storing the same calls at once")

    def _save_in(self, connection: Connection, unique: Sequence[ScoredCall]) -> list[int]:
        existing: dict[tuple[str, str], tuple[int, date]] = {}
        for chunk in _chunks([c.content_sha256 for c in unique], _CHUNK):
            query = sa.select(calls.c.id, calls.c.content_sha256, calls.c.rubric_name, calls.c.day)
            for call_id, sha, rubric, day in connection.execute(query.where(calls.c.content_sha256.in_(chunk))):
                existing[(sha, rubric)] = (call_id, day)
        # New calls go in as one multi-row INSERT … RETURNING, not one statement each (a batch of 500 new
        # calls was 500 statements). Each id comes back with its call's key: asking SQLAlchemy for the
        # rows' order instead would make SQLite, which cannot promise it, insert row by row.
        fresh = [c for c in unique if c.stored_as not in existing]
        fresh_ids: dict[tuple[str, str], int] = {}
        if fresh:
            rows = [{**_call_row(c), "day": c.meta.call_date or _today()} for c in fresh]
            returning = sa.insert(calls).returning(calls.c.id, calls.c.content_sha256, calls.c.rubric_name)
            for call_id, sha, rubric in connection.execute(returning, rows):
                fresh_ids[(sha, rubric)] = int(call_id)
        # A rescored batch (a rubric changed, a folder scored again) is stored in a few statements for the
        # whole batch too, not five to nine a call: its stored findings read in one query, its stages
        # replaced and its rows updated with one executemany each.
        again = {existing[c.stored_as][0]: c for c in unique if c.stored_as in existing}
        reviewed = self._reviewed_counts(connection, list(again))
        new_findings: list[dict[str, Any]] = []
        new_stages: list[dict[str, Any]] = []
        updates: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for call_id, call in again.items():
            row = _call_row(call)
            for name in ("agent", "team", "call_date"):  # keep what an earlier scoring was told
                if row[name] is None:
                    del row[name]
            row["day"] = call.meta.call_date or existing[call.stored_as][1]
            if not reviewed.get(call_id):
                row.update(dict.fromkeys(_REVIEWED))  # no decision left: no reviewed score (see _regrade)
            updates[tuple(row)].append({**row, "call_id": call_id})
        for rows in updates.values():  # one executemany per set of columns (a row may keep its agent)
            connection.execute(sa.update(calls).where(calls.c.id == sa.bindparam("call_id")), rows)
        for chunk in _chunks(list(again), _CHUNK):
            connection.execute(sa.delete(call_stages).where(call_stages.c.call_id.in_(chunk)))
        new_findings += self._replace_findings(
            connection, {call_id: _finding_rows(call, call_id) for call_id, call in again.items()}
        )
        ids = []
        for call in unique:
            call_id = existing[call.stored_as][0] if call.stored_as in existing else fresh_ids[call.stored_as]
            if call.stored_as not in existing:
                new_findings += _finding_rows(call, call_id)
            new_stages += _stage_rows(call, call_id)
            ids.append(call_id)
        if new_findings:
            connection.execute(sa.insert(findings), new_findings)
        if new_stages:
            connection.execute(sa.insert(call_stages), new_stages)
        for call_id in again:  # a new call has no reviews to apply
            if reviewed.get(call_id):
                self._regrade(connection, call_id)
        return ids

    def _reviewed_counts(self, connection: Connection, call_ids: Sequence[int]) -> dict[int, int]:
        """Reviews per call, for the calls that have any. Rescoring never deletes a reviewed finding
        (it is kept inactive), so the count is the same before and after the findings are replaced."""
        counts: dict[int, int] = {}
        for chunk in _chunks(call_ids, _CHUNK):
            query = (
                sa.select(findings.c.call_id, sa.func.count())
                .select_from(reviews.join(findings, reviews.c.finding_id == findings.c.id))
                .where(findings.c.call_id.in_(chunk))
                .group_by(findings.c.call_id)
            )
            counts.update((int(call_id), int(n)) for call_id, n in connection.execute(query))
        return counts

    def _replace_findings(
        self, connection: Connection, rows_by_call: dict[int, list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """Rescored calls' findings: each matched to the stored one of the same call, rule, kind,
        utterance, severity and points before caps (which keeps its id, so its reviews and appeals stay
        with it: they judged that very finding); a stored finding no longer found (or found with other
        points, after the rubric changed) is deleted, or kept inactive when someone reviewed or appealed
        it, its open appeals closed as obsolete. Returns the rows that are new, for the caller to insert."""
        waiting: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        for chunk in _chunks(list(rows_by_call), _CHUNK):
            stored = connection.execute(
                sa.select(
                    findings.c.id,
                    findings.c.call_id,
                    findings.c.rule,
                    findings.c.kind,
                    findings.c.utterance,
                    findings.c.severity,
                    findings.c.nominal_points,
                )
                .where(findings.c.call_id.in_(chunk))
                .order_by(findings.c.call_id, findings.c.position, findings.c.id)
            ).all()
            for finding_id, *same in stored:
                waiting[tuple(same)].append(finding_id)
        updates, inserts = [], []
        for call_id, rows in rows_by_call.items():
            for row in rows:
                key = (call_id, row["rule"], row["kind"], row["utterance"], row["severity"], row["nominal_points"])
                matches = waiting.get(key)
                if matches:
                    updates.append({**row, "finding_id": matches.pop(0)})
                else:
                    inserts.append(row)
        if updates:
            statement = sa.update(findings).where(findings.c.id == sa.bindparam("finding_id"))
            connection.execute(statement, updates)
        gone = [finding_id for ids in waiting.values() for finding_id in ids]
        for chunk in _chunks(gone, _CHUNK):
            judged = set(
                connection.execute(
                    sa.select(reviews.c.finding_id)
                    .where(reviews.c.finding_id.in_(chunk))
                    .union(sa.select(appeals.c.finding_id).where(appeals.c.finding_id.in_(chunk)))
                ).scalars()
            )
            if judged:
                connection.execute(sa.update(findings).where(findings.c.id.in_(judged)).values(active=False))
                connection.execute(
                    sa.update(appeals)
                    .where(appeals.c.finding_id.in_(judged), appeals.c.status == "open")
                    .values(status="obsolete", resolved_at=_now(), comment="重新评分后该发现已不存在")
                )
            connection.execute(sa.delete(findings).where(findings.c.id.in_(set(chunk) - judged)))
        return inserts

    # --- reading -----------------------------------------------------------------------------------

    def calls(self, where: HistoryFilter = HistoryFilter()) -> list[StoredCall]:
        """Stored calls, newest day first, without their findings."""
        lost = (
            sa.select(sa.func.count())
            .where(findings.c.call_id == calls.c.id, findings.c.active.is_(True), findings.c.points < 0)
            .scalar_subquery()
        )
        query = sa.select(calls, lost.label("lost")).where(*_conditions(where))
        query = query.order_by(calls.c.day.desc(), calls.c.id.desc())
        if where.limit:
            query = query.limit(where.limit)
        with self._errors("cannot read"), self.engine.connect() as connection:
            return [_stored_call(row._mapping) for row in connection.execute(query)]

    def call(self, reference: str) -> StoredCall:
        """One call with its stage scores, findings, reviews and appeals: by id, or by transcript path
        (the latest scoring of that file)."""
        with self._errors("cannot read"), self.engine.connect() as connection:
            return self._call(connection, self._call_id(connection, reference))

    def _call_id(self, connection: Connection, reference: str) -> int:
        if reference.isascii() and reference.isdigit():
            number = int(reference)
            found = (
                connection.execute(sa.select(calls.c.id).where(calls.c.id == number)).scalar()
                if number < 2**63
                else None
            )
        else:
            paths = {reference, str(Path(reference).resolve())}
            found = connection.execute(
                sa.select(calls.c.id).where(calls.c.path.in_(paths)).order_by(calls.c.scored_at.desc()).limit(1)
            ).scalar()
        if found is None:
            raise StoreError(None, f"no stored call {reference}", hint="callqa history lists them")
        return int(found)

    def _call(self, connection: Connection, call_id: int) -> StoredCall:
        row = connection.execute(sa.select(calls).where(calls.c.id == call_id)).one()
        stage_rows = connection.execute(
            sa.select(call_stages).where(call_stages.c.call_id == call_id).order_by(call_stages.c.position)
        ).all()
        finding_rows = connection.execute(
            sa.select(findings).where(findings.c.call_id == call_id).order_by(findings.c.position, findings.c.id)
        ).all()
        ids = [f.id for f in finding_rows]
        review_rows = connection.execute(
            sa.select(reviews).where(reviews.c.finding_id.in_(ids)).order_by(reviews.c.created_at, reviews.c.id)
        ).all()
        appeal_rows = connection.execute(
            sa.select(appeals).where(appeals.c.finding_id.in_(ids)).order_by(appeals.c.id)
        ).all()
        by_finding: dict[int, list[ReviewRecord]] = defaultdict(list)
        for r in review_rows:
            by_finding[r.finding_id].append(_review(r._mapping))
        appealed: dict[int, list[AppealRecord]] = defaultdict(list)
        rules = {f.id: f.rule for f in finding_rows}
        for a in appeal_rows:
            appealed[a.finding_id].append(_appeal(a._mapping, call_id, rules[a.finding_id]))
        return replace(
            _stored_call(row._mapping),
            stages=tuple(StoredStage(s.stage, s.score, s.max_score, s.base) for s in stage_rows),
            findings=tuple(_finding(f._mapping, tuple(by_finding[f.id]), tuple(appealed[f.id])) for f in finding_rows),
            lost=sum(1 for f in finding_rows if f.active and f.points < 0),
        )

    def _regrade(self, connection: Connection, call_id: int) -> None:
        """Recompute a call's reviewed score from its decisions (NULL again when none is left)."""
        reviewed = connection.execute(
            sa.select(sa.func.count())
            .select_from(reviews.join(findings, reviews.c.finding_id == findings.c.id))
            .where(findings.c.call_id == call_id)
        ).scalar_one()
        values: dict[str, Any] = dict.fromkeys(_REVIEWED)
        if reviewed:
            call = self._call(connection, call_id)
            stored = json.loads(connection.execute(sa.select(calls.c.rules).where(calls.c.id == call_id)).scalar_one())
            rules = ScoringRules(
                pass_mark=float(stored["pass_mark"]),
                grades=tuple((str(name), float(low)) for name, low in stored["grades"]),
                bases={s.name: s.base for s in call.stages},
                caps={str(k): float(v) for k, v in stored["caps"].items()},
                # a call stored before stage floors went keeps the arithmetic it was scored by
                stage_floor=bool(stored.get("stage_floor", True)),
            )
            result = recompute(call.stages, call.findings, rules)
            values = {
                "reviewed_score": result.score,
                "reviewed_grade": result.grade,
                "reviewed_passed": result.passed,
                "reviewed_fatal": result.fatal,
            }
        connection.execute(sa.update(calls).where(calls.c.id == call_id).values(**values))

    # --- review and appeal -------------------------------------------------------------------------

    def review(
        self,
        finding_id: int,
        reviewer: str,
        decision: str,
        *,
        points: float | None = None,
        comment: str = "",
    ) -> StoredCall:
        """Record a reviewer's decision on a finding and recompute the call's score; an open appeal
        against the finding is resolved by it (a false alarm upholds it, a confirmation rejects it).
        Returns the call as it now stands."""
        if decision not in DECISIONS:
            raise StoreError(None, f"unknown decision '{decision}'", hint="confirmed, false-alarm or adjusted")
        with self._errors("cannot write"), self._write() as connection:
            return self._review_in(connection, finding_id, reviewer, decision, points, comment)

    def _review_in(
        self, connection: Connection, finding_id: int, reviewer: str, decision: str, points: float | None, comment: str
    ) -> StoredCall:
        """Record one decision inside a write transaction: what review and resolve_appeal both do."""
        if not reviewer.strip():
            raise StoreError(None, "a review needs the reviewer's name (--reviewer)")
        if decision != "adjusted" and points is not None:
            raise StoreError(None, "--points goes with the decision 'adjusted' only")
        finding = self._finding_row(connection, finding_id)
        if decision == "adjusted":
            _check_points(points, finding.nominal_points)
        now = _now()
        open_appeals = (
            connection.execute(
                sa.select(appeals.c.id)
                .where(appeals.c.finding_id == finding_id, appeals.c.status == "open")
                .order_by(appeals.c.id)
            )
            .scalars()
            .all()
        )
        connection.execute(
            sa.insert(reviews).values(
                finding_id=finding_id,
                reviewer=reviewer.strip(),
                decision=decision,
                points=points,
                comment=comment,
                created_at=now,
                appeal_id=open_appeals[0] if open_appeals else None,
            )
        )
        if open_appeals:
            connection.execute(
                sa.update(appeals)
                .where(appeals.c.id.in_(open_appeals))
                .values(
                    status=APPEAL_OUTCOMES[decision], resolved_by=reviewer.strip(), resolved_at=now, comment=comment
                )
            )
        self._regrade(connection, finding.call_id)
        return self._call(connection, finding.call_id)

    def _finding_row(self, connection: Connection, finding_id: int) -> Any:
        """The finding's row, when it can still be judged: it exists and the call's latest scoring has it."""
        row = connection.execute(
            sa.select(findings.c.call_id, findings.c.active, findings.c.nominal_points).where(
                findings.c.id == finding_id
            )
        ).first()
        if row is None:
            raise StoreError(None, f"no finding {finding_id}", hint="callqa review CALL --list shows them")
        if not row.active:
            raise StoreError(None, f"finding {finding_id} is no longer found since the call was scored again")
        return row

    def appeal(self, finding_id: int, reason: str, agent: str | None = None) -> AppealRecord:
        """An agent's appeal against a finding (by default the call's agent), open until a reviewer
        resolves it; a finding has at most one open appeal."""
        if not reason.strip():
            raise StoreError(None, "an appeal needs its reason (--reason)")
        with self._errors("cannot write"), self._write() as connection:
            finding = self._finding_row(connection, finding_id)
            already = connection.execute(
                sa.select(appeals.c.id).where(appeals.c.finding_id == finding_id, appeals.c.status == "open")
            ).scalar()
            if already is not None:
                raise StoreError(None, f"finding {finding_id} already has an open appeal (#{already})")
            if agent is None:
                agent = connection.execute(sa.select(calls.c.agent).where(calls.c.id == finding.call_id)).scalar()
            appeal_id = _inserted(
                connection,
                sa.insert(appeals).values(
                    finding_id=finding_id, agent=agent, reason=reason.strip(), status="open", created_at=_now()
                ),
            )
            return self._appeal_by_id(connection, appeal_id, finding.call_id)

    def resolve_appeal(
        self, appeal_id: int, reviewer: str, outcome: str, *, points: float | None = None, comment: str = ""
    ) -> tuple[AppealRecord, StoredCall]:
        """Resolve an open appeal: upheld (the finding was a false alarm), rejected (it stands) or
        adjusted (new points), recorded as the reviewer's review of the finding."""
        if outcome not in APPEAL_DECISIONS:
            raise StoreError(None, f"unknown outcome '{outcome}'", hint="upheld, rejected or adjusted")
        # One transaction, the appeal's row locked: two reviewers resolving it at once cannot both.
        with self._errors("cannot write"), self._write() as connection:
            row = connection.execute(sa.select(appeals).where(appeals.c.id == appeal_id).with_for_update()).first()
            if row is None:
                raise StoreError(None, f"no appeal {appeal_id}", hint="callqa appeal list shows them")
            if row.status != "open":
                raise StoreError(None, f"appeal {appeal_id} was already resolved ({row.status} by {row.resolved_by})")
            call = self._review_in(connection, row.finding_id, reviewer, APPEAL_DECISIONS[outcome], points, comment)
            return self._appeal_by_id(connection, appeal_id, call.id), call

    def _appeal_by_id(self, connection: Connection, appeal_id: int, call_id: int) -> AppealRecord:
        row = connection.execute(
            sa.select(appeals, findings.c.rule)
            .join(findings, appeals.c.finding_id == findings.c.id)
            .where(appeals.c.id == appeal_id)
        ).one()
        return _appeal(row._mapping, call_id, row.rule)

    def appeals(self, status: str | None = None) -> list[AppealRecord]:
        query = sa.select(appeals, findings.c.rule, findings.c.call_id).join(
            findings, appeals.c.finding_id == findings.c.id
        )
        if status is not None:
            query = query.where(appeals.c.status == status)
        with self._errors("cannot read"), self.engine.connect() as connection:
            rows = connection.execute(query.order_by(appeals.c.id)).all()
        return [_appeal(r._mapping, r.call_id, r.rule) for r in rows]

    # --- looking back ------------------------------------------------------------------------------

    def trends(self, by: str, period: Period, where: HistoryFilter = HistoryFilter()) -> list[Trend]:
        """Per agent, team or rule and per period: calls, mean score and pass rate (for a rule: the
        share of calls it cost points in). Keys with the most calls first."""
        stored = self.calls(replace(where, limit=None))
        buckets: dict[str, dict[date, list[StoredCall]]] = defaultdict(lambda: defaultdict(list))
        trends = []
        if by == "rule":
            per_period: Counter[date] = Counter(period_start(c.day, period) for c in stored)
            hits = self._rule_hits([c.id for c in stored])
            for call in stored:
                for rule in hits.get(call.id, ()):
                    buckets[rule][period_start(call.day, period)].append(call)
            for rule, by_period in buckets.items():
                points = tuple(
                    TrendPoint(start, len(hit), len(hit) / per_period[start], None)
                    for start, hit in sorted(by_period.items())
                )
                total = sum(p.calls for p in points)
                trends.append(Trend(rule, points, total, total / len(stored) if stored else 0.0))
            return sorted(trends, key=lambda t: (-t.calls, t.key))
        for call in stored:
            key = (call.agent if by == "agent" else call.team) or "(未知)"
            buckets[key][period_start(call.day, period)].append(call)
        for key, by_period in buckets.items():
            points = tuple(
                TrendPoint(
                    start,
                    len(group),
                    sum(c.current_score for c in group) / len(group),
                    sum(c.current_passed for c in group) / len(group),
                )
                for start, group in sorted(by_period.items())
            )
            every = [c for group in by_period.values() for c in group]
            trends.append(Trend(key, points, len(every), sum(c.current_score for c in every) / len(every)))
        return sorted(trends, key=lambda t: (-t.calls, t.key))

    def _rule_hits(self, call_ids: Sequence[int]) -> dict[int, set[str]]:
        """The rules that cost each call points (a finding not overturned by review). A trained
        detector's findings count per category ("forbidden.model 含糊"), as `rules precision` gives
        them: its six categories are six things to watch, each with its own threshold."""
        hits: dict[int, set[str]] = defaultdict(set)
        with self._errors("cannot read"), self.engine.connect() as connection:
            for chunk in _chunks(call_ids, _CHUNK):
                rows = connection.execute(
                    sa.select(
                        findings.c.call_id, findings.c.rule, findings.c.id, findings.c.source, findings.c.category
                    ).where(findings.c.call_id.in_(chunk), findings.c.active.is_(True), findings.c.points < 0)
                ).all()
                overturned = self._false_alarms(connection, [r.id for r in rows])
                for call_id, rule, finding_id, source, category in rows:
                    if finding_id not in overturned:
                        hits[call_id].add(f"{rule} {category}" if source == "model" else rule)
        return hits

    def _latest_decisions(self, connection: Connection, finding_ids: Sequence[int]) -> dict[int, str]:
        latest: dict[int, str] = {}
        for chunk in _chunks(finding_ids, _CHUNK):
            query = (
                sa.select(reviews.c.finding_id, reviews.c.decision)
                .where(reviews.c.finding_id.in_(chunk))
                .order_by(reviews.c.created_at, reviews.c.id)
            )
            latest.update({finding_id: decision for finding_id, decision in connection.execute(query)})
        return latest

    def _false_alarms(self, connection: Connection, finding_ids: Sequence[int]) -> set[int]:
        latest = self._latest_decisions(connection, finding_ids)
        return {finding_id for finding_id, decision in latest.items() if decision == "false_alarm"}

    def rule_precision(self, where: HistoryFilter = HistoryFilter()) -> list[RulePrecision]:
        """Per rule and category, from each reviewed finding's latest decision: how many were upheld.
        The lowest precision first, unreviewed ones last. A finding counts when its rule meant to
        deduct (its nominal points), even where the caps left it nothing."""
        query = (
            sa.select(findings.c.id, findings.c.rule, findings.c.category)
            .join(calls, findings.c.call_id == calls.c.id)
            .where(*_conditions(where), (findings.c.nominal_points < 0) | (findings.c.kind == "forbidden"))
        )
        with self._errors("cannot read"), self.engine.connect() as connection:
            rows = connection.execute(query).all()
            latest = self._latest_decisions(connection, [r.id for r in rows])
        # Keyed by category too: the trained detector (forbidden.model) flags six categories, each at
        # its own threshold, so pooling them would judge 含糊's reviews under whichever came first. A
        # rule of one category is one row as before.
        tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])  # reviewed, upheld, unreviewed
        for finding_id, rule, category in rows:
            decision = latest.get(finding_id)
            counts = tally[(rule, category)]
            if decision is None:
                counts[2] += 1
            else:
                counts[0] += 1
                counts[1] += decision != "false_alarm"
        result = [
            RulePrecision(rule, category, reviewed, upheld, reviewed - upheld, unreviewed, wilson(upheld, reviewed))
            for (rule, category), (reviewed, upheld, unreviewed) in tally.items()
        ]
        return sorted(result, key=lambda r: (r.precision is None, r.precision or 0.0, -r.reviewed, r.rule, r.category))

    def agreement(self, where: HistoryFilter = HistoryFilter()) -> list[Agreement]:
        """Cohen's κ for every two reviewers who judged the same findings (each one's latest decision),
        over the calls `where` selects."""
        query = (
            sa.select(reviews.c.finding_id, reviews.c.reviewer, reviews.c.decision)
            .join(findings, reviews.c.finding_id == findings.c.id)
            .join(calls, findings.c.call_id == calls.c.id)
            .where(*_conditions(where))
            .order_by(reviews.c.created_at, reviews.c.id)
        )
        with self._errors("cannot read"), self.engine.connect() as connection:
            rows = connection.execute(query).all()
        judged: dict[int, dict[str, str]] = defaultdict(dict)
        for finding_id, reviewer, decision in rows:
            judged[finding_id][reviewer] = decision
        pairs: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        for decisions in judged.values():
            names = sorted(decisions)
            for i, first in enumerate(names):
                for second in names[i + 1 :]:
                    pairs[(first, second)].append((decisions[first], decisions[second]))
        return [
            Agreement(first, second, len(both), sum(a == b for a, b in both), cohen_kappa(both))
            for (first, second), both in sorted(pairs.items())
        ]


# --- rows in, records out -----------------------------------------------------------------------


def _check_points(points: float | None, nominal: float) -> None:
    """An adjusted finding's points: a number on the rule's side of zero and no larger than its points
    (a deduction can be made smaller, never a gain; a credit likewise)."""
    if points is None:
        raise StoreError(None, "an adjusted finding needs its new points (--points, e.g. -2)")
    if not math.isfinite(points):
        raise StoreError(None, f"--points {points} is not a number of points")
    if (nominal < 0 < points) or (points < 0 < nominal) or abs(points) > abs(nominal):
        raise StoreError(None, f"--points {points:g} is outside the finding's own {nominal:g} … 0")


def _inserted(connection: Connection, statement: Any) -> int:
    key = connection.execute(statement).inserted_primary_key
    assert key is not None, "an INSERT of one row has its primary key"
    return int(key[0])


def _driver(connection: Connection) -> Any:
    """The DB-API connection under SQLAlchemy's, for what must run outside any transaction."""
    driver = connection.connection.driver_connection
    assert driver is not None, "an open connection has its driver's"
    return driver


def _sqlite_connect(connection: Any, _record: Any) -> None:
    # The driver would begin transactions itself, and only before data changes (not before a look-up
    # or a CREATE TABLE); SQLAlchemy's "begin" event below begins them instead, for every transaction.
    connection.isolation_level = None
    connection.execute("PRAGMA foreign_keys=ON")  # ON DELETE CASCADE needs it


def _sqlite_begin(connection: Connection) -> None:
    # A write takes the lock at its start (IMMEDIATE), so that two writers queue (up to the 30 s
    # timeout) instead of both looking a call up and then colliding on its insert, and a schema is
    # made once; a read takes none, so `callqa history` never waits for a running batch.
    connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get(_WRITE) else "BEGIN")


def _call_row(call: ScoredCall) -> dict[str, Any]:
    report = call.report
    rules = {
        "pass_mark": call.rules.pass_mark,
        "grades": [list(g) for g in call.rules.grades],
        "caps": call.rules.caps,
        "stage_floor": call.rules.stage_floor,
    }
    return {
        "path": call.path,
        "content_sha256": call.content_sha256,
        "agent": call.meta.agent,
        "team": call.meta.team,
        "call_date": call.meta.call_date,
        "scored_at": _now(),
        "rubric_name": call.provenance.rubric_name,
        "rubric_version": call.provenance.rubric_version,
        "rubric_sha256": call.provenance.rubric_sha256,
        "models": json.dumps(call.provenance.models, ensure_ascii=False, sort_keys=True),
        "callqa_version": call.provenance.callqa_version,
        "score": report["score"],
        "max_score": report["max_score"],
        "grade": report["grade"],
        "passed": report["passed"],
        "fatal": report["fatal"],
        "rules": json.dumps(rules, ensure_ascii=False),
    }


def _stage_rows(call: ScoredCall, call_id: int) -> list[dict[str, Any]]:
    return [
        {
            "call_id": call_id,
            "stage": s["name"],
            "position": i,
            "score": s["score"],
            "max_score": s["max_score"],
            "base": call.rules.bases.get(s["name"], s["max_score"]),
        }
        for i, s in enumerate(call.report["stages"])
    ]


def _finding_rows(call: ScoredCall, call_id: int) -> list[dict[str, Any]]:
    utterances = call.report["utterances"]
    return [
        {
            "call_id": call_id,
            "position": i,
            "rule": f["rule"],
            "kind": f["kind"],
            "category": f["category"],
            "severity": f["severity"],
            "stage": f["stage"],
            "role": f["role"],
            "utterance": f["utterance"],
            "line": f["line"],
            "matched": f["matched"],
            "said": utterances[f["utterance"]]["text"] if f["utterance"] is not None else None,
            "message": f["message"],
            "suggestion": f["suggestion"],
            "points": f["points"],
            "nominal_points": f["nominal_points"],
            "max_deduct": call.rules.caps.get(f["rule"]),
            "source": f.get("source", "rule"),
            "confidence": f.get("confidence"),
            "active": True,
        }
        for i, f in enumerate(call.report["findings"])
    ]


def _conditions(where: HistoryFilter) -> list[Any]:
    conditions: list[Any] = []
    if where.agent:
        conditions.append(calls.c.agent == where.agent)
    if where.team:
        conditions.append(calls.c.team == where.team)
    if where.since:
        conditions.append(calls.c.day >= where.since)
    if where.until:
        conditions.append(calls.c.day < where.until + timedelta(days=1))
    if where.rubric:
        conditions.append(calls.c.rubric_name == where.rubric)
    if where.grade:
        conditions.append(sa.func.coalesce(calls.c.reviewed_grade, calls.c.grade) == where.grade)
    if where.rule:
        conditions.append(
            sa.exists().where(findings.c.call_id == calls.c.id, findings.c.rule == where.rule, findings.c.active)
        )
    return conditions


def _record(cls: type[_R], row: Any, **given: Any) -> _R:
    """A record from a row: each field from the column of its name unless `given`, a field with no
    such column left at its default; a time gets its zone back (SQLite keeps none)."""
    values = dict(given)
    for name in (f.name for f in fields(cls)):  # type: ignore[arg-type]
        if name not in values and name in row:
            value = row[name]
            values[name] = _aware(value) if isinstance(value, datetime) else value
    return cls(**values)


def _stored_call(row: Any) -> StoredCall:
    return _record(StoredCall, row, models=json.loads(row["models"]))


def _finding(
    row: Any, found_reviews: tuple[ReviewRecord, ...], found_appeals: tuple[AppealRecord, ...]
) -> StoredFinding:
    return _record(StoredFinding, row, reviews=found_reviews, appeals=found_appeals)


def _review(row: Any) -> ReviewRecord:
    return _record(ReviewRecord, row, appeal=row["appeal_id"])


def _appeal(row: Any, call_id: int, rule: str) -> AppealRecord:
    return _record(AppealRecord, row, call=call_id, finding=row["finding_id"], rule=rule)


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
