"""The rubric's pattern language, compiled once into regular expressions over normalised text.

A pattern is a row of terms, each matched right after the one before unless a gap stands between:

    不归 … 管                  不归 then 管, at most 8 characters apart (a gap never crosses 。！？)
    $WE …4 (管不了|负责不了)     a word of the class WE, at most 4 characters, then either phrase
    !可能                      可能, but not negated (不可能, 没可能 are not hits)
    您 (当时)? 自己 … 确认       an optional term: (…)? ; spaces only separate terms

Terms: a literal phrase; `$NAME`, a word class from the rubric's `classes:` (shared by every rule);
`(a|b|$C)`, any of them, each alternative a pattern itself (`(取件|确认 …3 地址)`); a `!` before a
term: only where it is not negated (不 没 没有 别 未 无 非 just before it); a `?` after a term: it may
be absent. Gaps: `…` or `...` (up to 8 characters), `…N` (up to N). A plain phrase is a pattern too,
so `exceptions` are patterns as well.

For ASR text a rule may ask for homophone-tolerant matching (`pinyin: true`): its patterns and the
utterance are both folded so that characters with the same toneless pinyin are one (公号 matches 工号,
在见 matches 再见), character for character, so spans still point into the original text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources

from callqa.text.normalize import normalize_phrase

DEFAULT_GAP = 8
MAX_GAP = 1000
_NEGATORS = ("没有", "不", "没", "别", "未", "无", "非")
_CLAUSE_END = "。！？!?"
_TOKEN = re.compile(
    r"\s*(?:(?P<gap>…|\.\.\.)(?P<n>\d+)?|(?P<neg>!)?(?P<term>\([^()]*\)|\$[A-Za-z_][\w]*|[^\s…()$!?]+)(?P<opt>\?)?)"
)
_CLASS_NAME = re.compile(r"^\$[A-Za-z_]\w*$")


#: Parentheses and bar as a Chinese input method types them: in normalised text they can never be
#: literal (it has the ASCII ones), so in a pattern they are the operators the author meant.
_FULL_WIDTH_OPERATORS = str.maketrans({"（": "(", "）": ")", "｜": "|"})


class PatternError(ValueError):
    """A pattern that cannot be compiled; the message says what is wrong with it."""


class Pattern:
    """A compiled pattern. Its regex is compiled on first use, and only once a line holds one of the
    literals every match must contain: most patterns never fire on a given call, and compiling all
    of a rubric's regexes up front was a tenth of a cold `callqa score`."""

    __slots__ = ("_regex", "expression", "pinyin", "required", "source")

    def __init__(self, source: str, expression: str, required: tuple[str, ...], pinyin: bool):
        self.source = source
        self.expression = expression  # the regex source, over normalised (or folded) text
        self.required = required  # a match contains at least one of these; () when nothing is required
        self.pinyin = pinyin  # match on homophone-folded text
        self._regex: re.Pattern[str] | None = None

    def __repr__(self) -> str:
        return f"Pattern({self.source!r})"

    @property
    def regex(self) -> re.Pattern[str]:
        if self._regex is None:
            self._regex = re.compile(self.expression)
        return self._regex

    def spans(self, norm: str, folded: str | None = None) -> list[tuple[int, int]]:
        """Every non-overlapping (start, end) of the pattern in normalised text."""
        text = folded if self.pinyin and folded is not None else norm
        # map over str.__contains__, not a generator: called for ~140 (pattern, line) pairs a call
        if self.required and not any(map(text.__contains__, self.required)):
            return []
        return [m.span() for m in self.regex.finditer(text) if m.end() > m.start()]


def required_literals(patterns: Sequence[Pattern], *, folded: bool = False) -> tuple[str, ...] | None:
    """Every literal that one of `patterns` requires, as it appears in normalised text (with
    `folded`: in homophone-folded text, for patterns that all match it): a text with none of them
    matches none of the patterns. None when that cannot be said (a pattern requires nothing, or
    matches the other kind of text), and the patterns must be tried on every text."""
    if any(not p.required or p.pinyin != folded for p in patterns):
        return None
    return tuple(dict.fromkeys(w for p in patterns for w in p.required))


def class_names(pattern: str) -> set[str]:
    return {m[1:] for m in re.findall(r"\$[A-Za-z_]\w*", pattern)}


def compile_pattern(source: str, classes: Mapping[str, Sequence[str]], *, pinyin: bool = False) -> Pattern:
    """The pattern, ready to match normalised text; PatternError says what is wrong."""
    expression, required = _translate(source, classes, pinyin)
    return Pattern(source, expression, required, pinyin)


def pattern_regex(source: str, classes: Mapping[str, Sequence[str]], *, pinyin: bool = False) -> str:
    """The regex source a pattern stands for: checking a rubric reads each pattern with this."""
    return _translate(source, classes, pinyin)[0]


