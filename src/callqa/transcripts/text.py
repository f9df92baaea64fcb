"""Plain-text transcripts.

One utterance per line, `ROLE:TEXT` (half- or full-width colon), optionally led by a stamp: a call
offset (`[mm:ss]`, `[hh:mm:ss]`, `mm:ss`, a range `0:01~0:04`, `(01:23)`, `【09:15】`) or a chat
console's date and time (`2024-07-03 09:15:58`, `2024/7/3 9:15`, `2024年7月3日 09:15`, bracketed or
not, with or without a space before the label). A date-time becomes the utterance's time in seconds
since the call's first date-time, so timing checks work on chats too; it is never part of the text or
the speaker.

Chat consoles also export a two-line layout: a header line with the speaker and the stamp
(`店铺客服 2024-07-03 09:16:58`, or the stamp first) and the message on the line(s) below.

A line with no speaker label continues the message before it (one utterance, its lines joined with a
newline); a stamp with no label starts a new message of the same speaker. Blank lines are skipped.
Lines starting with `#` are comments, except stage markers (`## 切入` puts every following utterance
in that stage until the next marker; a message never continues across one) and the agent header
(`# agent: 张三`, also `# 坐席:` / `# 学员:`), which names whose call it is. Two turns run together on
one line (`…谢谢你啊客服:不客气`) are split where a known speaker label starts, one that also starts
a line of the file (so that `售后服务电话:400…` inside a message stays text).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from callqa.errors import InputError
from callqa.model import STAGES
from callqa.text.normalize import to_simplified
from callqa.transcripts.base import Parsed, RawTurn, check_turn_length, clock_seconds

_CLOCK = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?"
_RANGE_SEP = r"\s*(?:~|～|-|–|—|至|-->)\s*"
_DATE = (
    r"(?P<year>\d{4})\s*(?:[-/.]\s*(?P<month>\d{1,2})\s*[-/.]\s*(?P<day>\d{1,2})"
    r"|年\s*(?P<month2>\d{1,2})\s*月\s*(?P<day2>\d{1,2})\s*[日号]?)"
)
_ZONE = r"(?:Z|[+-]\d{2}:?\d{2})"  # ISO 8601's zone, ignored: one chat has one
_DATE_TIME = rf"{_DATE}(?:\s*T?\s*(?P<clock>{_CLOCK}){_ZONE}?)?"
_OFFSET = rf"(?P<start>{_CLOCK})(?:{_RANGE_SEP}(?P<end>{_CLOCK}))?"
_STAMP_BODY = rf"(?:{_DATE_TIME}|{_OFFSET})"
_BRACKETS = {"[": "]", "(": ")", "（": "）", "【": "】"}
_STAMP = re.compile(rf"\s*(?P<open>[\[(（【]?)\s*{_STAMP_BODY}\s*(?P<close>[\])）】]?)\s*")
# A label is short and has no sentence punctuation: 客服, 客服人員, 工号1234, 客服小王, Agent.
_LABEL_CHARS = r"[^:：\s,，。.!！?？、;；\"“”'()（）\[\]【】]"
_LABELLED = re.compile(rf"^(?P<speaker>{_LABEL_CHARS}{{1,16}})\s*[:：]\s*(?P<text>.*)$")
_HEADER_LABEL = re.compile(rf"^(?P<speaker>{_LABEL_CHARS}{{1,16}})$")
_INNER_LABEL = re.compile(rf"(?P<label>{_LABEL_CHARS}{{2,8}})[:：]")
_MARKER = re.compile(r"^\s*##\s*(?P<stage>\S+)\s*$")
# `# agent: 张三` names the agent or trainee the call belongs to (for batch grouping).
_AGENT_HEADER = re.compile(r"^#\s*(?:agent|trainee|坐席|客服|学员|员工)\s*[:：]\s*(?P<name>\S.*?)\s*$", re.IGNORECASE)
_TEAM_HEADER = re.compile(r"^#\s*(?:team|团队|班组|小组|组别)\s*[:：]\s*(?P<name>\S.*?)\s*$", re.IGNORECASE)
_DATE_HEADER = re.compile(
    r"^#\s*(?:date|日期|通话日期|通话时间)\s*[:：]\s*(?P<year>\d{4})[-/.年](?P<month>\d{1,2})[-/.月](?P<day>\d{1,2})",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Stamp:
    """A stamp as written: a call offset (start, end in seconds) or a chat's wall-clock time."""

    length: int  # characters it takes at the start of the line, spaces after it included
    start: float | None = None
    end: float | None = None
    moment: datetime | None = None  # a date-time; seconds come from the call's first one
    clocked: bool = False  # the date-time has a time of day
    clock: str | None = None  # a bare `09:15` as written: a time of day once the call has a date
    bracketed: bool = False  # [09:15], (01:23), 【09:15】: a stamp even at the start of a message line


