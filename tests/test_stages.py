"""Stage segmentation measured on the labelled calls, explained line by line, and robust to odd calls."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from callqa.cli.app import app
from callqa.errors import InputError
from callqa.evaluation.stages import evaluate, gold_and_blind
from callqa.scoring.pipeline import score_file
from callqa.transcripts.reader import read_transcript

from conftest import ROOT

STAGES_DIR = ROOT / "tests" / "data" / "stages"


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def labelled(split: str):
    return sorted((STAGES_DIR / split).glob("*.txt"))


def test_the_labelled_set_is_what_the_issue_asks_for(default_rubric):
    calls = labelled("dev") + labelled("heldout")
    assert len(calls) >= 30 and len(labelled("heldout")) >= 10
    lengths = [len(read_transcript(p, default_rubric).utterances) for p in calls]
    assert min(lengths) >= 10 and max(lengths) <= 60
    skipped = [p for p in calls if len({u.given_stage for u in read_transcript(p, default_rubric).utterances}) < 5]
    assert len(skipped) >= 8  # enquiries with no 转化, hang-ups with no 结束, calls with no greeting


@pytest.mark.parametrize("split", ["dev", "heldout"])
def test_utterance_accuracy_is_at_least_90_percent(split, default_rubric):
    result = evaluate(labelled(split), default_rubric)
    assert result.accuracy >= 0.90, f"{split}: {result.accuracy:.1%}"
    assert result.boundary_accuracy(1) >= 0.85


def test_eval_stages_command_reports_the_figures():
    result = run("eval-stages", STAGES_DIR / "heldout", "--format", "json")
    report = json.loads(result.stdout)
    assert result.exit_code == 0
    assert report["calls"] == len(labelled("heldout"))
    assert set(report) >= {"utterance_accuracy", "boundary_accuracy_exact", "boundary_accuracy_within_1", "confusion"}
    assert sum(sum(row.values()) for row in report["confusion"].values()) == report["utterances"]
    text = run("eval-stages", STAGES_DIR / "heldout").stdout
    assert "utterance accuracy" in text and "within ±1 utterance" in text and "confusion" in text
    assert run("eval-stages", STAGES_DIR / "heldout", "--min-accuracy", "0.999").exit_code == 1


def test_an_unlabelled_utterance_is_an_error_in_a_labelled_call(write, default_rubric):
    path = write("call.txt", "客服:您好\n## 切入\n客户:我的快递没到\n")
    with pytest.raises(InputError, match="utterance before the first stage marker"):
        gold_and_blind(read_transcript(path, default_rubric))


def test_segment_prints_each_line_with_its_stage_and_explains_boundaries():
    call = STAGES_DIR / "dev" / "01_telecom_roaming.txt"
    plain = run("segment", call, "--ignore-markers").stdout
    assert "自动划分(inferred)" in plain
    assert "── 切入 ──" in plain and "── 结束 ──" in plain
    assert "   2  问候  客服: 您好,工号2108为您服务,请问有什么可以帮您?" in plain
    explained = run("segment", call, "--ignore-markers", "--explain").stdout
    assert "边界: 第" in explained and "线索" in explained
    assert "问候: 您好、工号、为您服务、有什么可以帮您" in explained
    given = run("segment", call).stdout
    assert "按标记行划分(given)" in given


def test_markers_in_traditional_chinese_fix_the_split(default_rubric):
    report = score_file(STAGES_DIR / "dev" / "11_traditional_bank.txt", default_rubric)
    gold = [
        u.given_stage
        for u in read_transcript(STAGES_DIR / "dev" / "11_traditional_bank.txt", default_rubric).utterances
    ]
    assert report.segmentation == "given" and list(report.utterance_stages) == gold


@pytest.mark.parametrize(
    "text",
    [
        "客服:您好\n",
        "".join(f"客服:第{i}个问题我帮您看一下\n客户:好的,谢谢\n" for i in range(100)),  # 200 utterances
        "客户:喂?有人吗\n客户:怎么没人说话\n客户:我要投诉\n",
        "甲:你好,我想问一下快递\n乙:您好,请提供单号\n甲:SF123\n乙:查到了,明天到\n甲:谢谢\n",
        "客户:我的卡被冻结了\n客服:请问您的卡号\n客户:6222\n客服:已经为您解冻\n客户:谢谢\n客服:再见\n",
    ],
)
def test_odd_calls_segment_plausibly(score_text, text):
    report = score_text(text)
    stages = report.utterance_stages
    assert len(stages) == len(report.utterances)
    order = [("问候", "切入", "转化", "协议", "结束").index(s) for s in stages]
    assert order == sorted(order)


def test_a_call_without_a_greeting_starts_in_cut_in(score_text):
    report = score_text(
        "客户:我的卡被冻结了,取不了钱\n客服:请问您的卡号\n客户:6222\n客服:核实一下,是风控冻结\n"
        "客服:已经为您解冻\n客户:谢谢\n客服:不客气,再见\n"
    )
    assert report.utterance_stages[0] == "切入"


def test_two_speakers_one_label_the_other_is_the_customer(score_text):
    report = score_text("话务员:您好,请讲\n纳税人:我想问一下个税\n话务员:您可以在APP上办理\n")
    assert [u.role for u in report.utterances] == ["agent", "customer", "agent"]
