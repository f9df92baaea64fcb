"""Score a batch on a Dask cluster (the optional `callqa[dask]` extra).

One machine scores hundreds of calls a second per core, so most teams never need this. It is for
transcripts that already live beside a cluster (its workers read the paths: shared or object
storage mounted on every worker) or for tens of millions of calls. Each task scores a chunk of
files with the same code as the local batch (`runner.score_paths`), so the outcomes are the same.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from callqa.batch.runner import Outcome, score_paths
from callqa.errors import CallqaError
from callqa.rules.compiled import CompiledRubric
from callqa.rules.schema import default_rubric_path
from callqa.transcripts.reader import ReadOptions

CHUNK = 64  # files per task: enough to amortise a task's overhead (~1 ms), small enough to balance


def _client(scheduler: str | Any) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise CallqaError(None, "--scheduler needs Dask: pip install 'callqa[dask]'") from None
    if not isinstance(scheduler, str):
        return scheduler  # a Client (or LocalCluster) the caller made
    try:
        return Client(scheduler, timeout="5s")  # type: ignore[no-untyped-call]  # distributed leaves it unannotated
    except (OSError, TimeoutError) as exc:
        raise CallqaError(scheduler, f"cannot reach the Dask scheduler: {exc}") from None


def score_on_dask(
    paths: list[Path],
    compiled: CompiledRubric,
    options: ReadOptions,
    scheduler: str | Any,
    *,
    group_by: str = "auto",
    details: bool = False,
    stop: threading.Event | None = None,
) -> Iterator[Outcome]:
    """Outcomes as the cluster finishes them, like `runner.score_many`. `scheduler` is an address
    (tcp://host:8786) or a `distributed.Client`. Workers compile the rubric from its path ('default'
    for the built-in one, so a worker uses its own installed copy). Connects at once: an unreachable
    scheduler raises CallqaError here, before any call is sent."""
    client = _client(scheduler)
    return _outcomes(client, paths, compiled, options, group_by, details, stop, close=isinstance(scheduler, str))


def _outcomes(
    client: Any,
    paths: list[Path],
    compiled: CompiledRubric,
    options: ReadOptions,
    group_by: str,
    details: bool,
    stop: threading.Event | None,
    *,
    close: bool,
) -> Iterator[Outcome]:
    from distributed import as_completed

    rubric = "default" if Path(compiled.path) == default_rubric_path() else compiled.path
    names = [str(p) for p in paths]
    chunks = [names[i : i + CHUNK] for i in range(0, len(names), CHUNK)]
    futures = client.map(
        score_paths, chunks, rubric=rubric, options=options, group_by=group_by, details=details, pure=False
    )
    try:
        for future in as_completed(futures):  # type: ignore[no-untyped-call]  # distributed leaves it unannotated
            if stop is not None and stop.is_set():
                return
            yield from future.result()
    finally:
        client.cancel(futures)
        if close:
            client.close()
