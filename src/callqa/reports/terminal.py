"""The terminal report: rich colour on a terminal, plain text when piped or under NO_COLOR.

One renderer serves both: in plain mode styles are dropped, tables lose their borders and matched
words are marked 【like this】 instead of highlighted. Transcript text is always printed as Text, never
as markup, so brackets in what a customer said survive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from callqa.model import STAGES, Finding, Report, Segmentation, Transcript
from callqa.reports.marks import merged_spans
from callqa.reports.verdicts import model_verdict
from callqa.stages.segment import Boundary, StageEvidence

if TYPE_CHECKING:  # annotations only: the renderer stays import-light
    from callqa.batch.runner import BatchSummary
    from callqa.model import Transcript

STRIP_WIDTH = 60
STAGE_COLOURS = dict(zip(STAGES, ("cyan", "blue", "magenta", "yellow", "green"), strict=True))
ROLE_NAMES = {"agent": "客服", "customer": "客户", "system": "系统", "unknown": "未知"}


def _points(value: float) -> str:
    return f"{value:+g}" if value else "0"


class TerminalRenderer:
    def __init__(self, console: Console, *, plain: bool):
        self.console = console
        self.plain = plain

    def style(self, style: str) -> str:
        return "" if self.plain else style

    def render(self, report: Report) -> None:
        header: Text | Panel = self._header(report)
        if not self.plain:
            header = Panel(header, box=box.ROUNDED, expand=False, border_style="green" if report.passed else "red")
        parts = [header, self._stage_strip(report), Text(), self._stage_table(report)]
        beyond = round(sum(s.score for s in report.stages) - report.score, 2)
        if beyond > 0 and not report.fatal:  # a stage shows 0, but what its deductions took past that counts
            parts.append(Text(f"超出阶段得分的扣分 -{beyond:g} 分,计入总分", style=self.style("red")))
        self.console.print(Group(*parts, Text(), self._findings(report)))
        self.console.print()

    def _header(self, report: Report) -> Text:
        verdict = "合格" if report.passed else "不合格(一票否决)" if report.fatal else "不合格"
        verdict_style = self.style("bold green" if report.passed else "bold red")
        text = Text()
        text.append("质检报告 ", style=self.style("bold"))
        text.append(report.transcript.path)
        text.append(f"\n评分规则 {report.rubric.name} v{report.rubric.version}    ")
        text.append("得分 ")
        text.append(f"{report.score:g}/{report.max_score:g}", style=verdict_style)
        text.append(f"    等级 {report.grade}    结果 ")
        text.append(verdict, style=verdict_style)
        roles = report.transcript.roles
        if roles.method == "inferred":
            text.append(
                f"\n角色: 根据内容推断「{roles.agent}」为客服(置信度 {roles.confidence:.0%})",
                style=self.style("yellow"),
            )
        elif roles.method == "forced":
            text.append(f"\n角色: 按指定「{roles.agent}」为客服")
        for speaker in roles.speakers:
            if speaker.how == "inferred" and roles.method != "inferred":
                role = ROLE_NAMES.get(speaker.role, speaker.role)
                confidence = f"(置信度 {speaker.confidence:.0%})" if speaker.confidence is not None else "(无从判断)"
                text.append(
                    f"\n角色: 根据内容推断「{speaker.speaker}」为{role}{confidence}", style=self.style("yellow")
                )
        for transfer in roles.transfers:
            text.append(f"\n转接: 第{transfer.line}行由「{transfer.from_speaker}」转给「{transfer.to_speaker}」")
        for note in report.notes:
            text.append(f"\n说明: {note}", style=self.style("dim"))
        for warning in report.warnings:
            text.append(f"\n注意: {warning}", style=self.style("yellow"))
        return text

    def _stage_strip(self, report: Report) -> Text:
        """One block per utterance coloured by stage, then each stage's line range."""
        utterances = report.utterances
        how = "按标记行划分" if report.segmentation == "given" else "自动划分"
        text = Text(f"阶段({how}) ")
        if not self.plain:
            stages = [u.stage for u in utterances]
            width = min(len(stages), STRIP_WIDTH)  # a long call is drawn to scale
            for cell in range(width):
                text.append("█", style=STAGE_COLOURS[stages[cell * len(stages) // width]])
            text.append("\n")
        parts = []
        for stage in report.stages:
            if stage.first is None or stage.last is None:  # both or neither
                parts.append(Text(f"{stage.name} 无", style=self.style("dim")))
            else:
                first, last = utterances[stage.first].line, utterances[stage.last].line
                lines = f"{first}-{last}" if last != first else f"{first}"
                parts.append(Text(f"{stage.name} 第{lines}行", style=self.style(STAGE_COLOURS[stage.name])))
        text.append(Text("  |  ").join(parts))
        return text

    def _stage_table(self, report: Report) -> Table:
        table = Table(
            box=None if self.plain else box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            header_style=self.style("bold"),
            title=None,
        )
        table.add_column("阶段")
        table.add_column("得分", justify="right")
        table.add_column("满分", justify="right")
        table.add_column("扣分", justify="right")
        table.add_column("发现", justify="right")
        for stage in report.stages:
            in_stage = [f for f in report.findings if f.stage == stage.name]
            lost = sum(f.points for f in in_stage if f.points < 0)
            issues = sum(1 for f in in_stage if f.problem)  # what lost points or was not said: as the feedback lists
            score_style = self.style(
                "green" if stage.score >= stage.max_score else "red" if stage.score < stage.max_score / 2 else "yellow"
            )
            table.add_row(
                Text(stage.name, style=self.style(STAGE_COLOURS[stage.name])),
                Text(f"{stage.score:g}", style=score_style),
                f"{stage.max_score:g}",
                _points(lost),
                str(issues),
            )
        return table

    def _quote(self, report: Report, finding: Finding) -> Text:
        assert finding.utterance is not None  # quoted only for findings about an utterance
        utterance = report.utterances[finding.utterance]
        text = Text(f"{utterance.speaker or ROLE_NAMES[utterance.role]}:", style=self.style("dim"))
        cursor = 0
        for start, end in merged_spans(finding.spans, len(utterance.text)):  # as the feedback and HTML mark
            text.append(utterance.text[cursor:start])
            if self.plain:
                text.append(f"【{utterance.text[start:end]}】")
            else:
                text.append(utterance.text[start:end], style="bold white on red")
            cursor = end
        text.append(utterance.text[cursor:])
        return text

    def _finding(self, report: Report, finding: Finding) -> Text:
        missed = finding.missed  # said or not: the one definition the feedback, HTML and summary use
        where = f"第{finding.line}行 " if finding.line is not None and not missed else ""
        if finding.kind == "recommended" and not missed:
            mark, mark_style = ("✔", "green")
            if finding.capped:
                title = f"推荐话术 {finding.rule} 已说,因本阶段已满分不另加分(规则 {_points(finding.nominal_points)})"
            else:
                title = f"推荐话术 {finding.rule} {_points(finding.points)}分"
                if finding.matched and 0 < finding.points < finding.nominal_points:
                    title += f"(规则 {_points(finding.nominal_points)},本阶段已满分)"
        elif missed:
            mark, mark_style = ("✘", "bold red") if finding.points < 0 else ("○", "yellow")
            title = (
                f"必说话术 {finding.rule} {_points(finding.points)}分"
                if finding.points < 0
                else f"推荐话术 {finding.rule} 未得 {finding.nominal_points:g} 分"
            )
        else:  # forbidden rules and checks
            mark, mark_style = ("✘", "bold red")
            title = f"{finding.category} {finding.rule} {_points(finding.points)}分"
            if finding.points != finding.nominal_points:
                title += f"(规则 {_points(finding.nominal_points)},已封顶)"
            if finding.source == "model":
                title += f"  [{model_verdict(finding.confidence, finding.category, finding.category_confidence)}]"
        text = Text()
        text.append(f"{mark} ", style=self.style(mark_style))
        text.append(f"{where}[{finding.stage}] ", style=self.style(STAGE_COLOURS.get(finding.stage, "")))
        text.append(title, style=self.style("bold"))
        text.append(f"\n    {finding.message}")
        if finding.trigger_utterance is not None:
            trigger = report.utterances[finding.trigger_utterance]
            text.append(
                f"\n    起因 第{trigger.line}行 {trigger.speaker or ROLE_NAMES[trigger.role]}:", style=self.style("dim")
            )
            text.append(trigger.text)
        if not missed and finding.kind != "recommended" and finding.utterance is not None:
            text.append("\n    ")
            text.append(self._quote(report, finding))
        if finding.evidence:
            reasons = "、".join(f"{d.words}({d.weight:+.2f})" for d in finding.evidence)
            text.append(f"\n    模型依据: {reasons}", style=self.style("dim"))
        elif missed and finding.utterance is not None:
            closest = report.utterances[finding.utterance]
            text.append(
                f"\n    最接近的一句(第{closest.line}行,相似度 {finding.similarity:.0%}):", style=self.style("dim")
            )
            text.append(closest.text)
            if finding.missing_words:
                lacked = "、".join(f"「{w}」" for w in finding.missing_words)
                text.append(f"\n    缺少:{lacked}", style=self.style("dim"))
        if finding.suggestion:
            text.append("\n    建议: ", style=self.style("cyan"))
            text.append(finding.suggestion)
        return text

    def _findings(self, report: Report) -> Group:
        if not report.findings:
            return Group(Text("没有发现。"))
        order = {"forbidden": 0, "recommended": 2}
        ordered = sorted(
            report.findings,
            key=lambda f: (order.get(f.kind, 1), not f.problem, f.line if f.line is not None else 1 << 30),
        )
        return Group(Text("发现", style=self.style("bold underline")), *(self._finding(report, f) for f in ordered))


def make_console(*, plain: bool, stderr: bool = False) -> Console:
    if plain:
        return Console(
            stderr=stderr,
            no_color=True,
            highlight=False,
            emoji=False,
            markup=False,
            soft_wrap=True,
            width=200,
            force_terminal=False,
        )
    return Console(stderr=stderr, highlight=False, emoji=False, markup=False)


def render_summary(summary: BatchSummary, console: Console, *, plain: bool, rubric: str) -> None:
    """The batch summary: groups ranked, the ten weakest calls, the ten most frequent findings, a histogram."""
    from callqa.reports.batch_files import histogram_text  # the one histogram, shared with summary.md

    style = (lambda s: "") if plain else (lambda s: s)
    calls = summary.calls
    rate = f"{summary.passed / calls:.0%}" if calls else "—"
    head = Text()
    head.append("批量质检汇总", style=style("bold"))
    head.append(f"  评分规则 {rubric}\n共 {calls} 通,合格 {summary.passed} 通({rate}),分组 {len(summary.groups)} 个")
    if summary.errors:
        head.append(f",无法读取 {len(summary.errors)} 个文件", style=style("bold red"))
    console.print(head)

    def table(*columns: str) -> Table:
        t = Table(box=None if plain else box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style=style("bold"))
        for c in columns:
            t.add_column(
                c, justify="right" if c in ("通话", "平均分", "中位数", "合格率", "得分", "通话数", *STAGES) else "left"
            )
        return t

    groups = table("#", "分组", "通话", "平均分", "中位数", "合格率", *STAGES, "最弱阶段", "常见问题")
    for rank, g in enumerate(summary.ranked_groups(), start=1):
        rate_style = style("green" if g.pass_rate >= 0.8 else "red" if g.pass_rate < 0.5 else "yellow")
        groups.add_row(
            str(rank),
            Text(g.name),
            str(g.calls),
            f"{g.mean:.1f}",
            f"{g.median:.1f}",
            Text(f"{g.pass_rate:.0%}", style=rate_style),
            *(f"{g.stage_mean(s):.1f}" for s in STAGES),
            g.weakest_stage,
            "、".join(r for r, _ in g.rules.most_common(3)),
        )
    console.print(Text("\n分组排名", style=style("bold underline")), groups)

    weakest = table("文件", "分组", "得分", "等级", "主要问题")
    for call, _ in summary.weakest(10):
        weakest.add_row(Text(call.path), Text(call.group), f"{call.score:g}", call.grade, Text(call.main_problem))
    console.print(Text("\n最低分的 10 通", style=style("bold underline")), weakest)

    frequent = table("规则", "类别", "通话数")
    for rule, count in summary.frequent_rules(10):
        frequent.add_row(rule, summary.rule_names.get(rule, ""), str(count))
    console.print(Text("\n最常见的 10 个问题", style=style("bold underline")), frequent)

    console.print(Text("\n分数分布", style=style("bold underline")))
    console.print(Text(histogram_text(summary).rstrip("\n"), style=style("cyan")))
    for _, message in summary.errors:
        console.print(Text(f"无法读取: {message}", style=style("red")))


def print_segmentation(
    transcript: Transcript,
    segmentation: Segmentation,
    evidence: Sequence[StageEvidence],
    boundaries: Sequence[Boundary],
    model: str | None,
    console: Console,
    *,
    plain: bool,
    explain: bool,
) -> None:
    """The transcript line by line with its stage; with `explain`, at each boundary what put it there
    (the model's strongest features, or the rubric's cues) and, per line, the scores behind it."""
    style = (lambda s: "") if plain else (lambda s: s)
    how = "按标记行划分(given)" if segmentation.given else "自动划分(inferred)"
    by = f"模型 {model} " if model else "规则线索(cues)"
    console.print(
        Text(f"{transcript.path}  {len(transcript.utterances)} 句  阶段{how}  由{by}判断", style=style("bold"))
    )
    at = {b.index: b for b in boundaries}
    previous = None
    for i, (utterance, stage) in enumerate(zip(transcript.utterances, segmentation.stages, strict=True)):
        if stage != previous:
            console.print(Text(f"── {stage} ──", style=style(f"bold {STAGE_COLOURS[stage]}")))
            if explain and i in at:
                console.print(Text("   " + boundary_reason(at[i], utterance.line, evidence[i]), style=style("dim")))
            previous = stage
        line = Text(f"{utterance.line:>4}  ")
        line.append(stage, style=style(STAGE_COLOURS[stage]))
        line.append(f"  {utterance.speaker or ROLE_NAMES[utterance.role]}: ", style=style("dim"))
        line.append(utterance.text)
        console.print(line)
        if explain and evidence[i].system:
            console.print(Text("        系统消息,不参与阶段判断,随前后句划分", style=style("dim")))
        elif explain:
            ev = evidence[i]
            found = "; ".join(f"{s}: {'、'.join(c)}" for s, c in ev.cues.items()) or "无线索"
            probabilities = ev.probabilities
            if probabilities is not None:
                scores = " ".join(f"{s}{p:.0%}" for s, p in zip(STAGES, probabilities, strict=True) if p >= 0.05)
            else:
                scores = " ".join(
                    f"{s}{v:+.1f}" if v != float("-inf") else f"{s}×" for s, v in zip(STAGES, ev.scores, strict=True)
                )
            console.print(Text(f"        位置 {ev.position:.0%} | {found} | {scores}", style=style("dim")))


def boundary_reason(boundary: Boundary, line: int, evidence: StageEvidence) -> str:
    """Why the call moves to a new stage here, in words a trainer reads."""
    head = f"边界: 第{line}行从{boundary.previous}进入{boundary.stage}"
    if evidence.system:
        return f"{head}(系统消息,随后一句划分)"
    if boundary.confidence is not None:
        drivers = "、".join(f"{name}({weight:+.2f})" for name, weight in boundary.drivers) or "无突出特征"
        return f"{head}(模型判断,把握 {boundary.confidence:.0%});主要依据: {drivers}"
    cues = "、".join(boundary.cues) or "无"
    after, before = STAGES.index(boundary.stage), STAGES.index(boundary.previous)
    return (
        f"{head};线索 {cues};得分 {boundary.stage} {evidence.scores[after]:+.1f} 对 "
        f"{boundary.previous} {evidence.scores[before]:+.1f}"
    )
