"""Bytes in, text out: size limits, encoding detection and mojibake warnings.

Order of trust (measured, see the engineering notes): a BOM, then strict UTF-8, then strict GB18030
(GB18030 bytes virtually never decode as valid UTF-8), then charset-normalizer, which is unreliable
on a single short line but right on whole dialogues.
"""

from __future__ import annotations

import codecs
import re
import sys
from functools import lru_cache
from pathlib import Path

from callqa.errors import InputError
from callqa.text.normalize import to_simplified_each

MAX_FILE_BYTES = 10 * 1024 * 1024  # a long call is ~100 KB of text; 10 MB is not one call
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CONTROL_BYTES = bytes([*range(0, 9), *range(14, 32)])  # not tab, newline, vertical tab, form feed, CR
_PIECES = re.compile(r"([:：,，。!！?？;；\s]+)")
_BROKEN = re.compile(r"[\ufffd\ue000-\uf8ff]")  # replacement and private-use characters


#: The path that means standard input (`cat call.txt | callqa score -`), and the name it goes by.
STDIN, STDIN_NAME = "-", "<stdin>"


def read_bytes(path: Path) -> bytes:
    if str(path) == STDIN:
        data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise InputError(STDIN_NAME, "too large for one call", hint="split it into calls")
        return data
    try:
        if path.is_dir():
            raise InputError(path, "is a directory, not a transcript file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(
                path,
                f"file is {size / 1024 / 1024:.0f} MB, too large for one call",
                hint=f"at most {MAX_FILE_BYTES // 1024 // 1024} MB; split it into calls",
            )
        with path.open("rb") as handle:
            return handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except PermissionError:
        raise InputError(path, "permission denied", hint="check the file's read permission") from None
    except OSError as exc:
        raise InputError(path, exc.strerror or "cannot be read") from None


def _looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if not sample:
        return False
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return b"\x00" in sample or controls / len(sample) > 0.05


def decode(data: bytes, path: str, encoding: str | None = None) -> tuple[str, str]:
    """Return (text, encoding used)."""
    if encoding:
        try:
            return data.decode(encoding), encoding
        except LookupError:
            raise InputError(path, f"unknown encoding '{encoding}'", hint="e.g. utf-8, gb18030, utf-16") from None
        except UnicodeDecodeError as exc:
            raise InputError(path, f"not valid {encoding} at byte {exc.start}", hint="try another --encoding") from None
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec), codec
            except UnicodeDecodeError as exc:
                raise InputError(path, f"broken {codec} text at byte {exc.start}") from None
    if _looks_binary(data):
        raise InputError(path, "binary file, not a transcript", hint="expected text, JSON, SRT, VTT or CSV")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        pass
    else:
        # Big5 bytes (Taiwan's and Hong Kong's Traditional text) nearly always decode as GB18030 too,
        # into rare characters (您好 -> 眤); when they also decode as Big5 into ordinary ones, they are Big5.
        if _odd_share(text) > _BIG5_ODD_GB:
            try:
                big5 = data.decode("cp950")  # Big5 as Windows writes it (a superset)
            except UnicodeDecodeError:
                return text, "gb18030"
            if _odd_share(big5) < _BIG5_ODD_BIG5:
                return big5, "big5"
        return text, "gb18030"
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise InputError(path, "cannot tell the text encoding", hint="give it with --encoding")
    return str(best), best.encoding


#: Odd characters (see `_odd_patterns`) per character of the text: above the first in the GB18030
#: reading and below the second in the Big5 one, a file is Big5. Measured on the sample calls: Big5
#: bytes read as GB18030 give 0.5-0.8, right readings of either under 0.01 (after simplifying).
_BIG5_ODD_GB, _BIG5_ODD_BIG5 = 0.1, 0.02


def _odd_share(text: str) -> float:
    sample = "".join(text[:4000].split())
    if not sample:
        return 0.0
    odd, _ = _odd_patterns()
    return len(odd.findall(to_simplified_each([sample])[0])) / len(sample)


@lru_cache(maxsize=1)
def _odd_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Regexes for one "odd" character and for three in a row. Odd are CJK outside GB2312 level 1
    (the 3,755 most frequent characters), enclosed CJK signs (㈡), replacement and private-use
    characters — the stuff of mojibake — and NUL, which the check has always counted with them.
    Built once from the GB2312 table. A character class, not a str.translate table: translating
    looks each character up in a dict, a class tests a bitmap, some 25 times faster."""
    common = {
        ord(bytes([hi, lo]).decode("gb2312", errors="ignore") or "\0")
        for hi in range(0xB0, 0xD8)
        for lo in range(0xA1, 0xFF)
    }
    odd = [c for c in range(0x3400, 0xA000) if c not in common]
    odd += [0, *range(0x3200, 0x3300), 0xFFFD, *range(0xE000, 0xF900)]
    runs: list[list[int]] = []  # [first, last] of each run of consecutive code points
    for code in sorted(odd):
        if runs and runs[-1][1] == code - 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    odd_class = "[" + "".join(f"\\u{first:04x}-\\u{last:04x}" for first, last in runs) + "]"
    return re.compile(odd_class), re.compile(odd_class + "{3}")


def mojibake_warnings(text: str) -> list[str]:
    """A warning for each line that looks like text decoded with the wrong codec (客服人员 -> 瀹㈡湇浜哄憳)."""
    odd, odd_run = _odd_patterns()
    if not odd.search(text):
        return []  # the common case: plain Simplified text
    flagged = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if odd.search(line)]
    simplified = to_simplified_each([line for _, line in flagged])  # Traditional text is odd only until simplified
    return [
        _mojibake_warning(line, number)
        for (number, line), simple in zip(flagged, simplified, strict=True)
        if _BROKEN.search(line) or odd_run.search(simple)
    ]


def _mojibake_warning(line: str, line_number: int) -> str:
    repaired = "".join(_repair(piece) for piece in _PIECES.split(line.strip()))
    hint = f",可能应为「{repaired}」" if repaired != line.strip() else ""
    return f"第{line_number}行疑似乱码(编码错误){hint}"


def _repair(piece: str) -> str:
    """Undo UTF-8 read as GBK where that round-trips exactly; otherwise leave the piece alone."""
    try:
        return piece.encode("gbk").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return piece
