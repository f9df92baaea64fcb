"""CSV / TSV with a header row naming the speaker, text and (optionally) time columns.

Recognised header names (any case): speaker / role / spk / channel / 说话人 / 角色 / 发言人;
text / content / sentence / 内容 / 文本 / 话术; start / begin / 开始 / 开始时间; end / stop / 结束 / 结束时间.
Times are seconds or clock strings (01:02); a header ending in `_ms` or `(ms)` means milliseconds.
"""

from __future__ import annotations

import csv
import io

from callqa.errors import InputError
from callqa.transcripts.base import Parsed, RawTurn, check_turn_length, parse_time

_COLUMNS = {
    "speaker": ("speaker", "role", "spk", "channel", "channelid", "speakerid", "说话人", "角色", "发言人", "说话方"),
    "text": ("text", "content", "sentence", "utterance", "transcript", "内容", "文本", "话术", "识别结果"),
    "start": ("start", "begin", "starttime", "begintime", "start_ms", "begin_ms", "开始", "开始时间", "起始时间"),
    "end": ("end", "stop", "endtime", "end_ms", "stop_ms", "结束", "结束时间", "终止时间"),
}


def _normal(header: str) -> str:
    return header.strip().lstrip("\ufeff").lower().replace(" ", "").replace("(ms)", "_ms").replace("（ms）", "_ms")


def parse_table(source: str, path: str, delimiter: str) -> Parsed:
    csv.field_size_limit(1 << 24)
    rows = csv.reader(io.StringIO(source, newline=""), delimiter=delimiter)
    try:
        header = next(rows, None)
        if header is None:
            raise InputError(path, "empty table")
        names = [_normal(h) for h in header]
        columns: dict[str, int] = {}
        for field, aliases in _COLUMNS.items():
            for i, name in enumerate(names):
                if name in aliases or name.replace("_ms", "") in aliases:
                    columns.setdefault(field, i)
        if "text" not in columns:
            raise InputError(
                path,
                "no text column in the header",
                line=1,
                hint=f"name one of: {', '.join(_COLUMNS['text'][:5])}, 内容, 文本",
            )
        ms = {f: names[i].endswith("_ms") for f, i in columns.items()}
        turns = []

        def cell(row: list[str], field: str) -> str | None:
            i = columns.get(field)
            return row[i].strip() if i is not None and i < len(row) else None

        for row in rows:
            line = rows.line_num
            if not any(value.strip() for value in row):
                continue
            text = cell(row, "text")
            if not text:
                continue
            try:
                start = parse_time(cell(row, "start"), milliseconds=ms.get("start", False))
                end = parse_time(cell(row, "end"), milliseconds=ms.get("end", False))
            except ValueError as exc:
                raise InputError(path, str(exc), line=line) from None
            turn = RawTurn(line=line, speaker=cell(row, "speaker") or None, text=text, start=start, end=end)
            check_turn_length(path, turn)
            turns.append(turn)
    except csv.Error as exc:
        raise InputError(
            path, f"malformed {'TSV' if delimiter == chr(9) else 'CSV'}: {exc}", line=rows.line_num
        ) from None
    return Parsed(format="tsv" if delimiter == "\t" else "csv", turns=turns)
