"""Chat exports and multi-agent calls as they really come: date-time stamps, the console's two-line
layout, messages over several lines, transfers to a second agent, bots and system lines, English and
mixed labels. Each layout has a sample in tests/data/formats/."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from callqa.cli.app import app
from callqa.scoring.pipeline import score_file
from callqa.transcripts.reader import read_transcript

from conftest import ROOT

FORMATS_DIR = ROOT / "tests" / "data" / "formats"


def read(write, default_rubric, text, name="call.txt"):
    return read_transcript(write(name, text), default_rubric)


@pytest.mark.parametrize(
    "stamp",
    [
        "2024-07-03 09:15:58",
        "2024/7/3 9:15",
        "2024年7月3日 09:15",
        "09:15",
        "09:15:58",
        "[2024-07-03 09:15:58]",
        "(01:23)",
        "【09:15】",
        "2024-07-03T09:15:58+08:00",
    ],
)
@pytest.mark.parametrize("space", [" ", ""])
def test_a_stamp_before_the_label_is_neither_text_nor_speaker(write, default_rubric, stamp, space):
    text = f"{stamp}{space}用户:芒果烂了好几个\n{stamp}{space}店铺客服:非常抱歉\n"
    first, second = read(write, default_rubric, text).utterances
    assert [(u.speaker, u.role, u.text) for u in (first, second)] == [
        ("用户", "customer", "芒果烂了好几个"),
        ("店铺客服", "agent", "非常抱歉"),
    ]
    assert first.start is not None


def test_date_time_stamps_become_seconds_since_the_first_one(write, default_rubric):
    utterances = read(write, default_rubric, (FORMATS_DIR / "chat_stamps.txt").read_text(encoding="utf-8")).utterances
    assert [u.speaker for u in utterances] == ["用户", "店铺客服"] * 5
    # 09:15:58, 09:16, 09:16:40, 09:17, 09:18, 【09:18】, (09:19), 09:19:40, 09:20, 09:20:30
    assert [u.start for u in utterances] == [0, 2, 42, 62, 122, 122, 182, 222, 242, 272]
    assert utterances[0].text == "[订单卡片] 芒果 5斤 订单尾号6027"


def test_a_chat_past_midnight_keeps_counting(write, default_rubric):
    text = "2024-07-03 23:59:30 用户:在吗\n00:00:10 客服:在的\n"
    assert [u.start for u in read(write, default_rubric, text).utterances] == [0, 40]


def test_the_console_two_line_layout_puts_speaker_and_stamp_above_the_message(write, default_rubric):
    transcript = read(write, default_rubric, (FORMATS_DIR / "chat_console.txt").read_text(encoding="utf-8"))
    assert [(u.speaker, u.role, u.start) for u in transcript.utterances] == [
        ("用户", "customer", 0),
        ("店铺客服", "agent", 22),
        ("用户", "customer", 64),
        ("店铺客服", "agent", 107),
        ("用户", "customer", 132),
        ("店铺客服", "agent", 152),
    ]
    texts = [u.text for u in transcript.utterances]
    assert texts[1] == "亲亲您好，很高兴为您服务\n请问有什么可以帮您？"
    assert texts[2] == "我买的芒果到了好几个是烂的\n收货地址:北京市朝阳区望京街道"  # 收货地址 is no speaker
    assert transcript.utterances[1].line == 6  # the message's first line


def test_a_message_over_several_lines_is_one_utterance_and_scores_as_one(write, default_rubric):
    text = "客服:您好\n请问有什么可以帮您\n客户:我的快递丢了\n客服:这个问题\n不归我们这边管，您去找快递公司\n"
    report = score_file(write("call.txt", text), default_rubric)
    assert len(report.utterances) == 3
    forbidden = [f for f in report.findings if f.kind == "forbidden"]
    assert [f.utterance for f in forbidden] == [2]  # found across the line break


def test_a_transfer_to_a_second_agent_is_an_agent_and_is_reported(write, default_rubric):
    path = FORMATS_DIR / "transfer.txt"
    report = score_file(path, default_rubric)
    roles = {u.speaker: u.role for u in report.utterances}
    assert roles == {"Agent": "agent", "Caller": "customer", "专员": "agent", "李娜": "agent"}
    speakers = {s.speaker: s for s in report.transcript.roles.speakers}
    assert speakers["李娜"].how == "inferred" and speakers["李娜"].confidence >= 0.8
    assert [(t.from_speaker, t.to_speaker, t.line) for t in report.transcript.roles.transfers] == [
        ("Agent", "专员", 4),
        ("专员", "李娜", 6),
        ("李娜", "专员", 8),  # handed back
    ]
    # the second agent's closing earns its points
    credited = {f.rule for f in report.findings if f.kind == "recommended" and f.points > 0 and f.utterance == 7}
    assert {"recommended.further_help", "recommended.thanks_goodbye"} <= credited


def test_a_second_agents_lines_are_checked_for_forbidden_expressions(write, default_rubric):
    text = (
        "客服:您好，请问有什么可以帮您\n客户:我的快递丢了\n客服:我帮您转接专员\n专员:这不是我们的责任，你去找快递公司\n"
    )
    report = score_file(write("call.txt", text), default_rubric)
    assert [f.utterance for f in report.findings if f.kind == "forbidden"] == [3]


def test_the_terminal_report_shows_where_the_call_was_transferred():
    result = CliRunner().invoke(app, ["score", str(FORMATS_DIR / "transfer.txt"), "--format", "text"])
    assert result.exit_code == 0, result.output
    assert "转接: 第4行由「Agent」转给「专员」" in result.stdout


def test_bots_and_system_lines_are_kept_but_are_nobodys_words(write, default_rubric):
    report = score_file(FORMATS_DIR / "bots.txt", default_rubric)
    system = [u.text for u in report.utterances if u.role == "system"]
    assert system == [
        "用户已进入会话",
        "您好，我是智能助手小京，请回复数字选择：1 查询物流 2 退换货 3 人工客服",
        "正在为您转接人工客服，请稍候",  # said under the 客服 label, but a queue notice
        "客服小美已接入",
        "[图片]",
        "[表情]",
        "会话已结束",
    ]
    greeting = next(f for f in report.findings if f.rule == "recommended.greeting")
    assert greeting.points > 0 and greeting.utterance == 5  # the human agent's greeting, not the bot's
    assert report.utterances[5].stage == "问候"  # bot lines before it shift no stage
    assert json.loads(report.to_json())["utterances"][0]["role"] == "system"


def test_a_bots_words_earn_no_points_and_lose_none(write, default_rubric):
    text = (
        "机器人:您好，很高兴为您服务，请问有什么可以帮您？\n机器人:这不是我们的责任\n"
        "客户:我的快递丢了\n客服:马上帮您查\n"
    )
    report = score_file(write("call.txt", text), default_rubric)
    assert [u.role for u in report.utterances[:2]] == ["system", "system"]
    assert not [f for f in report.findings if f.utterance in (0, 1) and f.points != 0]


@pytest.mark.parametrize(
    "agent, customer",
    [
        ("Agent", "Caller"),
        ("CSR", "Customer"),
        ("Rep", "User"),
        ("坐席", "访客"),
        ("卖家", "买家"),
        ("小二", "我"),
        ("在线客服", "Client"),
    ],
)
def test_english_and_mixed_labels(write, default_rubric, agent, customer):
    text = f"{customer}:我的订单还没发货\n{agent}:非常抱歉，我这边帮您催一下\n"
    utterances = read(write, default_rubric, text).utterances
    assert [(u.speaker, u.role) for u in utterances] == [(customer, "customer"), (agent, "agent")]


def test_the_mixed_labels_sample_reads_with_labels(default_rubric):
    transcript = read_transcript(FORMATS_DIR / "mixed_labels.txt", default_rubric)
    assert transcript.roles.method == "labels"
    assert [u.role for u in transcript.utterances] == ["agent", "customer"] * 2 + ["agent"]


@pytest.mark.parametrize(
    "line",
    [
        "客服:你烦不烦啊，前方排队人数较多，你自己等着吧",  # an agent speaking, not a queue notice
        "客服:感谢您的来电，稍后请按1对我的服务进行评价，再见",
        "客户:排队人数也太多了，我等了半个小时才打通",
    ],
)
def test_a_notice_phrase_inside_somebodys_words_does_not_make_them_system(write, default_rubric, line):
    utterances = read(write, default_rubric, f"客户:你好\n客服:您好\n{line}\n").utterances
    assert utterances[2].role in ("agent", "customer")


def test_message_lines_that_look_like_stamps_or_headers_stay_text(write, default_rubric):
    text = "A:您好，工号1024为您服务\nB:我想改一下送货时间\n2024-07-05 14:00 以后\nA:好的\nB:谢谢\nA:再见\n"
    utterances = read(write, default_rubric, text).utterances
    assert [u.speaker for u in utterances] == ["A", "B", "A", "B", "A"]
    assert utterances[1].text == "我想改一下送货时间\n2024-07-05 14:00 以后"
    chat = "客户:我的订单\n2024年7月1日买的，今天才到\n客服:抱歉\n"
    assert read(write, default_rubric, chat, "b.txt").utterances[0].text == "我的订单\n2024年7月1日买的，今天才到"


def test_a_one_off_label_inside_a_console_message_is_text(write, default_rubric):
    text = (
        "用户 2024-07-03 09:15:58\n我的快递丢了\n客服电话:4001234567打不通\n"
        "店铺客服 2024-07-03 09:16:20\n马上帮您查\n用户 2024-07-03 09:17:00\n好\n"
    )
    utterances = read(write, default_rubric, text).utterances
    assert [u.speaker for u in utterances] == ["用户", "店铺客服", "用户"]
    assert utterances[0].text == "我的快递丢了\n客服电话:4001234567打不通"


@pytest.mark.parametrize("date", ["0001-01-01 00:00:00", "9999-12-31 23:59"])
def test_placeholder_dates_are_no_crash(write, default_rubric, date):
    utterances = read(write, default_rubric, f"{date} 客服:您好\n09:16 客户:你好\n").utterances
    assert [u.text for u in utterances] == ["您好", "你好"]


def test_a_chat_opening_on_an_image_is_text_and_a_bot_label_is_system(write, default_rubric):
    transcript = read(write, default_rubric, "[图片]\n客服机器人:请回复数字选择\n客户:这个杯子碎了\n客服:抱歉\n")
    assert transcript.format == "text"  # `[图片]` does not open a JSON list
    assert [u.role for u in transcript.utterances] == ["system", "system", "customer", "agent"]


def test_forcing_the_agent_keeps_a_second_agent_an_agent(default_rubric):
    from callqa.transcripts.reader import ReadOptions

    transcript = read_transcript(FORMATS_DIR / "transfer.txt", default_rubric, ReadOptions(agent_speaker="Agent"))
    assert {u.speaker: u.role for u in transcript.utterances}["专员"] == "agent"


# --- every line lands in exactly one utterance -------------------------------------------------

_LABELS = ["客服", "客户", "店铺客服", "用户", "Agent", "专员", "系统消息"]
_STAMPS = ["", "2024-07-03 09:15:58 ", "[09:15] ", "(01:23)", "2024年7月3日 09:15 "]
_WORDS = st.text(alphabet="您好请问快递丢了谢谢再见订单退款，。？!", min_size=1, max_size=12)


@st.composite
def _transcripts(draw):
    """(text of a transcript, the message of each of its lines in order: the text a reader must keep).
    A file has one layout: `LABEL:` lines, or a console's header lines (each speaker's header more than
    once, as consoles write them); either with message lines that continue the one before."""
    lines, messages = [], []
    console = draw(st.booleans())
    kinds = (
        ["header", "header", "continuation", "blank"] if console else ["labelled", "labelled", "continuation", "blank"]
    )
    for _ in range(draw(st.integers(1, 12))):
        message = draw(_WORDS).strip() or "好"
        kind = draw(st.sampled_from(kinds))
        stamp = draw(st.sampled_from(_STAMPS))
        label = draw(st.sampled_from(_LABELS))
        if console and not lines:
            kind = "header"
        if kind == "labelled" or (not lines and not console):
            lines.append(f"{stamp}{label}:{message}")
        elif kind == "continuation":
            lines.append(message)
        elif kind == "header":
            lines.append(f"{label} 2024-07-03 09:16:{draw(st.integers(10, 59))}")
            lines.append(message)
            lines.append(f"{label} 2024-07-03 09:17:{draw(st.integers(10, 59))}")  # speakers speak again
            lines.append(message)
            messages.append(message)
        else:
            lines.append("")
            continue
        messages.append(message)
    return "\n".join(lines) + "\n", messages


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(_transcripts())
def test_every_line_lands_in_exactly_one_utterance(tmp_path, default_rubric, case):
    text, messages = case
    path = tmp_path / "call.txt"
    path.write_text(text, encoding="utf-8")
    utterances = read_transcript(path, default_rubric).utterances
    kept = [line for u in utterances for line in u.text.split("\n")]
    assert kept == messages  # in order, none lost, none twice, no stamp or label left in the text


def test_a_trainees_feedback_sheet_says_where_the_call_was_transferred(tmp_path):
    folder = tmp_path / "calls"
    folder.mkdir()
    (folder / "transfer.txt").write_text((FORMATS_DIR / "transfer.txt").read_text(encoding="utf-8"), encoding="utf-8")
    result = CliRunner().invoke(app, ["score", str(folder), "--out", str(tmp_path / "out"), "--format", "text"])
    assert result.exit_code == 0, result.output
    sheets = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "out" / "feedback").glob("*.md"))
    assert "转接: 第4行由「Agent」转给「专员」" in sheets
