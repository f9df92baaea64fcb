"""Plain-text transcripts.

One utterance per line, `ROLE:TEXT` (half- or full-width colon), optionally led by a timestamp
`[mm:ss]`, `[hh:mm:ss]`, `mm:ss` or a range `0:01~0:04`. Blank lines are skipped. A line with no
speaker label continues the previous speaker's turn. Lines starting with `#` are comments, except
stage markers (`## 切入` puts every following utterance in that stage until the next marker) and the
agent header (`# agent: 张三`, also `# 坐席:` / `# 学员:`), which names whose call it is. Two turns
run together on one line (`…谢谢你啊客服:不客气`) are split where a known speaker label starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from callqa.errors import InputError
from callqa.model import STAGES
from callqa.text.normalize import to_simplified
from callqa.transcripts.base import Parsed, RawTurn, check_turn_length, parse_time

_TIME = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?"
_RANGE_SEP = r"\s*(?:~|～|-|–|—|至|-->)\s*"
_TIMESTAMP = re.compile(
    rf"^\s*(?:\[\s*(?P<s1>{_TIME})(?:{_RANGE_SEP}(?P<e1>{_TIME}))?\s*\]|(?P<s2>{_TIME})(?:{_RANGE_SEP}(?P<e2>{_TIME}))?)\s*"
)
# A label is short and has no sentence punctuation: 客服, 客服人員, 工号1234, 客服小王, Agent.
_LABEL_CHARS = r"[^:：\s,，。.!！?？、;；\"“”'()（）\[\]]"
_LABELLED = re.compile(rf"^(?P<speaker>{_LABEL_CHARS}{{1,16}})\s*[:：]\s*(?P<text>.*)$")
_INNER_LABEL = re.compile(rf"(?P<label>{_LABEL_CHARS}{{2,8}})[:：]")
_MARKER = re.compile(r"^\s*##\s*(?P<stage>\S+)\s*$")
# `# agent: 张三` names the agent or trainee the call belongs to (for batch grouping).
_AGENT_HEADER = re.compile(r"^#\s*(?:agent|trainee|坐席|客服|学员|员工)\s*[:：]\s*(?P<name>\S.*?)\s*$", re.IGNORECASE)


def speaker_label(line: str) -> str | None:
    """The speaker label of a `ROLE:TEXT` line, after any timestamp; None when the line has none."""
    line = line.strip()
    stamp = _TIMESTAMP.match(line)
    labelled = _LABELLED.match(line[stamp.end() :] if stamp else line)
    return labelled["speaker"] if labelled else None


def _split_run_together(text: str, is_label: Callable[[str], bool]) -> list[tuple[str | None, str]]:
    """Split `谢谢你啊客服:不客气` into ("谢谢你啊") and ("客服", "不客气"): the shortest known label
    that ends right before a colon starts a new turn."""
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


def parse_text(text: str, path: str, is_label: Callable[[str], bool]) -> Parsed:
    """`is_label(s)` says whether `s` is a known speaker label (one that maps to a role)."""
    turns: list[RawTurn] = []
    warnings: list[str] = []
    given_stage: str | None = None
    speaker: str | None = None
    agent_name: str | None = None
    for line_number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().lstrip("\ufeff")
        if not line:
            continue
        if line.startswith("#"):
            header = _AGENT_HEADER.match(line)
            if header and agent_name is None:
                agent_name = header["name"]
            marker = _MARKER.match(line)
            if marker:
                stage = to_simplified(marker["stage"])
                if stage not in STAGES:
                    raise InputError(
                        path,
                        f"unknown stage marker '{marker['stage']}'",
                        line=line_number,
                        hint=f"use one of {' '.join(STAGES)}",
                    )
                if given_stage is not None and STAGES.index(stage) < STAGES.index(given_stage):
                    raise InputError(
                        path,
                        f"stage marker '{marker['stage']}' after {given_stage}: stages never go back",
                        line=line_number,
                    )
                given_stage = stage
            continue
        start = end = None
        stamp = _TIMESTAMP.match(line)
        if stamp:
            start = parse_time(stamp["s1"] or stamp["s2"])
            end = parse_time(stamp["e1"] or stamp["e2"])
            line = line[stamp.end() :]
        labelled = _LABELLED.match(line)
        if labelled:
            speaker, line = labelled["speaker"], labelled["text"]
        pieces = _split_run_together(line, is_label)
        if len(pieces) > 1:
            warnings.append(f"第{line_number}行有{len(pieces)}句话连在一起,已在说话人标签处拆开")
        for piece_speaker, piece in pieces:
            speaker = piece_speaker or speaker
            if piece.strip():
                turn = RawTurn(
                    line=line_number, speaker=speaker, text=piece.strip(), start=start, end=end, given_stage=given_stage
                )
                check_turn_length(path, turn)
                turns.append(turn)
                start = end = None  # the times belong to the line's first turn
    if turns and all(turn.speaker is None for turn in turns):
        raise InputError(path, "no line looks like an utterance", hint="expected ROLE:TEXT lines such as 客服:您好")
    return Parsed(format="text", turns=turns, warnings=warnings, agent_name=agent_name)