def _stamp_at(line: str, pos: int = 0) -> Stamp | None:
    match = _STAMP.match(line, pos)
    if match is None:
        return None
    opened, closed = match["open"], match["close"]
    if _BRACKETS.get(opened, "") != closed:  # `[09:15` or `09:15)`: not a stamp
        return None
    length = match.end() - pos
    bracketed = bool(opened)
    if match["year"]:
        month, day = match["month"] or match["month2"], match["day"] or match["day2"]
        hour = minute = second = 0
        if match["clock"]:
            parts = [float(p) for p in match["clock"].replace(",", ".").split(":")]
            hour, minute = int(parts[0]), int(parts[1])
            second = int(parts[2]) if len(parts) > 2 else 0
        try:
            moment = datetime(int(match["year"]), int(month), int(day), hour, minute, second)
        except ValueError:  # 2024-13-45: a number, not a date
            return None
        return Stamp(length, moment=moment, clocked=bool(match["clock"]), bracketed=bracketed)
    # A call offset. Its digits (\d: any that float() reads) make a time under 100 hours, which
    # parse_time would accept as it is: the clock is read directly.
    start, end = match["start"], match["end"]
    return Stamp(
        length,
        start=clock_seconds(start),
        end=clock_seconds(end) if end else None,
        clock=None if end else start,
        bracketed=bracketed,
    )


def _header_speaker(line: str, stamp: Stamp | None, is_label: Callable[[str], bool]) -> tuple[str, Stamp] | None:
    """The speaker and stamp of a chat console's header line (`店铺客服 2024-07-03 09:16:58`, or the
    stamp first), whose message follows on the next lines; `stamp` is the one the line opens with. A
    label no rubric knows counts only beside a full date and time, so that a message such as
    `明天 10:30` is never taken for a header."""
    found: tuple[str, Stamp] | None = None
    if stamp is not None:  # the stamp first: `2024-07-03 09:16:58 店铺客服`
        found = line[stamp.length :].strip(), stamp
    else:  # the label first; the shortest label after which a stamp runs to the line's end
        for cut in range(1, min(len(line), 17)):
            tail = _stamp_at(line, cut)
            if tail is not None and cut + tail.length == len(line):
                found = line[:cut].strip(), tail
                break
    if found is None or not _HEADER_LABEL.match(found[0]):
        return None
    label, at = found
    return found if is_label(label) or (at.moment is not None and at.clocked) else None


def _stamp_and_label(line: str) -> tuple[Stamp | None, re.Match[str] | None]:
    """The stamp a line opens with, and the `LABEL:TEXT` after it."""
    stamp = _stamp_at(line)
    return stamp, _LABELLED.match(line[stamp.length :] if stamp else line)


def speaker_label(line: str) -> str | None:
    """The speaker label of a `ROLE:TEXT` line or a console header, after any stamp; None when none."""
    line = line.strip()
    stamp, labelled = _stamp_and_label(line)
    if labelled is not None:
        return labelled["speaker"]
    header = _header_speaker(line, stamp, lambda _: False)
    return header[0] if header else None


def _split_run_together(text: str, is_label: Callable[[str], bool]) -> list[tuple[str | None, str]]:
    """Split `谢谢你啊客服:不客气` into ("谢谢你啊") and ("客服", "不客气"): the shortest known label
    that ends right before a colon starts a new turn."""
    if ":" not in text and "：" not in text:  # most messages: no label can end here, skip the regex scan
        return [(None, text)]
    pieces: list[tuple[str | None, str]] = []
    speaker: str | None = None
    cursor = 0
    for match in _INNER_LABEL.finditer(text):
        candidate = match["label"]
        label = next((candidate[i:] for i in range(len(candidate) - 2, -1, -1) if is_label(candidate[i:])), None)
        if label is None or not text[match.end() :].strip():
            continue
        label_start = match.end() - 1 - len(label)
        if label_start <= cursor:
            continue
        pieces.append((speaker, text[cursor:label_start]))
        speaker, cursor = label, match.end()
    pieces.append((speaker, text[cursor:]))
    return pieces


