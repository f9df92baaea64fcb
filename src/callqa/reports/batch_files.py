"""Files a batch writes: per-call CSV and JSON Lines (streamed), and with --out a folder of
summary.md, summary.csv, summary.json, calls.csv, calls.jsonl, feedback/<group>.md and report.html.

Every file is written to a temporary name and renamed into place when complete, so an interrupted run
never leaves a truncated file. Feedback is streamed into part files as calls finish and assembled at
the end, so memory stays flat however many calls there are.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from pathlib import Path
from typing import IO, Any

from callqa.batch.runner import BatchSummary, CallSummary, Outcome
from callqa.model import STAGES
from callqa.reports.marks import marked
from callqa.reports.verdicts import model_verdict

CALL_COLUMNS = [
    "path",
    "group",
    "score",
    "max_score",
    "grade",
    "passed",
    "fatal",
    *STAGES,
    "forbidden_findings",
    "check_findings",
    "missed_scripts",
    "error",
]
GROUP_COLUMNS = [
    "rank",
    "group",
    "calls",
    "mean",
    "median",
    "pass_rate",
    *(f"{s}_mean" for s in STAGES),
    "weakest_stage",
    "top_rules",
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """Neutralise text a spreadsheet would run as a formula (CSV injection): prefix it with '."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def call_row(outcome: Outcome) -> list[object]:
    call = outcome.call
    if call is None:
        return [outcome.path, "", "", "", "", "", "", *[""] * len(STAGES), "", "", "", outcome.error]
    return [
        call.path,
        call.group,
        call.score,
        call.max_score,
        call.grade,
        call.passed,
        call.fatal,
        *(call.stage_scores.get(s, "") for s in STAGES),
        call.forbidden,
        call.checks,
        call.missed,
        "",
    ]


class CsvStream:
    """One CSV row per call, flushed as calls finish."""

    def __init__(self, handle: IO[str], columns: list[str]):
        self.handle = handle
        self.writer = csv.writer(handle, lineterminator="\n")
        self.writer.writerow(columns)

    def write(self, row: list[object]) -> None:
        self.writer.writerow([safe_cell(v) for v in row])
        self.handle.flush()


def error_record(outcome: Outcome) -> dict[str, Any]:
    return {"schema": "callqa.error/1", "path": outcome.path, "error": outcome.error}


def json_line(outcome: Outcome) -> str:
    """The report as JSON text, or an error record for a file that could not be read."""
    text = outcome.text()
    return text if text is not None else json.dumps(error_record(outcome), ensure_ascii=False)


def _atomic_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _md_cell(text: object) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def _file_name(group: str, taken: set[str]) -> str:
    base = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", group).strip(". ") or "group"
    name, n = base, 2
    while name.lower() in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name.lower())
    return name


def points_text(finding: dict[str, Any]) -> str:
    """A lost point's points as a trainee reads them: -20, or 未得 3 for a script not said."""
    if finding["kind"] == "recommended" and finding["points"] >= 0:
        return f"未得 {finding['nominal_points']:g}"
    return f"{finding['points']:g}"


def model_text(finding: dict[str, Any]) -> str:
    """模型判断,把握 97% for a trained model's finding (as the terminal says it), else nothing."""
    if finding.get("source") != "model":
        return ""
    return model_verdict(finding.get("confidence"), finding["category"], finding.get("category_confidence"))


def group_rows(summary: BatchSummary) -> list[list[object]]:
    rows = []
    for rank, group in enumerate(summary.ranked_groups(), start=1):
        top = "; ".join(f"{rule} ×{count}" for rule, count in group.rules.most_common(3))
        rows.append(
            [
                rank,
                group.name,
                group.calls,
                round(group.mean, 1),
                round(group.median, 1),
                round(group.pass_rate, 3),
                *(round(group.stage_mean(s), 1) for s in STAGES),
                group.weakest_stage,
                top,
            ]
        )
    return rows


