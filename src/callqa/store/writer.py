"""From scored reports to stored calls: who made each call, what scored it, and batched writing."""

from __future__ import annotations

import hashlib
import re
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callqa.errors import StoreError
from callqa.rules.compiled import CompiledRubric
from callqa.scoring.pipeline import provenance
from callqa.store.paths import merge_meta, meta_from_path
from callqa.store.records import CallMeta, Provenance, ScoredCall, ScoringRules
from callqa.version import __version__

if TYPE_CHECKING:  # SQLAlchemy is imported only where a store is opened
    from callqa.store.database import Store


class CallRecorder:
    """Turns one run's reports into `ScoredCall`s: the rubric's provenance and scoring rules are worked
    out once, and each call's agent, team and date come from the options, else the transcript's
    header lines, else the path pattern."""

    def __init__(
        self, compiled: CompiledRubric, given: CallMeta = CallMeta(), pattern: re.Pattern[str] | None = None
    ) -> None:
        found = provenance(compiled)
        rubric = compiled.rubric
        self.provenance = Provenance(
            rubric.name, rubric.version, found["rubric_sha256"], found["models"], callqa_version=__version__
        )
        self.rules = ScoringRules(
            pass_mark=rubric.pass_mark,
            grades=compiled.grades,
            bases=dict(compiled.stage_bases),
            caps=dict(compiled.rule_caps),
        )
        self.given = given
        self.pattern = pattern
        self.seen = self.matched = 0  # calls, and those whose path the pattern matched

    def scored(self, report: dict[str, Any], path: str | Path) -> ScoredCall:
        transcript = report["transcript"]
        day = transcript.get("call_date")
        headers = CallMeta(
            agent=transcript.get("agent_name"),
            team=transcript.get("team"),
            call_date=date.fromisoformat(day) if isinstance(day, str) else day,
        )
        if not transcript.get("sha256"):  # a Transcript built in code, not read: known by its words
            words = "\n".join(f"{u['speaker']}:{u['text']}" for u in report["utterances"])
            report = {**report, "transcript": {**transcript, "sha256": hashlib.sha256(words.encode()).hexdigest()}}
        absolute = str(Path(path).resolve())
        from_path = meta_from_path(absolute, self.pattern) if self.pattern is not None else None
        self.seen += 1
        self.matched += from_path is not None
        return ScoredCall(
            report=report,
            path=absolute,
            meta=merge_meta(self.given, headers, from_path or CallMeta()),
            provenance=self.provenance,
            rules=self.rules,
        )


class BatchWriter:
    """Stores calls in batches (one transaction of up to `size` calls, or what came in `seconds`), so
    a large batch costs few commits and an interrupted one leaves only whole calls stored. A batch
    that fails is stored call by call, so one call the database refuses costs only itself (`failed`:
    path and reason). When the database itself fails, it stores nothing more and keeps the error:
    scoring goes on. `scorings` counts the calls stored, `stored` the rows they are: copies of one
    transcript are one call, in a batch or across batches."""

    def __init__(self, store: Store, size: int = 500, seconds: float = 2.0) -> None:
        self.store = store
        self.size = size
        self.seconds = seconds
        self.pending: list[ScoredCall] = []
        self.scorings = 0
        self._ids: set[int] = set()  # the stored calls' ids (a set: copies of a transcript share one)
        self.failed: list[tuple[str, str]] = []
        self.error: StoreError | None = None
        self._since = time.monotonic()
        self._in_a_row = 0  # calls refused one after another

    @property
    def stored(self) -> int:
        """Distinct calls stored: what the database now holds of this run, not how many were scored."""
        return len(self._ids)

    def add(self, call: ScoredCall) -> None:
        if self.error is not None:
            return
        self.pending.append(call)
        if len(self.pending) >= self.size or time.monotonic() - self._since >= self.seconds:
            self.flush()

    def flush(self) -> None:
        calls, self.pending, self._since = self.pending, [], time.monotonic()
        if not calls or self.error is not None:
            return
        try:
            self._ids.update(self.store.save(calls))
            self.scorings += len(calls)
            self._in_a_row = 0
            return
        except StoreError as error:
            if len(calls) == 1:
                self._failed(calls[0], error)
                return
        for call in calls:  # which call was it? each alone
            try:
                self._ids.update(self.store.save([call]))
                self.scorings += 1
                self._in_a_row = 0
            except StoreError as error:
                self._failed(call, error)
                if self.error is not None:
                    return

    def _failed(self, call: ScoredCall, error: StoreError) -> None:
        """One call refused. Three in a row: the database refuses everything (read-only, full, gone),
        not one call: stop storing."""
        self.failed.append((call.path, error.message))
        self._in_a_row += 1
        if self._in_a_row >= 3:
            self.error = error
