"""Read a transcript in any supported format into utterances with roles and normalised text.

Formats are detected from the extension and the content, or forced with `input_format`:
text, json, jsonl, aliyun, tencent, funasr, whisper, srt, vtt, csv, tsv.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from callqa.errors import InputError
from callqa.model import RoleInfo, Transcript, Utterance
from callqa.text.normalize import normalize_all
from callqa.transcripts.asr_json import parse_json
from callqa.transcripts.base import Parsed, SpeakerVocabulary
from callqa.transcripts.roles import assign_roles
from callqa.transcripts.source import STDIN, STDIN_NAME, decode, mojibake_warnings, read_bytes
from callqa.transcripts.subtitles import parse_subtitles
from callqa.transcripts.table import parse_table
from callqa.transcripts.text import parse_text

FORMATS = ("auto", "text", "json", "jsonl", "aliyun", "tencent", "funasr", "whisper", "srt", "vtt", "csv", "tsv")
_BY_EXTENSION = {
    ".json": "auto-json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".srt": "srt",
    ".vtt": "vtt",
    ".csv": "csv",
    ".tsv": "tsv",
}
#: Extensions that always mean a transcript, and every extension a transcript may have.
STRUCTURED_SUFFIXES = frozenset(_BY_EXTENSION)
TRANSCRIPT_SUFFIXES = frozenset({".txt", *_BY_EXTENSION})
_SRT_START = re.compile(r"^\s*\d+\s*\n\s*(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3}\s*-->")
_MAX_WARNINGS = 20
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class ReadOptions:
    input_format: str = "auto"
    encoding: str | None = None
    agent_speaker: str | None = None  # --agent-speaker, or --agent-channel N as "N"


_LINE_ENDS = re.compile(r"\r\n?")


def detect_format(path: Path, text: str) -> str:
    by_extension = _BY_EXTENSION.get(path.suffix.lower())
    if by_extension is not None:
        return by_extension
    head = text.lstrip("\ufeff \t\r\n")[:200]
    if head.startswith("WEBVTT"):
        return "vtt"
    if _SRT_START.match(head.replace("\r\n", "\n")):
        return "srt"
    # A JSON list opens with an object, a list, a string or nothing: `[00:01]` and `[图片]` open text lines.
    if head.startswith("{") or re.match(r"\[\s*[\[{\"\]]", head):
        return "auto-json"
    return "text"


def parse(text: str, path: Path, fmt: str, vocabulary: SpeakerVocabulary) -> Parsed:
    name = str(path)
    if fmt in ("auto-json", "json", "jsonl", "aliyun", "tencent", "funasr", "whisper"):
        return parse_json(text, name, "auto" if fmt == "auto-json" else fmt)
    if fmt in ("srt", "vtt"):
        return parse_subtitles(text, name, fmt)
    if fmt in ("csv", "tsv"):
        return parse_table(text, name, "\t" if fmt == "tsv" else ",")
    return parse_text(text, name, lambda label: vocabulary.role_of(label) != "unknown")


def read_transcript(
    path: str | Path, vocabulary: SpeakerVocabulary, options: ReadOptions = ReadOptions()
) -> Transcript:
    path = Path(path)
    if options.input_format not in FORMATS:
        raise InputError(path, f"unknown input format '{options.input_format}'", hint=f"one of {', '.join(FORMATS)}")
    data = read_bytes(path)
    if str(path) == STDIN:
        path = Path(STDIN_NAME)  # what reports and errors call it
    text, encoding = decode(data, str(path), options.encoding)
    return transcript_from_text(text, path, vocabulary, options, encoding=encoding)


def transcript_from_text(
    text: str,
    path: str | Path,
    vocabulary: SpeakerVocabulary,
    options: ReadOptions = ReadOptions(),
    *,
    encoding: str | None = None,
) -> Transcript:
    """A transcript from text already decoded (a file's, or a rubric example's)."""
    path = Path(path)
    fmt = detect_format(path, text) if options.input_format == "auto" else options.input_format
    parsed = parse(text, path, fmt, vocabulary)
    if not parsed.turns:
        raise InputError(path, "no utterances found", hint="expected lines like 客服:您好…, or a supported ASR format")
    for turn in parsed.turns:  # a JSON escape such as "\ud800" can carry half a character into the text
        if _SURROGATE.search(turn.text):
            raise InputError(
                path,
                "text holds a lone surrogate (\\ud800-\\udfff), half of a character",
                line=turn.line,
                hint="the file was written by a broken encoder; re-export it as UTF-8",
            )

    warnings = [*parsed.warnings, *mojibake_warnings(text)]
    norms = normalize_all([turn.text for turn in parsed.turns], vocabulary.fillers)
    try:
        assignment = assign_roles(parsed.turns, [n.text for n in norms], vocabulary, options.agent_speaker)
    except InputError as exc:
        raise InputError(path, exc.message, hint=exc.hint) from None
    if assignment.warning:
        warnings.append(assignment.warning)
    if len(warnings) > _MAX_WARNINGS:
        warnings[_MAX_WARNINGS:] = [f"另有 {len(warnings) - _MAX_WARNINGS} 条警告未列出"]

    utterances = []
    for index, (turn, norm, role) in enumerate(zip(parsed.turns, norms, assignment.roles, strict=True)):
        utterances.append(
            Utterance(
                index=index,
                line=turn.line,
                speaker=turn.speaker or "",
                role=role,
                text=turn.text,
                norm=norm.text,
                norm_index=norm.index,
                start=turn.start,
                end=turn.end,
                given_stage=turn.given_stage,
            )
        )
    return Transcript(
        path=str(path),
        format=parsed.format,
        utterances=tuple(utterances),
        warnings=tuple(warnings),
        roles=RoleInfo(
            assignment.method,
            assignment.agent,
            assignment.confidence,
            speakers=assignment.speakers,
            transfers=assignment.transfers,
        ),
        encoding=encoding,
        agent_name=parsed.agent_name,
        team=parsed.team,
        call_date=parsed.call_date,
        # Of the text with Unix line ends: a copy saved on Windows (CRLF) is the same transcript too.
        sha256=hashlib.sha256(_LINE_ENDS.sub("\n", text).encode("utf-8", "surrogatepass")).hexdigest(),
    )
