"""What `callqa history`, `trends`, `review`, `appeal` and `rules precision` print: rich tables on a
terminal, CSV and JSON for machines, and the trends page (one self-contained HTML file, inline SVG)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from callqa.reports.batch_files import safe_cell
from callqa.version import __version__

if TYPE_CHECKING:  # annotations only: the records module loads when a store is opened
    from callqa.store.records import (
        Agreement,
        AppealRecord,
        HistoryFilter,
        RulePrecision,
        StoredCall,
        StoredFinding,
        Trend,
    )

SPARKS = "▁▂▃▄▅▆▇█"
DECISION_WORDS = {"confirmed": "确认", "false_alarm": "误报", "adjusted": "调整"}
APPEAL_WORDS = {
    "open": "待处理",
    "upheld": "申诉成立",
    "rejected": "驳回",
    "adjusted": "调整分数",
    "obsolete": "已失效",
}
BY_WORDS = {"agent": "坐席", "team": "团队", "rule": "规则"}
PERIOD_WORDS = {"day": "日", "week": "周", "month": "月"}


def _table(*columns: str, plain: bool, numeric: Sequence[str] = ()) -> Table:
    table = Table(
        box=None if plain else box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="" if plain else "bold"
    )
    for column in columns:
        table.add_column(column, justify="right" if column in numeric else "left")
    return table


def _shown_path(path: str) -> str:
    """A stored path relative to the current folder when it is under it: shorter to read."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def _score(call: StoredCall) -> str:
    if call.reviewed_score is None or call.reviewed_score == call.score:
        return f"{call.score:g}"
    return f"{call.score:g}→{call.reviewed_score:g}"


# --- history ---------------------------------------------------------------------------------------


def history_table(stored: Sequence[StoredCall], *, plain: bool) -> Table:
    table = _table(
        "编号",
        "日期",
        "坐席",
        "团队",
        "文件",
        "得分",
        "等级",
        "扣分项",
        "复核",
        plain=plain,
        numeric=("编号", "得分", "扣分项"),
    )
    for call in stored:
        table.add_row(
            str(call.id),
            call.day.isoformat(),
            Text(call.agent or "—"),
            Text(call.team or "—"),
            Text(_shown_path(call.path)),
            _score(call),
            Text(call.current_grade, style="" if plain or call.current_passed else "red"),
            str(call.lost),
            "已复核" if call.reviewed_score is not None else "",
        )
    return table


HISTORY_COLUMNS = [
    "id",
    "path",
    "agent",
    "team",
    "call_date",
    "day",
    "scored_at",
    "rubric",
    "rubric_version",
    "score",
    "max_score",
    "grade",
    "passed",
    "fatal",
    "reviewed_score",
    "reviewed_grade",
    "reviewed_passed",
    "reviewed_fatal",
    "lost",
    "content_sha256",
    "rubric_sha256",
    "callqa_version",
]


def history_record(call: StoredCall) -> dict[str, Any]:
    """One stored call for CSV and JSON: as scored, and after review (null until a finding is reviewed)."""
    return {
        "id": call.id,
        "path": call.path,
        "agent": call.agent,
        "team": call.team,
        "call_date": call.call_date.isoformat() if call.call_date else None,
        "day": call.day.isoformat(),
        "scored_at": call.scored_at.isoformat(timespec="seconds"),
        "rubric": call.rubric_name,
        "rubric_version": call.rubric_version,
        "score": call.score,
        "max_score": call.max_score,
        "grade": call.grade,
        "passed": call.passed,
        "fatal": call.fatal,
        "reviewed_score": call.reviewed_score,
        "reviewed_grade": call.reviewed_grade,
        "reviewed_passed": call.reviewed_passed,
        "reviewed_fatal": call.reviewed_fatal,
        "lost": call.lost,
        "content_sha256": call.content_sha256,
        "rubric_sha256": call.rubric_sha256,
        "callqa_version": call.callqa_version,
        "models": call.models,
    }


