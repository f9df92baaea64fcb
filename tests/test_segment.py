"""Stage segmentation: monotone, skippable, cue-driven, overridable by marker lines."""

from __future__ import annotations

import pytest

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
