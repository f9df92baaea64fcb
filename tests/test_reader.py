"""Reading text transcripts: labels, timestamps, roles, encodings, normalisation."""

from __future__ import annotations

import pytest

from callqa.errors import InputError
from callqa.transcripts.reader import read_transcript


def read(write, default_rubric, text, name="call.txt"):
    return read_transcript(write(name, text), default_rubric)


@pytest.mark.parametrize(
    "line, start, end",
    [
        ("[00:05] 客服:您好", 5.0, None),
        ("[01:02:03] 客服:您好", 3723.0, None),
        ("00:07 客服:您好", 7.0, None),
        ("0:01~0:04 客服:您好", 1.0, 4.0),
        ("[0:01~0:04] 客服:您好", 1.0, 4.0),
        ("客服:您好", None, None),
    ],
)
def test_timestamps_are_parsed_and_removed_from_the_text(write, default_rubric, line, start, end):
    (utterance,) = read(write, default_rubric, line + "\n").utterances
    assert (utterance.start, utterance.end) == (start, end)
    assert utterance.text == "您好"
    assert utterance.speaker == "客服"


@pytest.mark.parametrize(
    "label, role",
    [
        ("客服", "agent"),
        ("客服人员", "agent"),
        ("坐席", "agent"),
        ("工号1234", "agent"),
        ("客服小王", "agent"),
        ("客服人員", "agent"),
        ("Agent", "agent"),
        ("客户", "customer"),
        ("用户", "customer"),
        ("顾客", "customer"),
        ("来电人", "customer"),
        ("客戶", "customer"),
        ("張三", "unknown"),
    ],
)
def test_speaker_labels_map_to_roles(write, default_rubric, label, role):
    (utterance,) = read(write, default_rubric, f"{label}:你好\n").utterances
    assert utterance.role == role
    assert utterance.speaker == label


def test_full_and_half_width_colons(write, default_rubric):
    utterances = read(write, default_rubric, "客服:您好\n客户：喂\n").utterances
    assert [(u.role, u.text) for u in utterances] == [("agent", "您好"), ("customer", "喂")]


def test_bom_crlf_and_blank_lines_keep_true_line_numbers(write, default_rubric):
    data = "\ufeff客服:您好\r\n\r\n\r\n客户:喂\r\n".encode()
    utterances = read(write, default_rubric, data).utterances
    assert [(u.line, u.speaker, u.text) for u in utterances] == [(1, "客服", "您好"), (4, "客户", "喂")]


def test_gb18030_file_is_read(write, default_rubric):
    utterances = read(write, default_rubric, "客服:您好,请问有什么可以帮您\n".encode("gb18030")).utterances
    assert utterances[0].text == "您好,请问有什么可以帮您"


def test_a_big5_file_is_read_as_big5_not_as_gb18030_mojibake(write, default_rubric):
    """Big5 bytes also decode as GB18030, into rare characters (您好 -> 眤): a Traditional call saved
    in Big5 must read as itself, scored and without a mojibake warning."""
    text = "客服人員:您好,很高興為您服務,請問有什麼可以幫您?\n民眾:我的網路斷了兩天,一直沒有人處理。\n"
    transcript = read(write, default_rubric, text.encode("big5"))
    assert transcript.encoding == "big5"
    assert [u.text for u in transcript.utterances] == [line.split(":", 1)[1] for line in text.splitlines()]
    assert not [w for w in transcript.warnings if "乱码" in w]
    assert read(write, default_rubric, text.encode("gb18030"), name="gb.txt").encoding == "gb18030"


def test_matching_text_is_normalised_but_the_original_is_kept(write, default_rubric):
    (utterance,) = read(write, default_rubric, "客服人員:您好，工號１２３４為您服務 嗯 ABC\n").utterances
    assert utterance.text == "您好，工號１２３４為您服務 嗯 ABC"
    assert utterance.norm == "您好,工号1234为您服务abc"  # Simplified, half width, no spaces or fillers
    start = utterance.norm.index("工号")
    assert utterance.text[slice(*utterance.original_span(start, start + 6))] == "工號１２３４"


@pytest.mark.parametrize(
    "texts, norms",
    [
        (["乾", "隆"], ["干", "隆"]),  # 乾隆 is a phrase only within one utterance
        (["頭⿰", "頭髮"], ["头⿰", "头发"]),  # OpenCC keeps an IDS (⿰…) whole, even across a newline
        (["⿱", "乾", "頭"], ["⿱", "干", "头"]),
    ],
)
def test_each_utterance_is_converted_to_simplified_on_its_own(write, default_rubric, texts, norms):
    text = "".join(f"{'客服' if i % 2 else '客户'}:{t}\n" for i, t in enumerate(texts))
    assert [u.norm for u in read(write, default_rubric, text).utterances] == norms


def test_an_unlabelled_line_continues_the_message_before_it(write, default_rubric):
    utterances = read(write, default_rubric, "客服:您好\n请问有什么可以帮您\n客户:我的快递\n\n一直没到\n").utterances
    assert [(u.line, u.role, u.text) for u in utterances] == [
        (1, "agent", "您好\n请问有什么可以帮您"),
        (3, "customer", "我的快递\n一直没到"),
    ]


def test_consecutive_labelled_messages_of_one_speaker_stay_apart(write, default_rubric):
    utterances = read(write, default_rubric, "客户:在吗\n客户:我的快递一直没到\n").utterances
    assert [u.text for u in utterances] == ["在吗", "我的快递一直没到"]


def test_a_message_never_continues_across_a_stage_marker(write, default_rubric):
    utterances = read(write, default_rubric, "## 问候\n客服:您好\n## 切入\n请问有什么可以帮您\n").utterances
    assert [(u.text, u.given_stage) for u in utterances] == [("您好", "问候"), ("请问有什么可以帮您", "切入")]


def test_comment_lines_are_skipped_and_stage_markers_recorded(write, default_rubric):
    text = "# 一通测试电话\n## 问候\n客服:您好\n## 轉化\n客服:理解您\n"
    utterances = read(write, default_rubric, text).utterances
    assert [(u.text, u.given_stage) for u in utterances] == [("您好", "问候"), ("理解您", "转化")]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no utterances found"),
        ("\n\n   \n", "no utterances found"),
        ("## 协议\n客服:好的\n## 切入\n客户:嗯\n", "stages never go back"),
        ("## 寒暄\n客服:您好\n", "unknown stage marker"),
    ],
)
def test_unusable_text_is_an_input_error_naming_the_file(write, default_rubric, text, message):
    with pytest.raises(InputError) as caught:
        read(write, default_rubric, text)
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(write("call.txt", text)))


def test_binary_missing_and_directory_inputs_are_input_errors(write, default_rubric, tmp_path):
    cases = [write("bin.txt", b"\x00\x01\x02\xff" * 10), tmp_path / "missing.txt", tmp_path]
    messages = []
    for path in cases:
        with pytest.raises(InputError) as caught:
            read_transcript(path, default_rubric)
        messages.append(caught.value.message)
    assert messages == ["binary file, not a transcript", "no such file", "is a directory, not a transcript file"]


def test_a_lone_surrogate_from_a_json_escape_is_one_clear_error(write, default_rubric):
    """JSON may escape half a character (a broken encoder's "\\ud800"): one line naming the file and
    line, not an internal error from the Traditional-to-Simplified conversion."""
    with pytest.raises(InputError) as caught:
        read(write, default_rubric, '{"utterances": [{"speaker": "客服", "text": "您好\\ud800"}]}', "call.json")
    assert "call.json:1" in str(caught.value) and "surrogate" in str(caught.value)