def to_csv(records: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([safe_cell("" if record.get(c) is None else record.get(c)) for c in columns])
    return out.getvalue()


def to_json(schema: str, key: str, records: Sequence[dict[str, Any]], **extra: Any) -> str:
    return json.dumps({"schema": schema, **extra, key: list(records)}, ensure_ascii=False, indent=2)


def describe_filter(where: HistoryFilter) -> str:
    parts = [
        f"{word} {value}"
        for word, value in (
            ("坐席", where.agent),
            ("团队", where.team),
            ("自", where.since),
            ("至", where.until),
            ("评分规则", where.rubric),
            ("等级", where.grade),
            ("规则", where.rule),
        )
        if value
    ]
    return ",".join(parts) if parts else "全部"


# --- trends ------------------------------------------------------------------------------------------


def periods_of(trends: Sequence[Trend]) -> list[date]:
    return sorted({p.start for t in trends for p in t.points})


def sparkline(trend: Trend, periods: Sequence[date], low: float, high: float) -> str:
    """One character per period (a space where the key had no calls), scaled between low and high."""
    values = {p.start: p.mean for p in trend.points}
    span = high - low
    chars = []
    for start in periods:
        if start not in values:
            chars.append(" ")
            continue
        level = 0 if span <= 0 else round((values[start] - low) / span * (len(SPARKS) - 1))
        chars.append(SPARKS[max(0, min(level, len(SPARKS) - 1))])
    return "".join(chars)


def _value(by: str, value: float) -> str:
    return f"{value:.0%}" if by == "rule" else f"{value:.1f}"


def trends_table(trends: Sequence[Trend], by: str, period: str, *, plain: bool) -> Table:
    periods = periods_of(trends)
    values = [p.mean for t in trends for p in t.points]
    low, high = (min(values), max(values)) if values else (0.0, 0.0)
    measure = "命中率" if by == "rule" else "平均分"
    columns = [BY_WORDS[by], "通话", measure]
    if by != "rule":
        columns.append("合格率")
    columns += [f"趋势({PERIOD_WORDS[period]},{periods[0]} 起)" if periods else "趋势", "最近一期", "变化"]
    table = _table(*columns, plain=plain, numeric=("通话", measure, "合格率", "最近一期", "变化"))
    for trend in trends:
        last, first = trend.points[-1], trend.points[0]
        change = last.mean - first.mean
        row: list[RenderableType] = [Text(trend.key), str(trend.calls), _value(by, trend.mean)]
        if by != "rule":
            passed = sum((p.passed or 0.0) * p.calls for p in trend.points) / trend.calls
            row.append(f"{passed:.0%}")
        colour = "" if plain or abs(change) < 1e-9 else ("green" if (change > 0) != (by == "rule") else "red")
        shown_change = f"{change:+.0%}" if by == "rule" else f"{change:+.1f}"
        row += [
            Text(sparkline(trend, periods, low, high), style="" if plain else "cyan"),
            _value(by, last.mean),
            Text(shown_change if len(trend.points) > 1 else "—", style=colour),
        ]
        table.add_row(*row)
    return table


def trend_record(trend: Trend) -> dict[str, Any]:
    return {
        "key": trend.key,
        "calls": trend.calls,
        "mean": trend.mean,
        "periods": [
            {"start": p.start.isoformat(), "calls": p.calls, "mean": p.mean}
            | ({"passed": p.passed} if p.passed is not None else {})
            for p in trend.points
        ],
    }


_CSS = """
*{box-sizing:border-box}body{margin:0;font:14px/1.5 -apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",
"Noto Sans CJK SC",sans-serif;color:#1f2937;background:#f8fafc}header{background:#111827;color:#fff;padding:20px 32px}
header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#9ca3af}
main{max-width:1180px;margin:0 auto;padding:24px 32px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:18px 22px;margin:0 0 20px}
h2{font-size:16px;margin:0 0 12px}table{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e5e7eb}th{font-size:12px;color:#6b7280}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:16px}
.chart h3{font-size:14px;margin:0}
.chart p{margin:0;color:#6b7280;font-size:12px}svg text{font-size:10px;fill:#6b7280}
"""

_SCRIPT = "document.body.dataset.ready = 'yes';"


def _chart(trend: Trend, periods: Sequence[date], low: float, high: float, by: str) -> str:
    width, height, pad = 340, 140, 26
    span = (high - low) or 1.0
    step = (width - 2 * pad) / max(len(periods) - 1, 1)
    index = {start: i for i, start in enumerate(periods)}
    points = [
        (pad + index[p.start] * step, height - pad - (p.mean - low) / span * (height - 2 * pad), p)
        for p in trend.points
    ]
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#6366f1"><title>{p.start} · {p.calls} 通 · '
        f"{escape(_value(by, p.mean))}</title></circle>"
        for x, y, p in points
    )
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
    axis = (
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#e5e7eb"/>'
        f'<text x="{pad}" y="{height - 8}">{periods[0]}</text>'
        f'<text x="{width - pad}" y="{height - 8}" text-anchor="end">{periods[-1]}</text>'
        f'<text x="2" y="{pad}">{escape(_value(by, high))}</text>'
        f'<text x="2" y="{height - pad}">{escape(_value(by, low))}</text>'
    )
    return (
        f'<div class="chart"><h3>{escape(trend.key)}</h3><p>{trend.calls} 通 · '
        f"{'命中率' if by == 'rule' else '平均分'} {escape(_value(by, trend.mean))}</p>"
        f'<svg class="trend" role="img" aria-label="{escape(trend.key)}" viewBox="0 0 {width} {height}">{axis}'
        f'<polyline fill="none" stroke="#6366f1" stroke-width="2" points="{line}"/>{dots}</svg></div>'
    )


