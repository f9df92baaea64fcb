"""Score many calls: find the files, score them in worker processes, and fold the results into a
summary whose memory does not grow with the batch (per-call reports are streamed, not kept).

Each call belongs to a group (an agent or trainee): the transcript's `# agent: 张三` header, else the
name of its folder (`--group-by auto`); `header` or `folder` use only that; `none` puts all in one group.
"""

from __future__ import annotations

import gc
import glob
import heapq
import json
import os
import signal
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callqa.errors import CallqaError
from callqa.model import STAGES, is_problem
from callqa.rules.compiled import CompiledRubric
from callqa.scoring.pipeline import compile_rubric, score_file
from callqa.transcripts.files import files_under
from callqa.transcripts.reader import TRANSCRIPT_SUFFIXES, ReadOptions
from callqa.transcripts.source import STDIN

ALL_GROUP = "全部"
KEEP_WEAKEST = 200  # calls kept whole for the HTML report and the terminal's ten weakest
NO_WEAKEST_STAGE = "—"  # a group with every stage's points


def find_transcripts(inputs: Iterable[str | Path], pattern: str | None = None) -> tuple[list[Path], list[str]]:
    """Files named, files matched by a glob, and transcripts under folders (recursively, hidden ones
    skipped, filtered by `pattern` such as '*.json'). Returns (paths, errors for inputs that match nothing)."""
    found: list[Path] = []
    errors: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            matches = files_under(
                path,
                lambda name: Path(name).match(pattern) if pattern else Path(name).suffix.lower() in TRANSCRIPT_SUFFIXES,
            )
            found.extend(matches)
            if not matches:
                errors.append(
                    f"{path}: no transcripts found in this folder" + (f" matching '{pattern}'" if pattern else "")
                )
        elif path.exists() or not glob.has_magic(str(item)):
            found.append(path)  # a missing file is reported when it is read, like any unreadable one
        else:
            globbed = sorted(glob.glob(str(item), recursive=True))
            if not globbed:
                errors.append(f"{item}: no file matches")
            found.extend(Path(m) for m in globbed if Path(m).is_file())
    unique = list({str(p.resolve()): p for p in reversed(found)}.values())[::-1]  # each file once, first place kept
    return unique, errors


def group_of(report: dict[str, Any], path: Path, group_by: str) -> str:
    if group_by == "none":
        return ALL_GROUP
    header: str | None = report["transcript"].get("agent_name")
    if group_by in ("auto", "header") and header:
        return header
    if group_by == "header":
        return "(无 agent 标记)"
    if str(path) == STDIN:
        return ALL_GROUP
    return path.absolute().parent.name or ALL_GROUP  # `callqa score .` in a folder: that folder's name


@dataclass(frozen=True, slots=True)
class CallSummary:
    """What the batch summary needs of one call: small enough to send between processes cheaply."""

    path: str
    group: str
    score: float
    max_score: float
    grade: str
    passed: bool
    fatal: bool
    stage_scores: dict[str, float]
    stage_max: dict[str, float]
    forbidden: int  # forbidden findings
    checks: int  # findings of the rubric's checks (keyword, response, timing, repetition)
    missed: int  # recommended scripts not said
    rules: dict[str, str]  # rule id -> category, for every rule that cost points
    main_problem: str  # the worst forbidden hit, e.g. 推诿「不归我们管」
    transfers: tuple[str, ...] = ()  # 第4行由「Agent」转给「专员」, for the trainee's feedback


@dataclass(frozen=True, slots=True)
class Outcome:
    """One scored (or unreadable) call, as a worker hands it back."""

    path: str
    call: CallSummary | None = None
    json: str | None = None  # the callqa.report/1 document, when an output needs it and it crosses processes
    lost: tuple[dict[str, Any], ...] = ()  # lost points with the words said, for feedback sheets
    error: str | None = None
    #: The same document as data, when the call was scored in this process (one job): the store needs
    #: it as data, and writing it to JSON text and parsing it back cost ~0.35 ms a call.
    report: dict[str, Any] | None = None

    def text(self) -> str | None:
        """The report as JSON text (for jsonl and --out), if the outputs asked for it."""
        if self.json is None and self.report is not None:
            return json.dumps(self.report, ensure_ascii=False)
        return self.json

    def document(self) -> dict[str, Any] | None:
        """The report as data (for the store and the HTML's weakest calls), if the outputs asked for it."""
        if self.report is None and self.json is not None:
            loaded: dict[str, Any] = json.loads(self.json)
            return loaded
        return self.report


