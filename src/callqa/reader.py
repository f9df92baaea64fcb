"""Read a transcript file into utterances.

Text format: one utterance per line, `ROLE:TEXT` (half- or full-width colon), optionally led by a
timestamp `[mm:ss]`, `[hh:mm:ss]`, `mm:ss` or a range `0:01~0:04`. Blank lines are skipped. A line
with no speaker label continues the previous speaker's turn. Lines starting with `#` are comments,
except stage markers: `## 切入` puts every following utterance in that stage until the next marker.
"""

from __future__ import annotations

import re
from pathlib import Path

from callqa.errors import InputError
from callqa.matcher import CompiledRubric
from callqa.model import STAGES, Transcript, Utterance
from callqa.normalize import normalize, to_simplified

_TIME = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?"
_RANGE_SEP = r"\s*(?:~|～|-|–|—|至|-->)\s*"
_TIMESTAMP = re.compile(
    rf"^\s*(?:\[\s*(?P<s1>{_TIME})(?:{_RANGE_SEP}(?P<e1>{_TIME}))?\s*\]|(?P<s2>{_TIME})(?:{_RANGE_SEP}(?P<e2>{_TIME}))?)\s*"
)
# A label is short and has no sentence punctuation: 客服, 客服人員, 工号1234, 客服小王, Agent.
_LABELLED = re.compile(r"^(?P<speaker>[^:：\s,，。.!！?？、;；\"“”'()（）\[\]]{1,16})\s*[:：]\s*(?P<text>.*)$")
_MARKER = re.compile(r"^\s*##\s*(?P<stage>\S+)\s*$")
_MAX_FILE_BYTES = 64 * 1024 * 1024


def _seconds(stamp: str | None) -> float | None:
    if stamp is None:
        return None
    parts = [float(p) for p in stamp.replace(",", ".").split(":")]
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


def decode(data: bytes, path: str) -> str:
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(path, "binary file, not a transcript")
    for encoding in ("utf-8-sig", "utf-16", "gb18030"):
        if encoding == "utf-16" and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            continue
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError(path, "cannot decode the file as UTF-8 or GB18030", hint="save it as UTF-8")


def read_bytes(path: Path) -> bytes:
    try:
        if path.is_dir():
            raise InputError(path, "is a directory, not a transcript file")
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise InputError(path, f"larger than {_MAX_FILE_BYTES // (1024 * 1024)} MB, not a single call")
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except PermissionError:
        raise InputError(path, "permission denied") from None
    except OSError as exc:
        raise InputError(path, exc.strerror or "cannot be read") from None


def parse_text(text: str, path: str, compiled: CompiledRubric) -> Transcript:
    utterances: list[Utterance] = []
    given_stage: str | None = None
    speaker, role = "", "unknown"
    roles: dict[str, str] = {}  # a call has few distinct labels: map each once
    for line_number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().lstrip("\ufeff")
        if not line:
            continue
        if line.startswith("#"):
            marker = _MARKER.match(line)
            if marker:
                stage = to_simplified(marker["stage"])
                if stage not in STAGES:
                    raise InputError(path, f"unknown stage marker '{marker['stage']}'", line=line_number,
                                     hint=f"use one of {' '.join(STAGES)}")
                if given_stage is not None and STAGES.index(stage) < STAGES.index(given_stage):
                    raise InputError(path, f"stage marker '{marker['stage']}' after {given_stage}: stages never go back",
                                     line=line_number)
                given_stage = stage
            continue
        start = end = None
        stamp = _TIMESTAMP.match(line)
        if stamp:
            start = _seconds(stamp["s1"] or stamp["s2"])
            end = _seconds(stamp["e1"] or stamp["e2"])
            line = line[stamp.end():]
        labelled = _LABELLED.match(line)
        if labelled:
            speaker = labelled["speaker"]
            if speaker not in roles:
                roles[speaker] = compiled.role_of(normalize(speaker).text)
            role = roles[speaker]
            line = labelled["text"]
        if not line.strip():
            continue
        norm = normalize(line, compiled.fillers)
        utterances.append(Utterance(
            index=len(utterances), line=line_number, speaker=speaker, role=role, text=line,
            norm=norm.text, norm_index=norm.index, start=start, end=end, given_stage=given_stage,
        ))
    if not utterances:
        raise InputError(path, "no utterances found", hint="expected lines like 客服:您好…")
    return Transcript(path=path, format="text", utterances=tuple(utterances))


def read_transcript(path: str | Path, compiled: CompiledRubric) -> Transcript:
    path = Path(path)
    return parse_text(decode(read_bytes(path), str(path)), str(path), compiled)
