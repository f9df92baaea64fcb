"""What every reader produces: raw turns, before roles and normalisation are applied."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from callqa.errors import InputError
from callqa.model import Role

MAX_UTTERANCE_CHARS = 20_000  # a 1-hour monologue is ~15,000 characters


class SpeakerVocabulary(Protocol):
    """What reading needs to know of a rubric: which labels name which role, which words are fillers,
    and which phrases each side says (to tell the agent from the customer when labels do not)."""

    fillers: re.Pattern[str] | None

    def role_of(self, label: str) -> Role: ...

    def cue_hits_in(self, norm: str, role: str | None) -> list[tuple[str, str, str]]: ...


@dataclass(slots=True)
class RawTurn:
    line: int  # 1-based line in the source where the turn's text is
    speaker: str | None  # label, channel or speaker id as written; None when the format has none
    text: str
    start: float | None = None  # seconds
    end: float | None = None
    given_stage: str | None = None


@dataclass(slots=True)
class Parsed:
    format: str
    turns: list[RawTurn]
    warnings: list[str] = field(default_factory=list)
    agent_name: str | None = None  # from a `# agent: 张三` header line
    team: str | None = None  # from a `# team: 一组` header line
    call_date: date | None = None  # from a `# date: 2024-07-03` header line, else the chat's first dated stamp


def check_turn_length(path: str, turn: RawTurn) -> None:
    if len(turn.text) > MAX_UTTERANCE_CHARS:
        raise InputError(
            path,
            f"an utterance of {len(turn.text):,} characters",
            line=turn.line,
            hint=f"at most {MAX_UTTERANCE_CHARS:,}; is this a transcript?",
        )


def parse_time(value: object, *, milliseconds: bool = False) -> float | None:
    """Seconds from a number (seconds, or ms when stated) or a clock string 01:02, 0:01:02.5, 00:00:01,000."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("a time cannot be true/false")
    if isinstance(value, int | float):
        seconds = float(value) / 1000 if milliseconds else float(value)
    else:
        text = str(value).strip().replace(",", ".")
        if ":" in text:
            seconds = clock_seconds(text)
        else:
            number = float(text)
            seconds = number / 1000 if milliseconds else number
    if seconds != seconds or seconds < 0 or seconds > 1e7:  # NaN, negative or absurd
        raise ValueError(f"not a time: {value!r}")
    return seconds


def clock_seconds(clock: str) -> float:
    """Seconds from a clock string: 01:02, 0:01:02.5, 00:00:01,000."""
    seconds = 0.0
    for part in clock.replace(",", ".").split(":"):
        seconds = seconds * 60 + float(part)
    return seconds
