"""Text normalisation for matching: NFKC width folding, Traditional->Simplified (Taiwan's words in
mainland ones), written Cantonese put into Mandarin words, no spaces or fillers.

The report shows the original text, so `normalize` also returns, for each character of the normalised
text, the offset of the original character it came from: a match found in normalised text can then
be highlighted in the words the speaker actually said.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import opencc

_T2S = opencc.OpenCC("t2s")


@lru_cache(maxsize=65536)
def _fold_char(char: str) -> str:
    folded = unicodedata.normalize("NFKC", char).lower()
    return "" if folded.isspace() else folded


@dataclass(frozen=True, slots=True)
class Normalized:
    text: str
    index: tuple[int, ...]  # index[i]: offset in the original text of text[i]


def to_simplified(text: str) -> str:
    """Traditional -> Simplified Chinese (OpenCC t2s, phrase-aware)."""
    simplified: str = _T2S.convert(text)  # opencc ships no types
    return simplified


_SPACE = re.compile(r"\s+")
# OpenCC reads an ideographic description sequence (⿰女子 …) as one character, whatever its parts are,
# a newline too; U+31EF is the operator Unicode 15.1 added.
_IDS_OPERATOR = re.compile("[\u2ff0-\u2fff\u31ef]")


def to_simplified_each(texts: list[str]) -> list[str]:
    """`to_simplified` of each text, in one OpenCC call where that is provably the same, since a call
    costs more than converting an utterance: OpenCC matches dictionary phrases, and as no phrase holds
    or yields a newline, a newline between texts ends every match. Only an IDS runs across one."""
    if len(texts) > 1:
        joined = "\n".join(texts)
        if not _IDS_OPERATOR.search(joined):
            simplified = to_simplified(joined).split("\n")
            if len(simplified) == len(texts):  # else a text held a newline of its own
                return simplified
    return [to_simplified(text) for text in texts]


# Traditional text as Taiwan writes it, in the words mainland text writes: OpenCC's t2s converts
# characters and phrases but keeps 著 (it is 著名's as well as 着's) and Taiwan's own words. 著 is 着
# where it is the particle or in 著急 / 著想 (帶著, 睡不著; not 著名, 显著, 土著, 著作), and 简讯 is
# 短信, 网路 网络 … Every replacement has the length of what it replaces, so offsets stay as they are.
_TAIWAN_WORDS = {
    "简讯": "短信", "网路": "网络", "列印": "打印", "软体": "软件", "资讯": "信息", "连结": "链接",
    "计程车": "出租车",
}  # fmt: skip
_TAIWAN = re.compile("|".join(_TAIWAN_WORDS))
_ZHE_AFTER = "看带陪连拿等推跟接随顺本对朝向靠忙急坐站躺写贴挂留记抱守盯卡开放穿拉扶牵听说想望不"  # 带著 …, 睡不著
_ZHE = re.compile(f"著(?=[急凉火落想])|(?<=[{_ZHE_AFTER}])著(?![作名称述录者])")


def _mainland(text: str) -> str:
    if "著" in text:  # the test first: a pattern that may start with a look-behind is tried everywhere
        text = _ZHE.sub("着", text)
    return _TAIWAN.sub(lambda match: _TAIWAN_WORDS[match.group()], text)


# Written Cantonese (粤语口语字), as Hong Kong and Guangdong lines are typed or transcribed, read in
# the Mandarin words that rules, scripts and models are written and trained in: 「唔该晒」 is 谢谢,
# 「冇办法」 没有办法, 「仲有冇其他嘢」 还有没有其他东西. Keys are in Simplified form (the step runs after
# OpenCC, which writes 嗰 as 𠮶).
#: Words Mandarin text never uses: read as Mandarin wherever they are.
_CANTONESE_ONLY = {
    "唔该晒": "谢谢", "多谢晒": "谢谢", "唔该": "谢谢", "唔使": "不用", "唔好意思": "不好意思",
    "唔好": "不要", "唔系": "不是", "唔知": "不知道", "唔得": "不行", "唔": "不", "冇": "没有",
    "嘅": "的", "咗": "了", "喺": "在", "嚟": "来", "哋": "们", "佢": "他", "啲": "些", "乜嘢": "什么",
    "嘢": "东西", "睇": "看", "揾": "找", "畀": "给", "俾": "给", "𠮶": "那", "咁": "这么", "噉": "这样",
    "仲有": "还有", "系咪": "是不是", "搞掂": "搞定", "琴日": "昨天",
}  # fmt: skip
#: Cantonese words spelt in characters Mandarin uses too (立即系统 holds 即系): read as Mandarin only
#: in a text that holds a word of the table above. Never a bare 系 (系统), nor 点解 (快点解决) or 咩,
#: which Mandarin chat uses as a particle.
_CANTONESE_SHARED = {
    "即系": "就是", "但系": "但是", "就系": "就是", "都系": "都是", "头先": "刚才", "边个": "谁",
    "点样": "怎么样", "点算": "怎么办", "几多": "多少", "听日": "明天", "今日": "今天",
}  # fmt: skip
_CANTONESE_WORDS = {**_CANTONESE_ONLY, **_CANTONESE_SHARED}


def _alternatives(words: dict[str, str]) -> re.Pattern[str]:
    # Longest first (唔该晒 before 唔); a 系 that starts 系统, 系列 or 系数 is not 是 (但系统: but the system).
    return re.compile(
        "|".join(w + "(?![统列数])" if w.endswith("系") else w for w in sorted(words, key=len, reverse=True))
    )


_CANTONESE_MARK = _alternatives(_CANTONESE_ONLY)
_CANTONESE = _alternatives(_CANTONESE_WORDS)


def _mandarin(text: str, index: list[int]) -> tuple[str, list[int]]:
    """Written Cantonese put into Mandarin words, each new character at the offset of the one it
    replaces (the last one for a longer word: 冇 -> 没有 highlights 冇 for both)."""
    if not _CANTONESE_MARK.search(text):
        return text, index
    pieces: list[str] = []
    offsets: list[int] = []
    end = 0
    for match in _CANTONESE.finditer(text):
        start, stop = match.span()
        pieces.append(text[end:start])
        offsets.extend(index[end:start])
        word = _CANTONESE_WORDS[match.group()]
        pieces.append(word)
        offsets.extend(index[min(start + k, stop - 1)] for k in range(len(word)))
        end = stop
    pieces.append(text[end:])
    offsets.extend(index[end:])
    return "".join(pieces), offsets


def _fold(text: str) -> tuple[str, list[int]]:
    """NFKC + lower case without white space, with the offset of each kept character."""
    folded = unicodedata.normalize("NFKC", text).lower()
    if len(folded) == len(text):  # the usual case: each character folds to one character
        if not _SPACE.search(folded):
            return folded, list(range(len(text)))
        index = [i for i, c in enumerate(folded) if not c.isspace()]
        return "".join(folded[i] for i in index), index
    chars: list[str] = []
    index = []
    for offset, char in enumerate(text):
        for piece in _fold_char(char):
            chars.append(piece)
            index.append(offset)
    return "".join(chars), index


def normalize(text: str, fillers: re.Pattern[str] | None = None) -> Normalized:
    """Fold width and case, drop white space, convert to Simplified (and written Cantonese to
    Mandarin words) and drop filler words."""
    (normalized,) = normalize_all([text], fillers)
    return normalized


def normalize_all(texts: Sequence[str], fillers: re.Pattern[str] | None = None) -> list[Normalized]:
    """`normalize` of each text, converted to Simplified together (see `to_simplified_each`)."""
    folded = [_fold(text) for text in texts]
    simplified = to_simplified_each([folded_text for folded_text, _ in folded])
    return [_normalized(*pair, each, fillers) for pair, each in zip(folded, simplified, strict=True)]


def _normalized(folded_text: str, index: list[int], simplified: str, fillers: re.Pattern[str] | None) -> Normalized:
    """The rest of `normalize`, given the folded text, its offsets and its Simplified form."""
    if len(simplified) != len(folded_text):
        # OpenCC changed the length (rare): convert char by char so the offsets stay exact.
        simplified_chars = [_T2S.convert(c) for c in folded_text]
        index = [i for c, i in zip(simplified_chars, index, strict=True) for _ in c]
        simplified = "".join(simplified_chars)
    simplified, index = _mandarin(_mainland(simplified), index)
    if fillers is not None and fillers.search(simplified):
        keep = [True] * len(simplified)
        for match in fillers.finditer(simplified):
            for i in range(match.start(), match.end()):
                keep[i] = False
        simplified = "".join(c for c, k in zip(simplified, keep, strict=True) if k)
        index = [i for i, k in zip(index, keep, strict=True) if k]
    return Normalized(simplified, tuple(index))


@lru_cache(maxsize=16384)  # a rubric's class words are normalised again in every pattern that names them
def normalize_phrase(phrase: str) -> str:
    """Normalise a rubric phrase the same way as transcript text (fillers are kept: the author wrote them)."""
    return normalize(phrase).text


def filler_pattern(fillers: list[str]) -> re.Pattern[str] | None:
    """One regex for the filler words, longest first so 那个 wins over a shorter filler inside it."""
    words = sorted({normalize_phrase(f) for f in fillers if f.strip()}, key=len, reverse=True)
    if not words:
        return None
    return re.compile("|".join(re.escape(w) for w in words))