def _translate(source: str, classes: Mapping[str, Sequence[str]], pinyin: bool) -> tuple[str, tuple[str, ...]]:
    """The regex source of a pattern, and the literals one of which every match contains: those of
    its most selective term that may not be absent (the one whose shortest alternative is longest)."""
    pieces: list[str] = []
    required: tuple[str, ...] = ()
    pending_gap: int | None = None
    position = 0
    text = source.strip().translate(_FULL_WIDTH_OPERATORS)
    if not text:
        raise PatternError("empty pattern")
    while position < len(text):
        token = _TOKEN.match(text, position)
        if token is None or token.end() == position:
            rest = text[position:].lstrip()
            if rest.startswith("(") and ")" not in rest:
                raise PatternError(f"a '(' without its ')' in pattern {source!r}")
            if rest.startswith(")"):
                raise PatternError(f"a ')' without its '(' in pattern {source!r}")
            raise PatternError(f"cannot read {text[position:]!r} in pattern {source!r}")
        position = token.end()
        if token["gap"]:
            if not pieces or pending_gap is not None:
                raise PatternError(f"a gap must stand between two terms in {source!r}")
            pending_gap = int(token["n"]) if token["n"] else DEFAULT_GAP
            if pending_gap > MAX_GAP:  # re cannot repeat past 2**32, and a gap that long is no gap
                raise PatternError(f"a gap of at most {MAX_GAP} characters, not {pending_gap}, in {source!r}")
            continue
        term = _term(token["term"], classes, source, pinyin)
        if not token["opt"]:
            literals = _literals(token["term"], classes, pinyin)
            if literals and (not required or min(map(len, literals)) > min(map(len, required))):
                required = literals
        if token["neg"]:
            term = "".join(f"(?<!{re.escape(_fold_if(n, pinyin))})" for n in _NEGATORS) + term
        if token["opt"]:
            term = f"(?:{term})?"
        if pending_gap is not None:
            pieces.append(f"[^{_CLAUSE_END}]{{0,{pending_gap}}}?")
            pending_gap = None
        pieces.append(term)
    if pending_gap is not None:
        raise PatternError(f"a gap must stand between two terms in {source!r}")
    return "".join(pieces), required


def _literals(term: str, classes: Mapping[str, Sequence[str]], pinyin: bool) -> tuple[str, ...]:
    """The texts a (valid) term can match, as it appears in normalised or folded text; for a group,
    the literals one of which each alternative's every match contains."""
    if term.startswith("("):
        alternatives = [_translate(o, classes, pinyin)[1] for o in term[1:-1].split("|")]
        if not all(alternatives):  # an alternative that requires nothing: the term may match anything
            return ()
        return tuple(dict.fromkeys(w for words in alternatives for w in words))
    if _CLASS_NAME.match(term):
        words = (normalize_phrase(w) for w in classes[term[1:]])
        return tuple(dict.fromkeys(_fold_if(w, pinyin) for w in words if w))
    return (_fold_if(normalize_phrase(term), pinyin),)


def _term(term: str, classes: Mapping[str, Sequence[str]], source: str, pinyin: bool) -> str:
    if term.startswith("("):
        options = [o.strip() for o in term[1:-1].split("|")]
        if not all(options):
            raise PatternError(f"empty alternative in {term!r} of pattern {source!r}")
        # Each alternative is a pattern of its own: a phrase, a class, or terms with gaps and `!`
        # (`(取件|确认 …3 地址)`), which were read as one literal and could never match.
        return "(?:" + "|".join(_translate(o, classes, pinyin)[0] for o in _longest_first(options)) + ")"
    if _CLASS_NAME.match(term):
        name = term[1:]
        if name not in classes:
            raise PatternError(f"unknown class ${name} in pattern {source!r} (define it under classes:)")
        words = [normalize_phrase(w) for w in classes[name]]
        return "(?:" + "|".join(re.escape(_fold_if(w, pinyin)) for w in _longest_first(words) if w) + ")"
    literal = normalize_phrase(term)
    if not literal:
        raise PatternError(f"term {term!r} of pattern {source!r} is empty once normalised")
    return re.escape(_fold_if(literal, pinyin))


def _longest_first(words: Sequence[str]) -> list[str]:
    return sorted(dict.fromkeys(words), key=len, reverse=True)


def _fold_if(text: str, pinyin: bool) -> str:
    return fold_homophones(text) if pinyin else text


# --- homophones ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _homophone_codes() -> dict[str, str]:
    """Each GB2312 character -> one private-use character per toneless syllable (400 of them), from the
    table `scripts/build_homophones.py` makes: characters that sound alike get the same one."""
    table = json.loads((resources.files("callqa.rules") / "homophones.json").read_text(encoding="utf-8"))
    codes = {}
    for index, chars in enumerate(table["syllables"].values()):
        for char in chars:
            if char not in _NEGATOR_CHARS:
                codes[char] = chr(0xF0000 + index)
    return codes


#: Negating characters stay themselves when folded: a `!` term must see a real 不 or 未 before it,
#: not a sound-alike (为 is wei like 未, 费 fei like 非, 务 wu like 无), and ASR rarely garbles these.
_NEGATOR_CHARS = frozenset("".join(_NEGATORS))


@lru_cache(maxsize=16384)
def fold_homophones(text: str) -> str:
    """`text` with each common Chinese character replaced by its syllable's code, one for one."""
    codes = _homophone_codes()
    return "".join(codes.get(char, char) for char in text)