def trends_html(trends: Sequence[Trend], by: str, period: str, where: HistoryFilter) -> str:
    """The trends page: a line chart per agent, team or rule, and the table behind them."""
    periods = periods_of(trends)
    values = [p.mean for t in trends for p in t.points]
    low, high = (min(values), max(values)) if values else (0.0, 0.0)
    if by == "rule":
        low = 0.0
    charts = "".join(_chart(t, periods, low, high, by) for t in trends) if periods else "<p>没有通话</p>"
    head = f"<th>{BY_WORDS[by]}</th><th>通话</th>" + "".join(f"<th>{p}</th>" for p in periods)
    rows = []
    for trend in trends:
        cells = {p.start: p for p in trend.points}
        rows.append(
            f"<tr><td>{escape(trend.key)}</td><td class=num>{trend.calls}</td>"
            + "".join(f"<td class=num>{escape(_value(by, cells[p].mean)) if p in cells else ''}</td>" for p in periods)
            + "</tr>"
        )
    title = f"质检趋势:按{BY_WORDS[by]},每{PERIOD_WORDS[period]}"
    return (
        f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_CSS}</style></head><body>'
        f"<header><h1>{title}</h1><p>筛选:{escape(describe_filter(where))} · callqa {__version__}</p></header><main>"
        f'<section><h2>趋势图</h2><div class="charts" id="charts">{charts}</div></section>'
        f'<section><h2>明细</h2><div style="overflow-x:auto"><table id="trend-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div></section>"
        f"</main><script>{_SCRIPT}</script></body></html>"
    )


# --- one call, for review ----------------------------------------------------------------------------


def _decision_text(finding: StoredFinding) -> Text:
    review = finding.decision
    if review is None:
        return Text("未复核")
    words = DECISION_WORDS[review.decision]
    if review.decision == "adjusted":
        words += f"为 {review.points:+g}"
    when = review.created_at.date().isoformat()
    text = Text(f"{words}({review.reviewer},{when})")
    if review.comment:
        text.append(f":{review.comment}")
    return text


def finding_detail(finding: StoredFinding, *, plain: bool) -> RenderableType:
    style = (lambda s: "") if plain else (lambda s: s)
    head = Text()
    head.append(f"[{finding.id}] ", style=style("bold"))
    head.append(f"{finding.category} {finding.rule}", style=style("bold"))
    where = f"第{finding.line}行" if finding.line is not None else "整通"
    head.append(f"  {finding.stage} · {where} · {finding.points:+g} 分")
    if finding.source == "model":
        confidence = f" 置信度 {finding.confidence:.2f}" if finding.confidence is not None else ""
        head.append(f" · 模型判断{confidence}", style=style("magenta"))
    if not finding.active:
        head.append(" · 重新评分后已不存在", style=style("yellow"))
    lines: list[RenderableType] = [head]
    if finding.said:
        lines.append(Text(f"    原话:{finding.said}"))
    lines.append(Text(f"    {finding.message}" + (f" 建议:{finding.suggestion}" if finding.suggestion else "")))
    decision = Text("    复核:")
    decision.append_text(_decision_text(finding))
    lines.append(decision)
    for appeal in finding.appeals:
        who = appeal.agent or "坐席"
        text = Text(f"    申诉 #{appeal.id}({who}):{appeal.reason} — {APPEAL_WORDS[appeal.status]}")
        if appeal.resolved_by:
            text.append(f"({appeal.resolved_by})")
        lines.append(text)
    return Group(*lines)


def call_header(call: StoredCall) -> Text:
    text = Text(f"通话 {call.id}  {_shown_path(call.path)}\n")
    text.append(f"坐席 {call.agent or '—'} · 团队 {call.team or '—'} · 日期 {call.day} · ")
    text.append(f"评分规则 {call.rubric_name} v{call.rubric_version}\n")
    text.append(f"得分 {call.score:g}/{call.max_score:g}({call.grade})")
    if call.reviewed_score is not None:
        text.append(
            f" → 复核后 {call.reviewed_score:g}({call.reviewed_grade},{'合格' if call.reviewed_passed else '不合格'})"
        )
    return text


