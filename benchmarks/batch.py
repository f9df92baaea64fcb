"""Batch throughput and memory: generate N calls from the shipped samples, score them with --jobs 1
and --jobs 2, print calls/s and peak RSS.

    python benchmarks/batch.py            # 10,000 calls of ~40 utterances
    python benchmarks/batch.py -n 2000 --jobs 1 2
    python benchmarks/batch.py -n 2000 --jobs 1 --db   # also with every call stored in a SQLite file

Each call is stitched from the samples (the opening and closing of one, the middle turns of others)
to about 40 utterances, with job numbers, phone and order numbers varied, so that no call is the
same. Lines without a number do repeat (about 88 % of the lines of 300 calls had been seen before),
as scripted agent lines do in real traffic, so caches keyed on a line's text (the detector's
evidence patterns) hit more often than on customers' words; real chats are also shorter (10-20
lines), so they score faster per call. Peak memory is sampled from /proc for the whole process tree
(main + workers): PSS, which counts a page shared by forked workers once, and RSS, which counts it in
every process; the largest single process's peak RSS comes from getrusage.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def utterance_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")]


def generate(folder: Path, count: int, length: int, seed: int = 7) -> float:
    """Write `count` calls; return their mean number of utterances."""
    rng = random.Random(seed)
    samples = [utterance_lines(p) for p in sorted((ROOT / "transcripts").glob("*.txt"))]
    total = 0
    for i in range(count):
        base = samples[i % len(samples)]
        middle = []
        while len(middle) + len(base) < length:
            other = rng.choice(samples)
            middle.extend(other[2:-3] or other)
        lines = base[:-3] + middle[: max(0, length - len(base))] + base[-3:]
        text = "\n".join(lines)
        text = re.sub(r"工号\d{4}", lambda _: f"工号{rng.randint(1000, 9999)}", text)
        text = re.sub(r"\d{6,}", lambda m: str(rng.randint(10 ** (len(m.group()) - 1), 10 ** len(m.group()) - 1)), text)
        group = folder / f"trainee_{i % 25:02d}"
        group.mkdir(exist_ok=True)
        (group / f"call_{i:05d}.txt").write_text(text + "\n", encoding="utf-8")
        total += len(lines)
    return total / count


def _memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes. PSS splits pages shared between processes (forked workers share the
    parent's rubric and dictionary) among them, so PSS adds up to the memory really used."""
    rss = pss = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("Rss", "Pss"):
            kb = int(value.split()[0]) * 1024
            rss, pss = (kb, pss) if name == "Rss" else (rss, kb)
    return rss, pss


def tree_memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process and all its descendants, summed."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                children.setdefault(int(stat[stat.rindex(")") + 2 :].split()[1]), []).append(int(entry.name))
            except (OSError, ValueError):
                continue
    rss = pss = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            r, p = _memory(current)
        except (OSError, ValueError):
            r = p = 0
        rss, pss = rss + r, pss + p
        stack.extend(children.get(current, []))
    return rss, pss


def measure(folder: Path, jobs: int, db: str | None = None) -> tuple[float, int, int, int]:
    """(seconds, peak tree RSS, peak tree PSS, calls scored)."""
    command = [sys.executable, "-m", "callqa", "score", str(folder), "--jobs", str(jobs), "--format", "csv"]
    if db is not None:
        command += ["--db", db]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak_rss = peak_pss = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_rss, peak_pss
        while not stop.is_set():
            rss, pss = tree_memory(process.pid)
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rows = sum(1 for _ in process.stdout) - 1
    process.wait()
    elapsed = time.perf_counter() - started
    stop.set()
    sampler.join()
    return elapsed, peak_rss, peak_pss, rows


def storing_alone(folder: Path, database: Path, repeat: int) -> None:
    """Storing without scoring: the reports of the first 2,000 calls saved as `callqa score --db` saves
    them (batches of 500, one transaction each), into a fresh SQLite file each run, then saved again
    into the same file, as when a folder is scored again after a rubric change."""
    import json

    import callqa

    compiled = callqa.load_rubric()
    recorder = callqa.CallRecorder(compiled)
    paths = sorted(folder.rglob("*.txt"))[:2000]
    reports = [(json.loads(callqa.score_file(p, compiled).to_json(indent=None)), p) for p in paths]
    best = {"new": float("inf"), "again": float("inf")}
    for run in range(repeat):
        target = database.with_name(f"{database.stem}-{run}.db")
        store = callqa.open_store(f"sqlite:///{target}", create=True)
        for kind in best:  # the same calls stored, then stored again (a folder rescored: every row updated)
            started = time.perf_counter()
            writer = callqa.BatchWriter(store)
            for report, path in reports:
                writer.add(recorder.scored(report, path))
            writer.flush()
            best[kind] = min(best[kind], time.perf_counter() - started)
            assert writer.error is None and writer.scorings == len(reports), writer.error
        store.close()
    findings = sum(len(r["findings"]) for r, _ in reports) / len(reports)
    print(
        f"storing alone (SQLite, {findings:.1f} findings a call): {len(reports) / best['new']:.0f} calls/s on one "
        f"core; the same calls stored again (each row updated): {len(reports) / best['again']:.0f} calls/s "
        f"(best of {repeat})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--calls", type=int, default=10_000)
    parser.add_argument("--utterances", type=int, default=40)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per --jobs value; the fastest counts (other load on the machine only ever slows a run)",
    )
    parser.add_argument(
        "--db",
        action="store_true",
        help="also score with --db (a fresh SQLite file each run), and time storing alone: the calls' reports "
        "saved in batches of 500, as `callqa score --db` does",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "calls"
        folder.mkdir()
        started = time.perf_counter()
        mean_length = generate(folder, args.calls, args.utterances)
        print(
            f"generated {args.calls} calls, {mean_length:.1f} utterances on average, "
            f"in {time.perf_counter() - started:.1f} s; {os.cpu_count()} cores"
        )
        rates = {}
        for jobs in args.jobs:
            runs = [measure(folder, jobs) for _ in range(args.repeat)]
            elapsed, rss, pss, rows = min(runs)
            rss, pss = max(r[1] for r in runs), max(r[2] for r in runs)
            rates[jobs] = rows / elapsed
            print(
                f"--jobs {jobs}: {rows} calls in {elapsed:.1f} s (best of {args.repeat}: "
                f"{', '.join(f'{r[0]:.1f}' for r in runs)}) = {rates[jobs]:.0f} calls/s "
                f"({rates[jobs] / jobs:.0f} per job); peak memory of all processes: "
                f"PSS {pss / 2**20:.0f} MB, RSS {rss / 2**20:.0f} MB (counting shared pages in each)"
            )
            if args.db:
                timings = []
                for run in range(args.repeat):
                    database = Path(tmp) / f"store-{jobs}-{run}.db"
                    timings.append(measure(folder, jobs, f"sqlite:///{database}")[0])
                stored = rows / min(timings)
                print(
                    f"--jobs {jobs} --db (SQLite): {stored:.0f} calls/s (best of {args.repeat}: "
                    f"{', '.join(f'{t:.1f}' for t in timings)} s); storing costs "
                    f"{(min(timings) - elapsed) / rows * 1000:.2f} ms a call"
                )
        if 1 in rates and 2 in rates:
            print(f"speed-up with 2 jobs: {rates[2] / rates[1]:.2f}x")
        if args.db:
            storing_alone(folder, Path(tmp) / "alone.db", args.repeat)
        largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"largest single process: {largest:.0f} MB")


if __name__ == "__main__":
    main()