def lost_points(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The findings a trainee needs to see: every point deducted and every script not said."""
    return [f for f in report["findings"] if is_problem(f["kind"], f["points"], f["nominal_points"], f["matched"])]


def summarize(report: dict[str, Any], path: Path, group_by: str) -> tuple[CallSummary, tuple[dict[str, Any], ...]]:
    """The call's summary and its lost points, each with the utterance text it refers to."""
    utterances = report["utterances"]
    lost = tuple(
        {**f, "said": utterances[f["utterance"]]["text"] if f["utterance"] is not None else None}
        for f in lost_points(report)
    )
    forbidden = [f for f in lost if f["kind"] == "forbidden"]
    worst = min(forbidden, key=lambda f: (f["severity"] != "fatal", f["nominal_points"]), default=None)
    call = CallSummary(
        path=report["transcript"]["path"],
        group=group_of(report, path, group_by),
        score=report["score"],
        max_score=report["max_score"],
        grade=report["grade"],
        passed=report["passed"],
        fatal=report["fatal"],
        stage_scores={s["name"]: s["score"] for s in report["stages"]},
        stage_max={s["name"]: s["max_score"] for s in report["stages"]},
        forbidden=len(forbidden),
        checks=sum(1 for f in lost if f["kind"] not in ("forbidden", "recommended")),
        missed=sum(1 for f in lost if f["kind"] == "recommended"),
        rules={f["rule"]: f["category"] for f in lost},
        main_problem=f"{worst['category']}「{worst['matched']}」" if worst else "",
        transfers=tuple(
            f"第{t['line']}行由「{t['from_speaker']}」转给「{t['to_speaker']}」"
            for t in report["transcript"]["roles"].get("transfers", [])
        ),
    )
    return call, lost


# --- workers -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Job:
    compiled: CompiledRubric
    options: ReadOptions
    group_by: str
    details: bool
    source: str = ""  # the rubric as `score_paths` was given it
    in_process: bool = False  # outcomes stay in this process: hand the report over as data


_job: _Job | None = None  # this process's share of the batch


def _init_worker(rubric_path: str, options: ReadOptions, group_by: str, details: bool) -> None:
    global _job
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if _job is None:  # spawned, not forked: compile here
        _job = _Job(compile_rubric(rubric_path), options, group_by, details)


def _score_chunk(paths: list[str]) -> list[Outcome]:
    return [_score(path) for path in paths]


def score_paths(
    paths: list[str], rubric: str, options: ReadOptions, group_by: str = "auto", details: bool = False
) -> list[Outcome]:
    """Score a chunk of files in whatever process runs this (a Dask worker, say), compiling the rubric
    once per process: the same outcomes, byte for byte, as `score_many` gives."""
    global _job
    if _job is None or (_job.source, _job.options, _job.group_by, _job.details) != (rubric, options, group_by, details):
        _job = _Job(compile_rubric(None if rubric == "default" else rubric), options, group_by, details, rubric)
    return _score_chunk(paths)


def _score(path: str) -> Outcome:
    job = _job
    assert job is not None, "a worker scores only after its job is set"
    try:
        report = score_file(path, job.compiled, job.options).model_dump(mode="json")
    except CallqaError as exc:
        return Outcome(path, error=str(exc))
    except Exception as exc:  # a bug must not lose the rest of the batch
        return Outcome(path, error=f"{path}: internal error: {type(exc).__name__}: {exc} (please report this)")
    call, lost = summarize(report, Path(path), job.group_by)
    if not job.details:
        return Outcome(path, call=call)  # the summary is all the parent needs: keep the hand-over small
    if job.in_process:
        return Outcome(path, call=call, report=report, lost=lost)
    return Outcome(path, call=call, json=json.dumps(report, ensure_ascii=False), lost=lost)


@contextmanager
def interrupt_flag() -> Iterator[threading.Event]:
    """While active, Ctrl-C sets the returned event instead of raising KeyboardInterrupt, so a batch
    stops between calls and never half-way through writing one call's results."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def score_many(
    paths: list[Path],
    compiled: CompiledRubric,
    options: ReadOptions,
    jobs: int,
    *,
    group_by: str = "auto",
    details: bool = False,
    stop: threading.Event | None = None,
) -> Iterator[Outcome]:
    """Outcomes in the order calls finish. One job scores in this process; more use a process pool.
    Forked workers inherit the compiled rubric (and jieba's dictionary, loaded first) instead of
    building their own, and send back only what the outputs need (`details`: the whole report as JSON
    and the lost points, for jsonl and --out).
    When `stop` is set the iteration ends and the workers are stopped at once."""
    global _job
    stop = stop or threading.Event()
    names = [str(p) for p in paths]
    in_process = jobs <= 1 or len(names) < 2
    _job = _Job(compiled, options, group_by, details, in_process=in_process)
    if in_process:
        for name in names:
            if stop.is_set():
                return
            yield _score(name)
        return
    # multiprocessing loads only for a pool: scoring one call is a cold start every time
    from multiprocessing import TimeoutError as MultiprocessingTimeout
    from multiprocessing import get_context

    compiled.warm_up()
    gc.freeze()  # keep the collector from writing to (and so un-sharing) the pages workers inherit
    context = get_context("fork" if hasattr(os, "fork") else "spawn")
    pool = context.Pool(jobs, _init_worker, (compiled.path, options, group_by, details))
    try:
        size = max(
            1, min(32, len(names) // (jobs * 8))
        )  # big enough to amortise the hand-over, small enough to balance
        results = pool.imap_unordered(_score_chunk, [names[i : i + size] for i in range(0, len(names), size)])
        while not stop.is_set():
            try:
                chunk = results.next(timeout=0.1)  # wake up now and then to notice `stop`
            except MultiprocessingTimeout:
                continue
            except StopIteration:
                break
            yield from chunk
        pool.close()
    finally:
        pool.terminate()
        pool.join()


# --- summary -------------------------------------------------------------------------------------


@dataclass(slots=True)
class GroupStats:
    name: str
    scores: list[float] = field(default_factory=list)  # a float per call: 20,000 calls are 160 KB
    passed: int = 0
    stage_totals: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    stage_max: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    rules: Counter[str] = field(default_factory=Counter)

    @property
    def calls(self) -> int:
        return len(self.scores)

    @property
    def mean(self) -> float:
        import statistics  # with fractions and decimal: not for a one-call start

        return statistics.fmean(self.scores) if self.scores else 0.0

    @property
    def median(self) -> float:
        import statistics

        return statistics.median(self.scores) if self.scores else 0.0

    @property
    def pass_rate(self) -> float:
        return self.passed / self.calls if self.calls else 0.0

    def stage_mean(self, stage: str) -> float:
        return self.stage_totals[stage] / self.calls if self.calls else 0.0

    @property
    def weakest_stage(self) -> str:
        """The stage with the lowest share of its points; "—" when every stage has all of its points."""
        shares = {s: self.stage_totals[s] / self.stage_max[s] if self.stage_max[s] else 1.0 for s in STAGES}
        weakest = min(STAGES, key=shares.__getitem__)
        return weakest if shares[weakest] < 1.0 else NO_WEAKEST_STAGE


class BatchSummary:
    """Everything the summary outputs need, folded call by call."""

    HISTOGRAM_BINS = 10

    def __init__(self) -> None:
        self.groups: dict[str, GroupStats] = {}
        self.rules: Counter[str] = Counter()  # rule id -> calls it cost points in
        self.rule_names: dict[str, str] = {}  # rule id -> category
        self.histogram = [0] * self.HISTOGRAM_BINS
        self.errors: list[tuple[str, str]] = []
        self.max_score = 100.0
        self._weakest: list[tuple[float, int, CallSummary, Outcome]] = []  # a bounded heap
        self._seen = 0

    @property
    def calls(self) -> int:
        return sum(g.calls for g in self.groups.values())

    @property
    def passed(self) -> int:
        return sum(g.passed for g in self.groups.values())

    def add(self, outcome: Outcome) -> None:
        call = outcome.call
        if call is None:
            self.errors.append((outcome.path, outcome.error or "unknown error"))
            return
        stats = self.groups.setdefault(call.group, GroupStats(call.group))
        stats.scores.append(call.score)
        stats.passed += call.passed
        for stage in STAGES:
            stats.stage_totals[stage] += call.stage_scores.get(stage, 0.0)
            stats.stage_max[stage] += call.stage_max.get(stage, 0.0)
        stats.rules.update(call.rules.keys())
        self.rules.update(call.rules.keys())
        self.rule_names.update(call.rules)
        self.max_score = call.max_score or self.max_score
        share = call.score / call.max_score if call.max_score else 0.0
        self.histogram[min(int(share * self.HISTOGRAM_BINS), self.HISTOGRAM_BINS - 1)] += 1
        self._seen += 1
        entry = (-call.score, -self._seen, call, outcome)  # on a tie the earlier call stays
        if len(self._weakest) < KEEP_WEAKEST:
            heapq.heappush(self._weakest, entry)
        elif entry > self._weakest[0]:
            heapq.heapreplace(self._weakest, entry)

    def ranked_groups(self) -> list[GroupStats]:
        return sorted(self.groups.values(), key=lambda g: (-g.mean, g.name))

    def weakest(self, n: int = KEEP_WEAKEST) -> list[tuple[CallSummary, dict[str, Any] | None]]:
        """The n lowest-scoring calls, lowest first, with their whole report where it was kept."""
        ordered = sorted(self._weakest, key=lambda e: (-e[0], -e[1]))[:n]
        return [(call, outcome.document()) for _, _, call, outcome in ordered]

    def frequent_rules(self, n: int = 10) -> list[tuple[str, int]]:
        return sorted(self.rules.items(), key=lambda item: (-item[1], item[0]))[:n]
