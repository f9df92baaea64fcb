"""report.html: one self-contained page (no external assets, no network) with the batch summary, a
score histogram and, for the weakest calls, a stage timeline and the transcript. All transcript text is
HTML-escaped."""

from __future__ import annotations

from html import escape
from typing import Any

from callqa.batch.runner import BatchSummary, CallSummary, lost_points
from callqa.model import STAGES
from callqa.reports.batch_files import model_text, points_text
from callqa.reports.marks import marked
from callqa.version import __version__

COLOURS = dict(zip(STAGES, ("#0ea5e9", "#6366f1", "#d946ef", "#f59e0b", "#10b981"), strict=True))

_CSS = """
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f8fafc;--ok:#059669;--bad:#dc2626}
*{box-sizing:border-box}body{margin:0;font:14px/1.5 -apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",
"Noto Sans CJK SC",sans-serif;color:var(--ink);background:var(--bg)}
header{background:#111827;color:#fff;padding:20px 32px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#9ca3af}main{max-width:1180px;margin:0 auto;padding:24px 32px}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:18px 22px;margin:0 0 20px}
h2{font-size:16px;margin:0 0 12px}.cards{display:flex;gap:14px;flex-wrap:wrap;margin-bottom:20px}
.card{flex:1;min-width:150px;background:#fff;border:1px solid var(--line);border-radius:10px;padding:14px 18px}
.card b{display:block;font-size:24px}.card span{color:var(--muted);font-size:12px}
.scroll{overflow-x:auto}table{width:100%;border-collapse:collapse}th,td.nowrap{white-space:nowrap}\
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);
vertical-align:top}th{font-size:12px;color:var(--muted);font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{display:inline-block;height:8px;border-radius:4px;background:var(--ok);vertical-align:middle;margin-right:6px}
.bad{color:var(--bad)}.ok{color:var(--ok)}.legend span{display:inline-block;margin-right:14px;font-size:12px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.call{border-top:1px solid var(--line);padding:12px 0}.call h3{font-size:14px;margin:0 0 6px;word-break:break-all}
.timeline{display:flex;height:14px;border-radius:4px;overflow:hidden;margin:6px 0}.timeline div{flex:1;min-width:1px}
details summary{cursor:pointer;color:#2563eb}mark{background:#fecaca;color:#7f1d1d;padding:0 2px;border-radius:2px}
.stage{font-size:11px;color:#fff;border-radius:3px;padding:1px 5px;white-space:nowrap}
.lost li{margin:2px 0}.muted{color:var(--muted)}select{font:inherit;padding:3px 6px}
"""

_SCRIPT = """
document.getElementById('group-filter').addEventListener('change', function (event) {
  var wanted = event.target.value, shown = 0;
  document.querySelectorAll('.call').forEach(function (call) {
    var visible = !wanted || call.dataset.group === wanted;
    call.style.display = visible ? '' : 'none';
    if (visible) { shown += 1; }
  });
  document.getElementById('shown').textContent = shown;
});
document.body.dataset.ready = 'yes';
"""


def _histogram_svg(summary: BatchSummary, pass_mark: float) -> str:
    width, height, pad = 640, 200, 28
    counts = summary.histogram
    peak = max(counts) or 1
    bar = (width - 2 * pad) / len(counts)
    step = summary.max_score / len(counts)
    parts = [
        f'<svg id="histogram" role="img" aria-label="分数分布" viewBox="0 0 {width} {height + 30}" '
        f'width="100%" style="max-width:{width}px">'
    ]
    for i, count in enumerate(counts):
        h = (height - pad) * count / peak
        x = pad + i * bar
        colour = "#dc2626" if (i + 1) * step <= pass_mark else "#059669"  # bins wholly below the pass mark
        parts.append(
            f'<rect x="{x + 3:.1f}" y="{height - h:.1f}" width="{bar - 6:.1f}" height="{h:.1f}" fill="{colour}" rx="3">'
            f"<title>{i * step:g}–{(i + 1) * step:g}: {count}</title></rect>"
        )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{height - h - 4:.1f}" font-size="11" text-anchor="middle">{count}</text>'
        )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{height + 16}" font-size="11" fill="#6b7280" '
            f'text-anchor="middle">{i * step:g}–{(i + 1) * step:g}</text>'
        )
    parts.append(f'<line x1="{pad}" y1="{height}" x2="{width - pad}" y2="{height}" stroke="#9ca3af"/></svg>')
    return "".join(parts)


def _highlighted(text: str, spans: list[list[int]]) -> str:
    return marked(text, spans, lambda words: f"<mark>{escape(words)}</mark>", escape)


