"""Build src/callqa/rules/homophones.json: the toneless pinyin of each of the 6,763 GB2312 characters.

    python scripts/build_homophones.py

Homophone-tolerant patterns (`pinyin: true`) fold characters that sound alike into one, so that ASR
slips such as 公号 for 工号 still match. The table is made once from pypinyin (a build-time tool, not a
run-time dependency: loading pypinyin's full dictionary costs over half a second per process) and is
deterministic: characters in GB2312 order, each with its first reading.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path

from pypinyin import Style, lazy_pinyin

OUT = Path(__file__).resolve().parents[1] / "src" / "callqa" / "rules" / "homophones.json"


def gb2312_characters() -> list[str]:
    chars = []
    for high in range(0xB0, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                chars.append(bytes([high, low]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return chars


def main() -> int:
    by_syllable: dict[str, list[str]] = {}
    for char in gb2312_characters():
        reading = lazy_pinyin(char, style=Style.NORMAL, errors="ignore")
        if reading and reading[0].isascii():
            syllable = unicodedata.normalize("NFKC", reading[0]).replace("ü", "v")
            by_syllable.setdefault(syllable, []).append(char)
    table = {
        "format": "callqa.homophones/1",
        "source": "pypinyin, first reading of each GB2312 character",
        "syllables": {s: "".join(chars) for s, chars in sorted(by_syllable.items())},
    }
    OUT.write_text(json.dumps(table, ensure_ascii=False, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(
        f"wrote {OUT}: {sum(map(len, by_syllable.values()))} characters, {len(by_syllable)} syllables", file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