class _Reader:
    """The state of reading one text transcript, line by line (see the module docstring)."""

    def __init__(self, path: str, is_label: Callable[[str], bool], labels: LabelCounts) -> None:
        self.path = path
        self.is_label = is_label
        self.labels = labels
        self.is_inner_label = lambda label: label in labels.colon and is_label(label)
        self.turns: list[RawTurn] = []
        self.warnings: list[str] = []
        self.given_stage: str | None = None
        self.agent_name: str | None = None
        self.team: str | None = None
        self.call_date: date | None = None  # from a `# date:` header
        self.speaker: str | None = None
        self.open_turn: RawTurn | None = None  # the message an unlabelled line continues
        self.header: Stamp | None = None  # a console header line whose message has not come yet
        self.two_line = False  # a console header was seen: `地址:…` in a message is text, not a label
        self.origin: datetime | None = None  # the call's first date-time
        self.last: datetime = datetime.min  # the latest one

    def times(self, stamp: Stamp | None) -> tuple[float | None, float | None]:
        if stamp is None:
            return None, None
        moment = stamp.moment
        if moment is None and self.origin is not None and stamp.clock is not None:
            moment = self._time_of_day(stamp.clock)  # `09:16` in a chat whose first stamp had a date
        if moment is None:
            return stamp.start, stamp.end
        if self.origin is None:
            self.origin = moment
        self.last = moment
        seconds = (moment - self.origin).total_seconds()
        return (seconds if 0 <= seconds <= 1e7 else None), None  # 1e7 s: what parse_time accepts

    def _time_of_day(self, clock: str) -> datetime | None:
        parts = [int(float(p)) for p in clock.replace(",", ".").split(":")]
        hour, minute, second = [*parts, 0][:3]
        try:
            moment = self.last.replace(hour=hour, minute=minute, second=second)
            return moment + timedelta(days=1) if moment < self.last - timedelta(hours=12) else moment  # midnight
        except (ValueError, OverflowError):  # 25:00, or a 0001-01-01 / 9999-12-31 placeholder date
            return None

    def comment(self, line: str, line_number: int) -> None:
        header = _AGENT_HEADER.match(line)
        if header and self.agent_name is None:
            self.agent_name = header["name"]
        team = _TEAM_HEADER.match(line)
        if team and self.team is None:
            self.team = team["name"]
        day = _DATE_HEADER.match(line)
        if day and self.call_date is None:
            try:
                self.call_date = date(int(day["year"]), int(day["month"]), int(day["day"]))
            except ValueError:
                self.warnings.append(f"line {line_number}: '{line.strip()}' is not a date; ignored")
        marker = _MARKER.match(line)
        if not marker:
            return
        stage = to_simplified(marker["stage"])
        if stage not in STAGES:
            raise InputError(
                self.path,
                f"unknown stage marker '{marker['stage']}'",
                line=line_number,
                hint=f"use one of {' '.join(STAGES)}",
            )
        if self.given_stage is not None and STAGES.index(stage) < STAGES.index(self.given_stage):
            raise InputError(
                self.path,
                f"stage marker '{marker['stage']}' after {self.given_stage}: stages never go back",
                line=line_number,
            )
        self.given_stage = stage
        self.open_turn = None  # a message never runs across a stage marker

    def line(self, line: str, line_number: int, stamp: Stamp | None, labelled: re.Match[str] | None) -> None:
        """`stamp` and `labelled` as `_stamp_and_label(line)` gives them."""
        rest = line[stamp.length :] if stamp else line
        if labelled and self.two_line and not self.labels.is_speaker(labelled["speaker"]):
            labelled = None  # `收货地址:北京市…` or `客服电话:400…` inside a console message
        if labelled is None:
            header = _header_speaker(line, stamp, self.is_label)
            if header is not None and (
                self.labels.is_header(header[0])
                or (self.is_label(header[0]) and header[1].moment is not None and header[1].clocked)
            ):
                self.speaker, self.header = header
                self.two_line, self.open_turn = True, None
                return
            if stamp is not None and not stamp.bracketed:  # `2024年7月1日买的…`, `15:00` in a message: text
                stamp, rest = None, line
        if labelled:
            self.speaker, rest = labelled["speaker"], labelled["text"]
            self.header = None
            if not rest.strip():  # `客服:` with the message on the next line
                self.header, self.open_turn = stamp or Stamp(0), None
                return
            self.add(rest, line_number, stamp, new=True)
        elif stamp is not None or self.header is not None:  # a stamped message, or a header's first line
            self.add(rest, line_number, stamp or self.header, new=True)
            self.header = None
        else:
            self.add(rest, line_number, None, new=self.open_turn is None)

    def add(self, text: str, line_number: int, stamp: Stamp | None, *, new: bool) -> None:
        pieces = _split_run_together(text, self.is_inner_label)
        if len(pieces) > 1:
            self.warnings.append(f"第{line_number}行有{len(pieces)}句话连在一起,已在说话人标签处拆开")
        start, end = self.times(stamp)
        for piece_speaker, piece in pieces:
            piece = piece.strip()
            if piece_speaker is not None:
                self.speaker, new = piece_speaker, True
            if not piece:
                continue
            if not new and self.open_turn is not None:
                self.open_turn.text += "\n" + piece
                check_turn_length(self.path, self.open_turn)
                continue
            turn = RawTurn(
                line=line_number,
                speaker=self.speaker,
                text=piece,
                start=start,
                end=end,
                given_stage=self.given_stage,
            )
            check_turn_length(self.path, turn)
            self.turns.append(turn)
            self.open_turn, new = turn, False
            start = end = None  # the times belong to the line's first turn


