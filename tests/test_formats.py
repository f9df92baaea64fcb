"""Every input format, encodings, role inference, and bad input that must never crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callqa.errors import InputError
from callqa.transcripts.reader import ReadOptions, read_transcript

from conftest import ROOT

FORMATS_DIR = ROOT / "tests" / "data" / "formats"
ROLES = ["agent", "customer"] * 5 + ["agent"]
SAMPLE_FORMATS = {
    "generic.json": ("json", "labels"),
    "generic.jsonl": ("jsonl", "labels"),
    "aliyun.json": ("aliyun", "inferred"),
    "tencent.json": ("tencent", "inferred"),
    "funasr.json": ("funasr", "inferred"),
    "call.srt": ("srt", "labels"),
    "call.vtt": ("vtt", "labels"),
    "call.csv": ("csv", "labels"),
    "call.tsv": ("tsv", "inferred"),
    "gb18030.txt": ("text", "labels"),
    "utf16.txt": ("text", "labels"),
}


@pytest.mark.parametrize("name", SAMPLE_FORMATS)
def test_each_format_is_detected_and_read_with_roles_and_times(name, default_rubric):
    transcript = read_transcript(FORMATS_DIR / name, default_rubric)
    fmt, method = SAMPLE_FORMATS[name]
    assert (transcript.format, transcript.roles.method) == (fmt, method)
    assert [u.role for u in transcript.utterances] == ROLES
    assert transcript.utterances[0].text == "您好,工号5106为您服务,请问有什么可以帮您?"
    if name.endswith(".txt"):
        assert transcript.utterances[1].start is None
    else:
        assert (transcript.utterances[1].start, transcript.utterances[1].end) == pytest.approx((2.9, 6.1))
    if method == "inferred":
        assert transcript.roles.confidence >= 0.9
    assert transcript.warnings == ()


@pytest.mark.parametrize(
    "name, line_of_second",
    [
        ("call.srt", 7),
        ("call.vtt", 11),
        ("call.csv", 3),
        ("call.tsv", 3),
        ("generic.jsonl", 2),
        ("aliyun.json", 20),
    ],
)
def test_findings_point_at_the_line_in_the_source_file(name, line_of_second, default_rubric):
    transcript = read_transcript(FORMATS_DIR / name, default_rubric)
    second = transcript.utterances[1]
    source_line = (FORMATS_DIR / name).read_text(encoding="utf-8").splitlines()[second.line - 1]
    assert second.line == line_of_second
    assert "话费怎么多扣" in source_line


def test_whisper_without_speakers_is_scored_with_unknown_roles_and_a_warning(score_text, default_rubric):
    from callqa.scoring.pipeline import score_file

    report = score_file(FORMATS_DIR / "whisper.json", default_rubric)
    assert report.transcript.format == "whisper"
    assert {u.role for u in report.utterances} == {"unknown"}
    assert any("角色未知" in w for w in report.warnings)
    assert 0 < report.score < report.max_score


@pytest.mark.parametrize(
    "options, agent_role_of_first",
    [
        (ReadOptions(agent_speaker="0"), "customer"),  # channel 0 is the customer in this file; forcing it flips
        (ReadOptions(agent_speaker="1"), "agent"),
    ],
)
def test_agent_channel_can_be_forced(default_rubric, options, agent_role_of_first):
    transcript = read_transcript(FORMATS_DIR / "aliyun.json", default_rubric, options)
    assert transcript.utterances[0].role == agent_role_of_first
    assert transcript.roles.method == "forced"


def test_forcing_an_absent_speaker_is_an_input_error(default_rubric):
    with pytest.raises(InputError, match=r"no speaker 'C' in the transcript \(speakers: A, B\)"):
        read_transcript(FORMATS_DIR / "call.tsv", default_rubric, ReadOptions(agent_speaker="C"))


def test_input_format_can_be_forced(write, default_rubric):
    path = write("export.dat", (FORMATS_DIR / "call.csv").read_text(encoding="utf-8"))
    with pytest.raises(InputError, match="no line looks like an utterance"):
        read_transcript(path, default_rubric)  # an unknown extension is read as text
    assert read_transcript(path, default_rubric, ReadOptions(input_format="csv")).format == "csv"


def test_mojibake_and_run_together_turns_from_the_seed(default_rubric):
    transcript = read_transcript(FORMATS_DIR / "mojibake.txt", default_rubric)
    assert (
        "第5行疑似乱码(编码错误),可能应为「客服人員:非常理解您的心情,我查到您本月开通了一个视频会员。」"
        in transcript.warnings
    )
    assert any(w.startswith("第10行有2句话连在一起") for w in transcript.warnings)
    on_line_10 = [(u.speaker, u.role, u.text) for u in transcript.utterances if u.line == 10]
    assert on_line_10 == [("客户", "customer", "没有了,谢谢。"), ("客服", "agent", "不客气,感谢您的来电,再见。")]


def test_mojibake_warning_offers_the_repair_when_it_round_trips(write, default_rubric):
    garbled = "客服人员".encode().decode("gbk")
    transcript = read_transcript(write("call.txt", f"客服:您好\n{garbled}:不客气\n"), default_rubric)
    assert transcript.warnings == ("第2行疑似乱码(编码错误),可能应为「客服人员:不客气」",)


def test_encoding_override(write, default_rubric):
    path = write("call.txt", "客服:您好\n".encode("gb18030"))
    assert read_transcript(path, default_rubric, ReadOptions(encoding="gb18030")).utterances[0].text == "您好"
    with pytest.raises(InputError, match="not valid ascii at byte 0"):
        read_transcript(path, default_rubric, ReadOptions(encoding="ascii"))
    with pytest.raises(InputError, match="unknown encoding 'klingon'"):
        read_transcript(path, default_rubric, ReadOptions(encoding="klingon"))


BAD_INPUTS = {
    "empty.txt": (b"", "no utterances found"),
    "binary.txt": (bytes(range(256)) * 4, "binary file"),
    "truncated.json": (
        '[{"speaker": "客服", "text": "您好"}, {"speaker": "客户", "te'.encode(),
        "invalid JSON: Unterminated string starting at column 53 (truncated file?)",
    ),
    "invalid.json": (b"{'speaker': 1}", "invalid JSON"),
    "wrong_shape.json": (b'{"call": {"id": 7}}', "JSON of an unknown shape"),
    "numbers.json": (b"[1, 2, 3]", "utterances[0] is int, expected an object"),
    "no_text.json": (b'[{"speaker": "A", "start": 1}]', "utterances[0] has no text"),
    "bad_time.json": (b'[{"speaker": "A", "text": "hi", "start": "soon"}]', "utterances[0]"),
    "huge_int.json": (b"[" + b"9" * 5000 + b"]", "invalid JSON"),
    "prose.txt": ("这是一段没有说话人标签的文字。\n第二行。\n".encode(), "no line looks like an utterance"),
    "no_text_column.csv": ("说话人,时间\n客服,1\n".encode(), "no text column"),
    "bad.vtt": ("00:01.000 --> 00:02.000\n客服:您好\n".encode(), "not WebVTT"),
    "long_line.txt": ("客服:" + "好" * 1_048_576 + "\n").encode(),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_is_one_clear_input_error(name, write, default_rubric):
    content = BAD_INPUTS[name]
    data, expected = content if isinstance(content, tuple) else (content, "an utterance of 1,048,576 characters")
    path = write(name, data)
    with pytest.raises(InputError) as caught:
        read_transcript(path, default_rubric)
    message = str(caught.value)
    assert message.startswith(str(path)) and expected in message
    assert "\n" not in message


def test_oversized_file_is_refused_without_reading_it(tmp_path, default_rubric):
    path = tmp_path / "huge.txt"
    with path.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: 50 MB on paper
    with pytest.raises(InputError, match="file is 50 MB, too large for one call"):
        read_transcript(path, default_rubric)


def test_unreadable_file(write, default_rubric, monkeypatch):
    path = write("locked.txt", "客服:您好\n")
    original_open = Path.open

    def deny(self, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied")
        return original_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny)  # root ignores chmod 000, so simulate it
    with pytest.raises(InputError, match="permission denied"):
        read_transcript(path, default_rubric)


def test_cli_batch_with_every_kind_of_bad_file_scores_the_good_ones(tmp_path):
    from typer.testing import CliRunner

    from callqa.cli.app import app

    bad = []
    for name, content in BAD_INPUTS.items():
        path = tmp_path / name
        path.write_bytes(content[0] if isinstance(content, tuple) else content)
        bad.append(str(path))
    good = [str(FORMATS_DIR / n) for n in ("aliyun.json", "call.srt")]
    (tmp_path / "empty_folder").mkdir()
    result = CliRunner().invoke(
        app, ["score", good[0], *bad, str(tmp_path / "empty_folder"), good[1], "--format", "jsonl"]
    )
    assert result.exit_code == 2
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["transcript"]["path"] for r in records if r["schema"] == "callqa.report/1") == good
    assert len([r for r in records if r["schema"] == "callqa.error/1"]) == len(bad)
    errors = result.stderr.splitlines()
    assert len(errors) == len(bad) + 1  # + the folder with no transcripts
    assert all(line.startswith("callqa: error: ") for line in errors)
    assert "Traceback" not in result.stderr
