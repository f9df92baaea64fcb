"""Stage segmentation: monotone, skippable, cue-driven, overridable by marker lines."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from callqa.cli.app import app
from callqa.model import STAGES
from callqa.scoring.pipeline import score_file
from callqa.stages.segment import segment
from callqa.transcripts.reader import read_transcript

from conftest import SAMPLES


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_sample_is_split_in_stage_order(path, default_rubric):
    stages = segment(read_transcript(path, default_rubric), default_rubric).stages
    order = [STAGES.index(s) for s in stages]
    assert order == sorted(order)
    assert stages[0] in ("问候", "切入")


def stage_of_lines(report) -> dict[int, str]:
    return {u.line: s for u, s in ((u, u.stage) for u in report.utterances)}


def test_good_call_lands_each_part_in_its_stage(default_rubric):
    report = score_file(SAMPLES[0], default_rubric)  # 01_broadband_good
    by_line = stage_of_lines(report)
    assert by_line[2] == "问候"  # greeting with 工号
    assert by_line[5] == "切入"  # asks for the account
    assert by_line[10] == "转化"  # empathy
    assert by_line[12] == "协议"  # work order with a deadline
    assert by_line[18] == by_line[20] == "结束"  # further help, goodbye


def test_simple_enquiry_skips_transform(score_text):
    report = score_text((SAMPLES[0].parent / "07_balance_enquiry.txt").read_text(encoding="utf-8"))
    assert "转化" not in report.utterance_stages
    assert report.utterance_stages[-1] == "结束"


def test_customer_hanging_up_leaves_closing_empty(score_text):
    report = score_text((SAMPLES[0].parent / "10_water_hangup.txt").read_text(encoding="utf-8"))
    closing = next(s for s in report.stages if s.name == "结束")
    assert (closing.first, closing.last) == (None, None)


def test_split_follows_content_not_line_count(score_text):
    """Two calls of the same length: where the closing begins depends on what is said."""
    opening = (
        "客服:您好,工号1001为您服务,请问有什么可以帮您?\n客户:我的快递三天没到\n客服:请问您的运单号是多少\n客户:SF123\n"
    )
    early_close = (
        opening + "客服:已经帮您催促派送。请问还有什么可以帮您的吗?\n客户:没有了,谢谢\n客服:不客气,再见\n客户:再见\n"
    )
    late_close = (
        opening + "客服:非常理解您的心情\n客户:那到底什么时候到\n客服:明天中午12点前给您送到\n客户:好的,谢谢,再见\n"
    )
    early = score_text(early_close, name="early.txt").utterance_stages
    late = score_text(late_close, name="late.txt").utterance_stages
    late_close_at = late.index("结束") if "结束" in late else len(late)  # a last goodbye may stay in 协议
    assert early.index("结束") < late_close_at


def test_closing_holds_when_the_customer_goes_on_after_anything_else(score_text):
    """Customers often ask one more thing after 「还有其他可以帮您的吗」; by the guideline 结束 starts at
    that question and stages never go back (the model shipped before training/calls/long-closings
    put the question and everything after it in 协议)."""
    lines = [
        "客服:您好,很高兴为您服务,请问有什么可以帮您?",
        "客户:我上周买的电热水壶,今天收到发现盖子合不上",
        "客服:非常抱歉给您添麻烦了,麻烦您拍张照片给我看一下",
        "客户:[图片]",
        "客服:看到了,确实是盖子卡扣坏了,这边给您安排换新,快递员明天上门取件,新的今天就给您发出",
        "客户:好的",
        "客服:请问还有其他可以帮您的吗?",
        "客户:还有一个,我另一个订单的发票什么时候能开",
        "客服:电子发票在确认收货后24小时内开具,您在订单详情里就能下载",
        "客户:那积分呢,这单有积分吗",
        "客服:有的,确认收货后积分自动到账,这单是59积分",
        "客户:行,谢谢你啊",
        "客服:不客气,祝您生活愉快,再见",
    ]
    stages = score_text("\n".join(lines) + "\n", name="long_tail.txt").utterance_stages
    assert stages[4] == "协议"  # the replacement arranged
    assert stages[6:] == ("结束",) * 7


def test_markers_fix_the_split_and_are_reported_as_given(score_text):
    text = "## 问候\n客服:您好\n客户:喂\n## 切入\n客服:好的\n客户:嗯嗯\n## 结束\n客服:再见\n"
    report = score_text(text)
    assert report.segmentation == "given"
    assert report.utterance_stages == ("问候", "问候", "切入", "切入", "结束")


@pytest.mark.parametrize(
    "text",
    [
        "客服:您好\n",
        "客户:喂?有人吗\n客户:怎么没人说话\n",
        "甲:你好\n乙:你好\n",
        "".join(f"客服:第{i}句话,我帮您看一下\n客户:好的\n" for i in range(100)),
    ],
)
def test_odd_calls_segment_without_error(score_text, text):
    report = score_text(text)
    assert len(report.utterance_stages) == len(report.utterances)


def test_segment_json_gives_each_lines_stage_and_each_boundarys_reasons():
    """`callqa segment --format json`: for a pipeline, the same split the text shows, each line with
    the model's P(stage), and a boundary wherever the stage changes, with its reasons."""
    sample = next(s for s in SAMPLES if s.name.startswith("05_"))
    result = CliRunner().invoke(app, ["segment", str(sample), "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["schema"] == "callqa.segmentation/1" and document["by"] == "model"
    stages = [u["stage"] for u in document["utterances"]]
    text = CliRunner().invoke(app, ["segment", str(sample)]).stdout
    shown = [line.split()[1] for line in text.splitlines() if line.strip()[:1].isdigit()]
    assert stages == shown
    changes = [i for i in range(1, len(stages)) if stages[i] != stages[i - 1]]
    assert [b["utterance"] for b in document["boundaries"]] == changes
    for boundary in document["boundaries"]:
        assert boundary["stage"] == stages[boundary["utterance"]] and boundary["drivers"]
        assert 0 < boundary["confidence"] <= 1
    for u in document["utterances"]:
        assert abs(sum(u["probabilities"].values()) - 1) < 1e-3