def _call(call: CallSummary, report: dict[str, Any]) -> str:
    group = call.group
    utterances = report["utterances"]
    timeline = "".join(
        f'<div style="background:{COLOURS[u["stage"]]}" title="第{u["line"]}行 {u["stage"]}"></div>' for u in utterances
    )
    marks: dict[int, list[list[int]]] = {}  # utterance -> the spans its forbidden findings matched
    for f in report["findings"]:
        if f["kind"] == "forbidden" and f["utterance"] is not None:
            marks.setdefault(f["utterance"], []).extend(f["spans"])
    rows = "".join(
        f'<tr><td class="num">{u["line"]}</td><td><span class="stage" style="background:{COLOURS[u["stage"]]}">'
        f"{u['stage']}</span></td><td>{escape(u['speaker'] or u['role'])}</td>"
        f"<td>{_highlighted(u['text'], marks.get(u['index'], []))}</td></tr>"
        for u in utterances
    )
    lost = "".join(
        f"<li>{'第' + str(f['line']) + '行' if f['line'] is not None else '—'} [{f['stage']}] "
        f'<b class="bad">{points_text(f)} 分</b> {escape(f["message"])}'
        + (f' <span class="muted">({model_text(f)})</span>' if model_text(f) else "")
        + (f' <span class="muted">建议:{escape(f["suggestion"])}</span>' if f["suggestion"] else "")
        + "</li>"
        for f in lost_points(report)
    )
    verdict = '<b class="ok">合格</b>' if report["passed"] else '<b class="bad">不合格</b>'
    return (
        f'<div class="call" data-group="{escape(group)}"><h3>{escape(report["transcript"]["path"])}</h3>'
        f"<div>{escape(group)} · 得分 <b>{report['score']:g}</b>/{report['max_score']:g}"
        f" · {escape(report['grade'])} · {verdict}</div>"
        f'<div class="timeline" aria-label="阶段时间线">{timeline}</div>'
        f'<ul class="lost">{lost or "<li>没有失分</li>"}</ul>'
        f"<details><summary>通话原文({len(utterances)} 句)</summary><table><tr><th>行</th><th>阶段</th>"
        f"<th>说话人</th><th>内容</th></tr>{rows}</table></details></div>"
    )


def render_html(summary: BatchSummary, rubric: str, pass_mark: float) -> str:
    calls = summary.calls
    rate = f"{summary.passed / calls:.0%}" if calls else "—"
    scores = [s for g in summary.groups.values() for s in g.scores]
    mean = f"{sum(scores) / len(scores):.1f}" if scores else "—"
    cards = "".join(
        f'<div class="card"><b>{value}</b><span>{label}</span></div>'
        for value, label in (
            (calls, "通话"),
            (rate, "合格率"),
            (mean, "平均分"),
            (len(summary.groups), "分组"),
            (len(summary.errors), "无法读取"),
        )
    )
    group_rows = "".join(
        f'<tr><td class="num">{rank}</td><td class="nowrap">{escape(g.name)}</td><td class="num">{g.calls}</td>'
        f'<td class="num">{g.mean:.1f}</td><td class="num">{g.median:.1f}</td>'
        f'<td class="nowrap"><span class="bar" style="width:{g.pass_rate * 80:.0f}px"></span>{g.pass_rate:.0%}</td>'
        + "".join(f'<td class="num">{g.stage_mean(s):.1f}</td>' for s in STAGES)
        + f'<td class="nowrap">{g.weakest_stage}</td>'
        + f"<td>{escape('、'.join(r for r, _ in g.rules.most_common(3)))}</td></tr>"
        for rank, g in enumerate(summary.ranked_groups(), start=1)
    )
    rule_rows = "".join(
        f"<tr><td>{escape(rule)}</td><td>{escape(summary.rule_names.get(rule, ''))}</td>"
        f'<td class="num">{count}</td></tr>'
        for rule, count in summary.frequent_rules(10)
    )
    weakest = [(call, report) for call, report in summary.weakest() if report is not None]
    options = "".join(
        f'<option value="{escape(g)}">{escape(g)}</option>' for g in sorted({c.group for c, _ in weakest})
    )
    legend = "".join(f'<span><i style="background:{c}"></i>{s}</span>' for s, c in COLOURS.items())
    errors = ""
    if summary.errors:
        errors = (
            "<section><h2>无法读取的文件</h2><ul>"
            + "".join(f"<li>{escape(e)}</li>" for _, e in summary.errors)
            + "</ul></section>"
        )
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>callqa 批量质检报告</title><style>{_CSS}</style></head><body>
<header><h1>callqa 批量质检报告</h1><p>评分规则 {escape(rubric)} · callqa {__version__}</p></header>
<main>
<div class="cards" id="summary">{cards}</div>
<section><h2>分数分布</h2>{_histogram_svg(summary, pass_mark)}</section>
<section><h2>分组排名</h2><div class="scroll">\
<table id="groups"><tr><th>#</th><th>分组</th><th>通话</th><th>平均分</th><th>中位数</th>
<th>合格率</th>{"".join(f"<th>{s}</th>" for s in STAGES)}<th>最弱阶段</th><th>常见问题</th></tr>\
{group_rows}</table></div></section>
<section><h2>最常见的问题</h2><table><tr><th>规则</th><th>类别</th><th>通话数</th></tr>{rule_rows}</table></section>
<section><h2>最低分的通话</h2><p class="legend">{legend}</p>
<p>显示 <b id="shown">{len(weakest)}</b> 通(共 {calls} 通中分数最低的 {len(weakest)} 通) ·
分组 <select id="group-filter"><option value="">全部</option>{options}</select></p>
{"".join(_call(c, r) for c, r in weakest)}</section>
{errors}
</main><script>{_SCRIPT}</script></body></html>
"""