def call_record(call: StoredCall) -> dict[str, Any]:
    return {
        **history_record(call),
        "stages": [{"name": s.name, "score": s.score, "max_score": s.max_score, "base": s.base} for s in call.stages],
        "findings": [
            {
                "id": f.id,
                "rule": f.rule,
                "kind": f.kind,
                "category": f.category,
                "severity": f.severity,
                "stage": f.stage,
                "line": f.line,
                "utterance": f.utterance,
                "role": f.role,
                "matched": f.matched,
                "said": f.said,
                "message": f.message,
                "suggestion": f.suggestion,
                "points": f.points,
                "max_deduct": f.max_deduct,
                "nominal_points": f.nominal_points,
                "decided_points": f.decided_points,
                "source": f.source,
                "confidence": f.confidence,
                "active": f.active,
                "reviews": [
                    {
                        "reviewer": r.reviewer,
                        "decision": r.decision,
                        "points": r.points,
                        "comment": r.comment,
                        "at": r.created_at.isoformat(timespec="seconds"),
                        "appeal": r.appeal,
                    }
                    for r in f.reviews
                ],
                "appeals": [appeal_record(a) for a in f.appeals],
            }
            for f in call.findings
        ],
    }


# --- appeals, precision, agreement -----------------------------------------------------------------


def appeal_record(appeal: AppealRecord) -> dict[str, Any]:
    return {
        "id": appeal.id,
        "call": appeal.call,
        "finding": appeal.finding,
        "rule": appeal.rule,
        "agent": appeal.agent,
        "reason": appeal.reason,
        "status": appeal.status,
        "created_at": appeal.created_at.isoformat(timespec="seconds"),
        "resolved_by": appeal.resolved_by,
        "resolved_at": appeal.resolved_at.isoformat(timespec="seconds") if appeal.resolved_at else None,
        "comment": appeal.comment,
    }


def appeals_table(found: Sequence[AppealRecord], *, plain: bool) -> Table:
    table = _table(
        "申诉", "通话", "发现", "规则", "坐席", "理由", "状态", "处理人", plain=plain, numeric=("申诉", "通话", "发现")
    )
    for appeal in found:
        table.add_row(
            str(appeal.id),
            str(appeal.call),
            str(appeal.finding),
            appeal.rule,
            Text(appeal.agent or "—"),
            Text(appeal.reason),
            APPEAL_WORDS[appeal.status],
            Text(appeal.resolved_by or ""),
        )
    return table


def precision_record(rule: RulePrecision) -> dict[str, Any]:
    interval = rule.interval
    return {
        "rule": rule.rule,
        "category": rule.category,
        "reviewed": rule.reviewed,
        "confirmed": rule.confirmed,
        "false_alarms": rule.false_alarms,
        "unreviewed": rule.unreviewed,
        "precision": rule.precision,
        "interval_95": list(interval) if interval else None,
    }


def precision_table(rules: Sequence[RulePrecision], *, plain: bool) -> Table:
    numeric = ("已复核", "确认", "误报", "精确率", "未复核")
    table = _table(
        "规则", "类别", "已复核", "确认", "误报", "精确率", "95% 区间", "未复核", plain=plain, numeric=numeric
    )
    for rule in rules:
        interval = rule.interval
        precision = rule.precision
        colour = (
            ""
            if plain or precision is None
            else ("red" if precision < 0.7 else "green" if precision >= 0.9 else "yellow")
        )
        table.add_row(
            rule.rule,
            rule.category,
            str(rule.reviewed),
            str(rule.confirmed),
            str(rule.false_alarms),
            Text("—" if precision is None else f"{precision:.0%}", style=colour),
            f"{interval[0]:.0%}–{interval[1]:.0%}" if interval else "—",
            str(rule.unreviewed),
        )
    return table


def agreement_record(pair: Agreement) -> dict[str, Any]:
    return {
        "first": pair.first,
        "second": pair.second,
        "findings": pair.findings,
        "agreed": pair.agreed,
        "kappa": pair.kappa,
    }


def agreement_table(pairs: Sequence[Agreement], *, plain: bool) -> Table:
    table = _table("复核人", "复核人", "共同复核", "一致", "κ", plain=plain, numeric=("共同复核", "一致", "κ"))
    for pair in pairs:
        table.add_row(
            Text(pair.first),
            Text(pair.second),
            str(pair.findings),
            str(pair.agreed),
            "—" if pair.kappa is None else f"{pair.kappa:.2f}",
        )
    return table
