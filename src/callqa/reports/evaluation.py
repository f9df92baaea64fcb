"""`callqa eval` on a terminal: one table row per group and overall, then per-stage figures and the
confusion table of all calls. Machines read `--format json` (the `Evaluation.to_dict()` document)."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from callqa.evaluation.evaluate import Evaluation, Figures, ScoredBy
from callqa.model import STAGES

SEGMENTER_NAMES = {"model": "阶段模型", "cues": "规则线索", "position": "按位置"}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _with_interval(value: float | None, interval: list[float] | None) -> str:
    """A ratio and, under it, its 95 % interval (bootstrap over calls) in whole percent."""
    if value is None or interval is None:
        return _pct(value)
    return f"{value:.1%}\n{interval[0]:.0%}–{interval[1]:.0%}"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f}"


def scored_by_words(scored: ScoredBy) -> str:
    """Which stage model and which detector scored, e.g. 阶段模型 m 2026-12-04 1a2b3c4d5e6f(m.json,
    由 --stage-model 指定,不是评分规则自带的);检测器 forbidden.model: callqa-forbidden …(评分规则自带)."""
    if scored.stage_model is None:
        name, notes = "阶段: 规则线索", ["cues,不用模型"]
    else:
        name, notes = f"阶段模型 {scored.stage_model}", []
    if scored.stage_model_replaced:
        notes += [scored.stage_model_path] if scored.stage_model_path else []
        notes.append("由 --stage-model 指定,替换了评分规则自带的")
    else:
        notes.append("评分规则自带")
    stages = f"{name}({','.join(notes)})"
    if scored.detectors:
        detectors = "、".join(f"{rule}: {model}" for rule, model in scored.detectors.items())
        detector = f"禁忌语检测器 {detectors}(评分规则自带)"
    else:
        detector = "禁忌语检测器: 无(只用短语和模式规则)"
    return f"{stages};{detector}"


def render_evaluation(result: Evaluation, console: Console) -> None:
    if result.leave_one_group_out or result.scored_by is None:
        how = "leave-one-group-out: 每组由其余各组训练的模型评估"
    else:
        how = scored_by_words(result.scored_by)
    console.print(Text(f"callqa eval  ({how})", style="bold"))
    rows: list[tuple[str, Figures]] = list(result.groups.items())
    if len(rows) > 1:
        rows.append(("全部", result.overall))
    segmenters = result.overall.segmenters()

    stages = Table(title="阶段划分", box=box.SIMPLE_HEAD, title_justify="left")
    stages.add_column("组")
    stages.add_column("通话", justify="right")
    stages.add_column("语句", justify="right")
    for segmenter in segmenters:
        name = SEGMENTER_NAMES.get(segmenter, segmenter)
        stages.add_column(f"{name}\n准确率", justify="right")
        if segmenter == "model":
            stages.add_column("边界\n精确", justify="right")
            stages.add_column("边界\n±1", justify="right")
            stages.add_column("κ", justify="right")
    for name, figures in rows:
        cells = [name, str(len(figures.calls))]
        for segmenter in segmenters:
            f = figures.stage_figures(segmenter)
            if len(cells) == 2:
                cells.append(str(f["utterances"]))
            if segmenter != "model":
                cells.append(_pct(f["utterance_accuracy"]))
            else:
                cells += [
                    _with_interval(f["utterance_accuracy"], f["utterance_accuracy_ci95"]),
                    _pct(f["boundary_exact"]),
                    _pct(f["boundary_within_1"]),
                    "—" if f["kappa"] is None else f"{f['kappa']:.2f}",
                ]
        stages.add_row(*cells, end_section=len(rows) > 1 and name == rows[-2][0])
    console.print(stages)

    if result.overall.line_labelled:
        findings = Table(title="禁忌语与推荐话术 (逐句标注的通话)", box=box.SIMPLE_HEAD, title_justify="left")
        for column in (
            "组",
            "禁忌语\n精确率",
            "召回率",
            "F1",
            "误报\n近似句",
            "推荐话术\n召回率",
            "精确率",
            "得分与违规数\nSpearman ρ",
        ):
            findings.add_column(column, justify="left" if column == "组" else "right")
        for name, figures in rows:
            if not figures.line_labelled:
                continue
            forbidden, recommended = figures.forbidden(), figures.recommended()
            intervals = figures.forbidden_intervals()
            findings.add_row(
                name,
                _with_interval(forbidden.precision, intervals["precision_ci95"]),
                _with_interval(forbidden.recall, intervals["recall_ci95"]),
                _pct(forbidden.f1),
                _pct(figures.near_miss_flag_rate()),
                _pct(recommended.recall),
                _pct(recommended.precision),
                _num(figures.score_rank_correlation()),
                end_section=len(rows) > 1 and name == rows[-2][0],
            )
        console.print(findings)
        categories = Table(title="各类禁忌语 (类别一致才算命中, 全部通话)", box=box.SIMPLE_HEAD, title_justify="left")
        for column in ("类别", "标注", "检出", "命中", "精确率", "召回率"):
            categories.add_column(column, justify="left" if column == "类别" else "right")
        for category, counts in result.overall.forbidden_by_category().items():
            categories.add_row(
                category,
                str(counts.gold),
                str(counts.predicted),
                str(counts.hits),
                _pct(counts.precision),
                _pct(counts.recall),
            )
        console.print(categories)

    overall: dict[str, Any] = result.overall.stage_figures("model")
    per_stage = Table(title="各阶段 (全部通话, 阶段模型)", box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("阶段", "精确率", "召回率", "F1", *[f"→{s}" for s in STAGES]):
        per_stage.add_column(column, justify="left" if column == "阶段" else "right")
    for stage in STAGES:
        counts = overall["per_stage"][stage]
        row = overall["confusion"][stage]
        per_stage.add_row(
            stage, _pct(counts["precision"]), _pct(counts["recall"]), _pct(counts["f1"]), *[str(row[s]) for s in STAGES]
        )
    console.print(per_stage)
    console.print(Text("行: 标注的阶段; →列: 预测的阶段", style="dim"))
    console.print(
        Text(
            "准确率、精确率、召回率下方为 95% 区间(按通话自助抽样): 两个区间重叠较多时, 差异可能只是抽样波动",
            style="dim",
        )
    )
