"""SRT and WebVTT subtitles. The speaker is a `客服:` prefix in the cue text or a VTT `<v 客服>` voice tag."""

from __future__ import annotations

import re

from callqa.errors import InputError
from callqa.transcripts.base import Parsed, RawTurn, check_turn_length, parse_time

_CUE_TIME = re.compile(
    r"^\s*(?P<start>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*(?P<end>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})"
)
_VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+(?P<speaker>[^>]+)>")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>|\{\\[^}]*\}")  # <i>, </v>, <c.red>, {\an8}
_PREFIX = re.compile(r"^(?P<speaker>[^:：\s,，。!！?？]{1,16})\s*[:：]\s*(?P<text>.*)$", re.S)


def parse_subtitles(source: str, path: str, format: str) -> Parsed:
    lines = source.splitlines()
    if format == "vtt" and (not lines or not lines[0].lstrip("\ufeff").startswith("WEBVTT")):
        raise InputError(path, "not WebVTT: the first line must be WEBVTT")
    turns: list[RawTurn] = []
    index = 0
    while index < len(lines):
        timing = _CUE_TIME.match(lines[index])
        if not timing:
            vtt_block = format == "vtt" and lines[index].strip() in ("NOTE", "STYLE", "REGION")
            if vtt_block or lines[index].startswith("NOTE "):
                while index < len(lines) and lines[index].strip():
                    index += 1  # skip the block
            index += 1
            continue
        cue_line = index + 2
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].strip():
            body.append(lines[index].strip())
            index += 1
        text = " ".join(body)
        speaker = None
        voice = _VOICE.search(text)
        if voice:
            speaker = voice["speaker"].strip()
        text = _TAG.sub("", text).strip()
        prefixed = _PREFIX.match(text)
        if speaker is None and prefixed:
            speaker, text = prefixed["speaker"], prefixed["text"].strip()
        if not text:
            continue
        try:
            start, end = parse_time(timing["start"]), parse_time(timing["end"])
        except ValueError as exc:
            raise InputError(path, str(exc), line=cue_line - 1) from None
        turn = RawTurn(line=cue_line, speaker=speaker, text=text, start=start, end=end)
        check_turn_length(path, turn)
        turns.append(turn)
    return Parsed(format=format, turns=turns)
