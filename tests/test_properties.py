"""Property tests: whatever bytes or JSON arrive, the only exception a reader lets out is InputError."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callqa.errors import InputError
from callqa.scoring.pipeline import compile_rubric, score_file
from callqa.transcripts.reader import FORMATS, ReadOptions, read_transcript

COMPILED = compile_rubric()
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EXTENSIONS = (".txt", ".json", ".jsonl", ".srt", ".vtt", ".csv", ".tsv", "")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(
                [
                    "text",
                    "Text",
                    "speaker",
                    "spk",
                    "start",
                    "end",
                    "BeginTime",
                    "EndTime",
                    "ChannelId",
                    "Sentences",
                    "Result",
                    "ResultDetail",
                    "FinalSentence",
                    "StartMs",
                    "SpeakerId",
                    "sentence_info",
                    "segments",
                    "utterances",
                    "time_unit",
                    "x",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=6,
        )
    ),
    max_leaves=25,
)


def read_only_input_errors(data: bytes, suffix: str, fmt: str = "auto") -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"call{suffix}"
        path.write_bytes(data)
        try:
            transcript = read_transcript(path, COMPILED, ReadOptions(input_format=fmt))
        except InputError:
            return
        assert transcript.utterances
        score_file(path, COMPILED, ReadOptions(input_format=fmt))  # and a readable file also scores


@SETTINGS
@given(data=st.binary(max_size=400), suffix=st.sampled_from(EXTENSIONS), fmt=st.sampled_from(FORMATS))
def test_arbitrary_bytes_in_any_format(data, suffix, fmt):
    read_only_input_errors(data, suffix, fmt)


@SETTINGS
@given(value=json_values, fmt=st.sampled_from(["auto", "json", "aliyun", "tencent", "funasr", "whisper"]))
def test_arbitrary_json(value, fmt):
    read_only_input_errors(json.dumps(value, ensure_ascii=False).encode(), ".json", fmt)


@SETTINGS
@given(
    lines=st.lists(
        st.text(alphabet=st.sampled_from("客服户:：[]0123:~#,。 \t\r\n好的嗯WEBVTT-->"), max_size=30), max_size=12
    ),
    suffix=st.sampled_from(EXTENSIONS),
)
def test_arbitrary_text_made_of_transcript_pieces(lines, suffix):
    read_only_input_errors("\n".join(lines).encode(), suffix)