@dataclass(frozen=True, slots=True)
class LabelCounts:
    """How often each label starts a line as `LABEL:` (colon) and as a console header, in one file.
    A speaker speaks more than once: a label seen once (`收货地址:`, `下单时间 2024-07-01 20:16:58`, `以后`
    after a date in a message) is text, where the console layout or a header would otherwise misread it."""

    colon: dict[str, int]
    header: dict[str, int]

    def is_header(self, label: str) -> bool:
        return self.header.get(label, 0) >= 2 or label in self.colon

    def is_speaker(self, label: str) -> bool:
        return self.colon.get(label, 0) >= 2 or self.header.get(label, 0) >= 2


def _count_labels(lines: list[str], shapes: list[tuple[Stamp | None, re.Match[str] | None]]) -> LabelCounts:
    colon: dict[str, int] = {}
    header: dict[str, int] = {}
    for line, (stamp, labelled) in zip(lines, shapes, strict=True):
        if not line or line.startswith("#"):
            continue
        if labelled is not None:
            label = labelled["speaker"]
            colon[label] = colon.get(label, 0) + 1
            continue
        candidate = _header_speaker(line, stamp, lambda _: True)
        if candidate is not None:
            header[candidate[0]] = header.get(candidate[0], 0) + 1
    return LabelCounts(colon, header)


def parse_text(text: str, path: str, is_label: Callable[[str], bool]) -> Parsed:
    """`is_label(s)` says whether `s` is a known speaker label (one that maps to a role)."""
    lines = [raw.strip().lstrip("\ufeff").strip() for raw in text.splitlines()]
    # Both passes need each line's stamp and label: found once (a comment line's are never used).
    shapes = [_stamp_and_label(line) if line and not line.startswith("#") else (None, None) for line in lines]
    reader = _Reader(path, is_label, _count_labels(lines, shapes))
    for line_number, (line, (stamp, labelled)) in enumerate(zip(lines, shapes, strict=True), start=1):
        if not line:
            continue
        if line.startswith("#"):
            reader.comment(line, line_number)
        else:
            reader.line(line, line_number, stamp, labelled)
    turns = reader.turns
    if turns and all(turn.speaker is None for turn in turns):
        raise InputError(path, "no line looks like an utterance", hint="expected ROLE:TEXT lines such as 客服:您好")
    return Parsed(
        format="text",
        turns=turns,
        warnings=reader.warnings,
        agent_name=reader.agent_name,
        team=reader.team,
        call_date=reader.call_date or (reader.origin.date() if reader.origin is not None else None),
    )
