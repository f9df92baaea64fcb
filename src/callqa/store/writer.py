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
from callqa.store.records import CallMeta, Provenance, ScoredCall, merge_meta, meta_from_path
from callqa.version import __version__

if TYPE_CHECKING:  # SQLAlchemy is imported only where a store is opened
    from callqa.store.database import Store


class CallRecorder:
    """Turns one batch's reports into `ScoredCall`s: the rubric's provenance is worked out once, and
    each call's agent, team and date come from the options, else the transcript's headers, else the
    path pattern."""

    def __init__(self, compiled: CompiledRubric, given: CallMeta = CallMeta(), pattern: re.Pattern[str] | None = None):
        found = provenance(compiled)
        rubric = compiled.rubric
        self.provenance = Provenance(
            rubric.name, rubric.version, found["rubric_sha256"], found["models"], callqa_version=__version__
        )
        self.pass_mark = rubric.pass_mark
        self.grades = tuple((g.name, g.min) for g in rubric.grades)
        self.given = given
        self.pattern = pattern

    def scored(self, report: dict[str, Any], path: str | Path, content: bytes | None = None) -> ScoredCall:
        """The call to store; `content` is the transcript's bytes (read from `path` when not given)."""
        transcript = report["transcript"]
        day = transcript.get("call_date")
        headers = CallMeta(
            agent=transcript.get("agent_name"),
            team=transcript.get("team"),
            call_date=date.fromisoformat(day) if isinstance(day, str) else day,
        )
        from_path = meta_from_path(str(path), self.pattern) if self.pattern is not None else CallMeta()
        data = content if content is not None else Path(path).read_bytes()
        return ScoredCall(
            report=report,
            path=str(Path(path).resolve()),
            content_sha256=hashlib.sha256(data).hexdigest(),
            meta=merge_meta(self.given, headers, from_path),
            provenance=self.provenance,
            pass_mark=self.pass_mark,
            grades=self.grades,
        )


class BatchWriter:
    """Stores calls in batches (one transaction of up to `size` calls, or what came in `seconds`), so
    a large batch costs few commits and an interrupted one leaves only whole calls stored. After the
    first database error it stores nothing more and keeps the error: scoring goes on."""

    def __init__(self, store: Store, size: int = 500, seconds: float = 2.0) -> None:
        self.store = store
        self.size = size
        self.seconds = seconds
        self.pending: list[ScoredCall] = []
        self.stored = 0
        self.error: StoreError | None = None
        self._since = time.monotonic()

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
            self.store.save(calls)
            self.stored += len(calls)
        except StoreError as error:
            self.error = error