class OutputFolder:
    """The --out folder, filled as the batch runs and completed by `finish`."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.work = folder / f".callqa-tmp-{os.getpid()}"
        shutil.rmtree(self.work, ignore_errors=True)
        (self.work / "feedback").mkdir(parents=True)
        self._jsonl = (self.work / "calls.jsonl").open("w", encoding="utf-8")
        self._csv_handle = (self.work / "calls.csv").open("w", encoding="utf-8-sig", newline="")
        self._csv = CsvStream(self._csv_handle, CALL_COLUMNS)
        self._parts: dict[str, Path] = {}

    def add(self, outcome: Outcome) -> None:
        self._jsonl.write(json_line(outcome) + "\n")
        self._csv.write(call_row(outcome))
        if outcome.call is not None:
            self._feedback_part(outcome.call, outcome.lost)

    def _feedback_part(self, call: CallSummary, lost: tuple[dict[str, Any], ...]) -> None:
        part = self._parts.setdefault(call.group, self.work / "feedback" / f"{len(self._parts)}.part")
        verdict = "通过" if call.passed else "未通过"
        lines = [f"\n### {call.path}\n\n得分 {call.score:g}/{call.max_score:g},等级 {call.grade},{verdict}\n"]
        if call.transfers:
            lines.append(f"\n转接: {'; '.join(call.transfers)}\n")
        if lost:
            lines.append("\n| 行 | 阶段 | 问题 | 原话 | 建议说法 | 分数 |\n|---|---|---|---|---|---|\n")
            for f in lost:
                said = f["said"] if f["said"] is not None else "(未说)"
                if f["kind"] != "recommended":
                    said = marked(said, f["spans"], lambda words: f"**{words}**") if f["said"] is not None else said
                else:
                    said = f"(最接近的一句){said}" if f["said"] is not None else said
                problem = f"{f['message']}({model_text(f)})" if model_text(f) else f["message"]
                line = f["line"] if f["line"] is not None else "—"
                lines.append(
                    f"| {line} | {f['stage']} | {_md_cell(problem)} | {_md_cell(said)} "
                    f"| {_md_cell(f['suggestion'])} | {points_text(f)} |\n"
                )
        else:
            lines.append("\n没有失分。\n")
        with part.open("a", encoding="utf-8") as handle:
            handle.writelines(lines)

    def finish(self, summary: BatchSummary, html: str) -> list[Path]:
        """Write the summaries, assemble the feedback, move everything into place."""
        self._jsonl.close()
        self._csv_handle.close()
        written = []
        for name in ("calls.jsonl", "calls.csv"):
            os.replace(self.work / name, self.folder / name)
            written.append(self.folder / name)
        for name, text in (
            ("summary.md", summary_markdown(summary)),
            ("summary.csv", summary_csv(summary)),
            ("summary.json", summary_json(summary)),
            ("report.html", html),
        ):
            _atomic_text(self.folder / name, text)
            written.append(self.folder / name)
        feedback = self.folder / "feedback"
        feedback.mkdir(exist_ok=True)
        taken: set[str] = set()
        for group in sorted(self._parts):
            target = feedback / f"{_file_name(group, taken)}.md"
            temporary = self.work / "feedback" / "assembled.tmp"
            with temporary.open("w", encoding="utf-8") as out:
                out.write(feedback_header(summary, group))
                with self._parts[group].open(encoding="utf-8") as part:
                    shutil.copyfileobj(part, out)
            os.replace(temporary, target)
            written.append(target)
        # A sheet of an earlier run into this folder whose group this run does not have would be
        # handed out as if it were current.
        for stale in set(feedback.glob("*.md")) - set(written):
            stale.unlink(missing_ok=True)
        shutil.rmtree(self.work, ignore_errors=True)
        return written

    def abandon(self) -> None:
        for handle in (self._jsonl, self._csv_handle):
            handle.close()
        shutil.rmtree(self.work, ignore_errors=True)


def feedback_header(summary: BatchSummary, group: str) -> str:
    stats = summary.groups[group]
    top = "\n".join(
        f"- {rule}({summary.rule_names.get(rule, '')}):{count} 通" for rule, count in stats.rules.most_common(5)
    )
    stages = " | ".join(f"{s} {stats.stage_mean(s):.1f}" for s in STAGES)
    return (
        f"# {group} 的质检反馈\n\n通话 {stats.calls} 通,平均分 {stats.mean:.1f},中位数 {stats.median:.1f},"
        f"合格率 {stats.pass_rate:.0%},最弱阶段:{stats.weakest_stage}。\n\n各阶段平均分:{stages}\n\n"
        f"## 最常见的问题\n\n{top or '没有。'}\n\n## 逐通明细\n\n"
        "每一处失分:行号、原话(问题词加粗)、建议说法和分数;由模型判断的注明「模型判断」和把握。\n"
    )


def summary_markdown(summary: BatchSummary) -> str:
    calls = summary.calls
    rate = f"{summary.passed / calls:.0%}" if calls else "—"
    lines = [
        f"# 批量质检汇总\n\n共 {calls} 通,合格 {summary.passed} 通({rate}),无法读取 {len(summary.errors)} 个文件。\n",
        "\n## 分组排名\n\n| 排名 | 分组 | 通话 | 平均分 | 中位数 | 合格率 | "
        + " | ".join(STAGES)
        + " | 最弱阶段 | 常见问题 |\n",
        "|" + "---|" * (8 + len(STAGES)) + "\n",
    ]
    for row in group_rows(summary):
        rank, name, n, mean, median, pass_rate, *stage_means, weakest, top = row
        lines.append(
            f"| {rank} | {_md_cell(name)} | {n} | {mean} | {median} | {pass_rate:.0%} | "
            + " | ".join(str(m) for m in stage_means)
            + f" | {weakest} | {_md_cell(top)} |\n"
        )
    lines.append("\n## 最低分的 10 通\n\n| 文件 | 分组 | 得分 | 等级 |\n|---|---|---|---|\n")
    for call, _ in summary.weakest(10):
        lines.append(f"| {_md_cell(call.path)} | {_md_cell(call.group)} | {call.score:g} | {call.grade} |\n")
    lines.append("\n## 最常见的 10 个问题\n\n| 规则 | 类别 | 通话数 |\n|---|---|---|\n")
    for rule, count in summary.frequent_rules(10):
        lines.append(f"| {rule} | {summary.rule_names.get(rule, '')} | {count} |\n")
    lines.append("\n## 分数分布\n\n```\n" + histogram_text(summary) + "```\n")
    if summary.errors:
        lines.append("\n## 无法读取的文件\n\n" + "".join(f"- {_md_cell(error)}\n" for _, error in summary.errors))
    return "".join(lines)


def histogram_text(summary: BatchSummary, width: int = 40) -> str:
    peak = max(summary.histogram) or 1
    step = summary.max_score / summary.HISTOGRAM_BINS
    return "".join(
        f"{i * step:>5.0f}-{(i + 1) * step:<4.0f} {'█' * round(count / peak * width):<{width}} {count}\n"
        for i, count in enumerate(summary.histogram)
    )


def summary_csv(summary: BatchSummary) -> str:
    buffer = io.StringIO()
    stream = CsvStream(buffer, GROUP_COLUMNS)
    for row in group_rows(summary):
        stream.write(row)
    return "\ufeff" + buffer.getvalue()  # the BOM makes Excel read UTF-8


def summary_json(summary: BatchSummary) -> str:
    return (
        json.dumps(
            {
                "schema": "callqa.summary/1",
                "calls": summary.calls,
                "passed": summary.passed,
                "groups": [dict(zip(GROUP_COLUMNS, row, strict=True)) for row in group_rows(summary)],
                "frequent_rules": [
                    {"rule": r, "category": summary.rule_names.get(r, ""), "calls": n}
                    for r, n in summary.frequent_rules(10)
                ],
                "weakest": [
                    {"path": c.path, "group": c.group, "score": c.score, "grade": c.grade}
                    for c, _ in summary.weakest(10)
                ],
                "histogram": {"bin_width": summary.max_score / summary.HISTOGRAM_BINS, "counts": summary.histogram},
                "errors": [{"path": p, "error": e} for p, e in summary.errors],
            },
            ensure_ascii=False,
            indent=2,
        )
        + "\n"
    )
