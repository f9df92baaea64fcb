"""JSON from ASR engines and recording platforms.

- generic: a list (or `{"utterances": [...]}`, or JSON Lines) of `{speaker|role, text, start, end}`;
  times in seconds, or milliseconds with `start_ms` / `end_ms` keys or a top-level `"time_unit": "ms"`.
- aliyun: `{"Sentences": [{"ChannelId", "BeginTime", "EndTime", "Text", …}]}` (ms), also under `Result`.
- tencent: `ResultDetail` / `SentenceDetail` lists of `{"FinalSentence", "StartMs", "EndMs", "SpeakerId"}`,
  also under `Response` / `Data` / `Result`.
- funasr: `{"text", "sentence_info": [{"text", "start", "end", "spk"}]}` (ms), or a list of such.
- whisper: `{"segments": [{"start", "end", "text"}]}` (seconds, no speaker).
Keys match in any case, with or without underscores (`BeginTime`, `begin_time`, `beginTime`).
"""

from __future__ import annotations

import json
from typing import Any

from callqa.errors import InputError
from callqa.transcripts.base import Parsed, RawTurn, check_turn_length, parse_time


def _key(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def _folded(obj: dict[Any, Any]) -> dict[str, Any]:
    return {_key(k): v for k, v in obj.items() if isinstance(k, str)}


def _first(obj: dict[str, Any], *names: str) -> Any:
    for name in names:
        if obj.get(name) is not None:
            return obj[name]
    return None


def _find_list(obj: Any, names: tuple[str, ...], depth: int = 3) -> list[Any] | None:
    """The first list under one of `names`, searching nested objects a few levels down."""
    if not isinstance(obj, dict) or depth < 0:
        return None
    folded = _folded(obj)
    for name in names:
        found = folded.get(name)
        if isinstance(found, list):
            return found
    for value in folded.values():
        found = _find_list(value, names, depth - 1)
        if found is not None:
            return found
    return None


class _LineFinder:
    """The line where each sentence's text stands in the file, searching forward as sentences go."""

    def __init__(self, source: str):
        self.source = source
        self.cursor = 0

    def line_of(self, text: str, fallback: int) -> int:
        for needle in (json.dumps(text, ensure_ascii=False), json.dumps(text)):
            at = self.source.find(needle, self.cursor)
            if at != -1:
                self.cursor = at + len(needle)
                return self.source.count("\n", 0, at) + 1
        return fallback


def _speaker(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value).strip() or None


def _turns(
    items: list[Any],
    path: str,
    source: str,
    *,
    text_keys: tuple[str, ...],
    speaker_keys: tuple[str, ...],
    start_keys: tuple[str, ...],
    end_keys: tuple[str, ...],
    ms: bool,
    what: str,
) -> list[RawTurn]:
    finder = _LineFinder(source)
    turns = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InputError(path, f"{what}[{index}] is {type(item).__name__}, expected an object")
        fields = _folded(item)
        text = _first(fields, *text_keys)
        if text is None:
            raise InputError(path, f"{what}[{index}] has no text", hint=f"expected one of: {', '.join(text_keys)}")
        if not isinstance(text, str):
            raise InputError(path, f"{what}[{index}] text is {type(text).__name__}, expected a string")
        item_ms = ms or any(k.endswith("ms") for k in fields if k in start_keys + end_keys)
        try:
            start = parse_time(_first(fields, *start_keys), milliseconds=item_ms)
            end = parse_time(_first(fields, *end_keys), milliseconds=item_ms)
        except (TypeError, ValueError) as exc:
            raise InputError(path, f"{what}[{index}]: {exc}") from None
        if not text.strip():
            continue
        turn = RawTurn(
            line=finder.line_of(text, index + 1),
            speaker=_speaker(_first(fields, *speaker_keys)),
            text=text.strip(),
            start=start,
            end=end,
        )
        check_turn_length(path, turn)
        turns.append(turn)
    return turns


_GENERIC = dict(
    text_keys=("text", "content", "sentence", "transcript", "utterance"),
    speaker_keys=("speaker", "role", "spk", "speakerid", "channel", "channelid", "name"),
    start_keys=("start", "begin", "starttime", "begintime", "startms", "beginms"),
    end_keys=("end", "stop", "endtime", "endms", "stopms"),
)


def _detect(data: Any) -> str | None:
    if isinstance(data, list):
        if data and isinstance(data[0], dict) and "sentenceinfo" in _folded(data[0]):
            return "funasr"
        return "json"
    if not isinstance(data, dict):
        return None
    if _find_list(data, ("sentences",)) is not None:
        return "aliyun"
    if _find_list(data, ("resultdetail", "sentencedetail")) is not None:
        return "tencent"
    if _find_list(data, ("sentenceinfo",)) is not None:
        return "funasr"
    if _find_list(data, ("segments",), depth=0) is not None:
        return "whisper"
    if _find_list(data, ("utterances", "turns", "dialogue", "dialog", "transcript"), depth=0) is not None:
        return "json"
    return None


def load_json(source: str, path: str, *, lines: bool = False) -> Any:
    if lines:
        items = []
        for number, line in enumerate(source.splitlines(), start=1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise InputError(path, f"invalid JSON Lines: {_where(exc)}", line=number) from None
                except (RecursionError, ValueError) as exc:  # ValueError: an integer of over 4,300 digits
                    raise InputError(path, f"invalid JSON Lines: {_reason(exc)}", line=number) from None
        return items
    try:
        return json.loads(source)
    except json.JSONDecodeError as exc:
        raise InputError(
            path,
            f"invalid JSON: {_where(exc)}",
            line=exc.lineno,
            hint="truncated file?"
            if exc.pos >= len(source.rstrip()) - 1 or exc.msg.startswith("Unterminated")
            else None,
        ) from None
    except (RecursionError, ValueError) as exc:
        raise InputError(path, f"invalid JSON: {_reason(exc)}") from None


def _where(exc: json.JSONDecodeError) -> str:
    """json's message with its column: some of them end in "at" and say where only with it."""
    return f"{exc.msg} column {exc.colno}" if exc.msg.endswith(" at") else f"{exc.msg} (column {exc.colno})"


def _reason(exc: Exception) -> str:
    return "too deeply nested" if isinstance(exc, RecursionError) else str(exc).split(";")[0]


def parse_json(source: str, path: str, format: str = "auto") -> Parsed:
    """`format`: auto, json, jsonl, aliyun, tencent, funasr or whisper."""
    data = load_json(source, path, lines=format == "jsonl")
    kind = "json" if format == "jsonl" else _detect(data) if format == "auto" else format
    if kind is None:
        raise InputError(
            path,
            "JSON of an unknown shape",
            hint="expected a list of {speaker, text, start, end}, or ASR output with Sentences, "
            "ResultDetail, sentence_info or segments",
        )
    ms = isinstance(data, dict) and str(_folded(data).get("timeunit", "")).lower() in (
        "ms",
        "millisecond",
        "milliseconds",
    )
    if kind == "json":
        items = (
            data
            if isinstance(data, list)
            else _find_list(data, ("utterances", "turns", "dialogue", "dialog", "transcript"), 0)
        )
        turns = _turns(items or [], path, source, ms=ms, what="utterances", **_GENERIC)
    elif kind == "aliyun":
        turns = _turns(
            _find_list(data, ("sentences",)) or [],
            path,
            source,
            text_keys=("text",),
            speaker_keys=("channelid", "speakerid"),
            start_keys=("begintime",),
            end_keys=("endtime",),
            ms=True,
            what="Sentences",
        )
    elif kind == "tencent":
        turns = _turns(
            _find_list(data, ("resultdetail", "sentencedetail")) or [],
            path,
            source,
            text_keys=("finalsentence", "text"),
            speaker_keys=("speakerid", "channelid"),
            start_keys=("startms",),
            end_keys=("endms",),
            ms=True,
            what="ResultDetail",
        )
    elif kind == "funasr":
        root = data[0] if isinstance(data, list) and data else data
        turns = _turns(
            _find_list(root, ("sentenceinfo",)) or [],
            path,
            source,
            text_keys=("text", "sentence"),
            speaker_keys=("spk", "speaker"),
            start_keys=("start",),
            end_keys=("end",),
            ms=True,
            what="sentence_info",
        )
    elif kind == "whisper":
        turns = _turns(
            _find_list(data, ("segments",), 0) or [],
            path,
            source,
            text_keys=("text",),
            speaker_keys=("speaker",),
            start_keys=("start",),
            end_keys=("end",),
            ms=False,
            what="segments",
        )
    else:
        raise InputError(path, f"unknown JSON format '{format}'")
    return Parsed(format="jsonl" if format == "jsonl" else kind, turns=turns)
