"""Features of one agent line in its call, for the forbidden-expression detector: pure functions with
names a reviewer can read (`describe_feature` puts them in words).

    agent_line_features(utterances, i, roles=None, context=None) -> dict[str, float]

`utterances` is a sequence of objects with `.norm` (normalised text) and `.role`
('agent'|'customer'|'unknown'), e.g. callqa's Transcript.utterances; `roles` may override the roles
(a list of the same length). Feature names:

  c:XYZ        character n-gram (1-4) of the agent line, digits folded to 0, placeholders <ph>,
               ^ and $ mark the line's start and end
  prev:XY      character n-gram (1-3) of the customer turn before (off by default: measured worse,
               it teaches "upset customer => forbidden reply"; the ctx: patterns are kept)
  pat:NAME     a named pattern of patterns.py fired on the agent line ("pat:NAME~exc": it fired but
               its exception did too, i.e. the near-miss variant)
  ctx:NAME     a named pattern fired on the customer turn before
  ctx:A&pat:B  both (context-dependent evidence, e.g. a hedge right after "多久?")
  pos:k        relative position of the line in the call, in tenths (0-9)
  neg:n        number of negation cues (不 没 无 别 未), capped at 3
  len:k        length bucket of the agent line
  first_agent  the agent's first line in the call
  q:end        the line ends as a question (?, 吗, 么): asking is rarely refusing or passing the buck,
               and the n-grams lose the question mark (punctuation is folded to one comma)
  call:heat_k  customer turns so far in the call with emotion cues (0, 1, 2-3, 4+)
  call:calm&pat:X  a pattern fired in a call where the customer has shown no emotion so far
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict

from callqa.rules.detector_patterns import fold, match_patterns


class LineLike(Protocol):
    @property
    def role(self) -> str: ...

    @property
    def norm(self) -> str: ...


_PUNCT = re.compile(r"[，,。.!！?？;；:：、…~～\s\"'“”‘’「」《》()（）\-—]+")
_NEG = re.compile(r"[不没无别未冇]")
# 么 but not the end of 什么, 这么, 为什么 …: 「我也不知道为什么」 is no question.
_QUESTION_END = re.compile(r"(?:[?？吗]|(?<![什怎这那多要])么)\W*$")
AGENT_N = (1, 2, 3, 4)
PREV_N = (1, 2, 3)
_CONJ_CTX = ("ctx:cust_emotion", "ctx:cust_asks_time", "ctx:cust_asks_fact", "ctx:cust_requests", "ctx:cust_thanks")


def clean_line(text: str) -> str:
    """A line as its features read it: digits and placeholders folded, punctuation one comma."""
    return _PUNCT.sub("，", fold(text)).strip("，")


class FeatureConfig(TypedDict):
    """The feature settings (stored in the model JSON as "features", with lists for the tuples)."""

    agent_n: tuple[int, ...]  # n-gram sizes of the agent line
    prev_n: tuple[int, ...]  # n-gram sizes of the customer turn before (() = none)
    prev_chars: int  # how much of the end of that turn they are taken from
    norm: str  # "none" or "l2" (each n-gram group scaled to unit length)
    conj: bool  # ctx:A&pat:B conjunctions
    question: bool  # q:end
    patterns: bool  # pat: and ctx: features
    call_ctx: bool  # call:heat_k and call:calm&pat:X


DEFAULT_CONFIG: FeatureConfig = {
    "agent_n": AGENT_N,
    "prev_n": (),
    "prev_chars": 40,
    "norm": "none",
    "conj": True,
    "question": True,
    "patterns": True,
    "call_ctx": True,
}


def ngrams(text: str, sizes: Sequence[int], prefix: str, out: dict[str, float], norm: str = "none") -> None:
    """Binary n-gram features; with norm="l2" each group is scaled to unit length (1/sqrt(count)), so a
    long line does not outvote the named patterns by sheer number of n-grams."""
    # A dict, not a set: its order is the text's, the same in every process (a set's follows the
    # string hashes, which differ per process and would change the order the weights are added in).
    grams = dict.fromkeys([prefix + text[k : k + n] for n in sizes for k in range(len(text) - n + 1)], 1.0)
    if grams and norm == "l2":
        value = round(1.0 / len(grams) ** 0.5, 4)
        grams = dict.fromkeys(grams, value)
    out.update(grams)


def feature_config(config: Mapping[str, Any] | None) -> FeatureConfig:
    """DEFAULT_CONFIG with `config` (a model's settings, as read from its JSON) over it."""
    if config is None:
        return DEFAULT_CONFIG
    cfg = {**DEFAULT_CONFIG, **config}
    return FeatureConfig(
        agent_n=tuple(cfg["agent_n"]),
        prev_n=tuple(cfg["prev_n"]),
        prev_chars=int(cfg["prev_chars"]),
        norm=str(cfg["norm"]),
        conj=bool(cfg["conj"]),
        question=bool(cfg["question"]),
        patterns=bool(cfg["patterns"]),
        call_ctx=bool(cfg["call_ctx"]),
    )


def _role_of(utterances: Sequence[LineLike], roles: Sequence[str] | None) -> Callable[[int], str]:
    """j -> the role of line j: from `roles` if given, else the utterance's own."""
    if roles is not None:
        return lambda j: roles[j]
    return lambda j: utterances[j].role


@dataclass(frozen=True, slots=True)
class CallContext:
    """What an agent line's features read from the rest of its call, gathered once per call: scoring
    and training look at every agent line of a call, and gathering this per line cost time
    quadratic in the call's length."""

    previous_customer: tuple[str, ...]  # per line: the customer turn before it ('' if none)
    agent_before: tuple[bool, ...]  # per line: the agent has spoken before it
    heat: tuple[int, ...]  # per line: customer turns before it with emotion cues


def call_context(utterances: Sequence[LineLike], roles: Sequence[str] | None = None) -> CallContext:
    role = _role_of(utterances, roles)
    previous, agent_before, heat = [], [], []
    turn: list[str] = []  # the customer's lines since the agent last spoke (the last three count)
    last_turn = ""
    agent_seen, heated = False, 0
    for j in range(len(utterances)):
        previous.append("，".join(turn[-3:]) if turn else last_turn)
        agent_before.append(agent_seen)
        heat.append(heated)
        if role(j) == "customer":
            turn.append(utterances[j].norm)
            if "ctx:cust_emotion" in match_patterns(utterances[j].norm, "customer"):
                heated += 1
        else:
            if turn:
                last_turn, turn = "，".join(turn[-3:]), []
            agent_seen = agent_seen or role(j) == "agent"
    return CallContext(tuple(previous), tuple(agent_before), tuple(heat))


def agent_line_features(
    utterances: Sequence[LineLike],
    i: int,
    roles: Sequence[str] | None = None,
    config: Mapping[str, Any] | None = None,
    context: CallContext | None = None,
) -> dict[str, float]:
    """Features of agent line i (see the module docstring for the names). `config` (stored in the
    model JSON as "features") selects n-gram sizes and scaling; None = DEFAULT_CONFIG. `context`:
    `call_context(utterances, roles)`, passed when features of several lines of one call are wanted."""
    return line_features(utterances, i, feature_config(config), context or call_context(utterances, roles))


def line_features(utterances: Sequence[LineLike], i: int, cfg: FeatureConfig, context: CallContext) -> dict[str, float]:
    """`agent_line_features` with its settings read and its call's context gathered already."""
    f: dict[str, float] = {}
    line = clean_line(utterances[i].norm)
    ngrams(gram_text(line), cfg["agent_n"], "c:", f, cfg["norm"])
    prev = context.previous_customer[i]
    if prev and cfg["prev_n"]:
        # the end of the turn is what the agent answers
        ngrams(clean_line(prev)[-cfg["prev_chars"] :], cfg["prev_n"], "prev:", f, cfg["norm"])
    f.update(other_features(utterances, i, cfg, context, line))
    return f


def gram_text(line: str) -> str:
    """What the agent line's n-grams (c:) are taken from: its cleaned text (`clean_line`) between ^ and $."""
    return "^" + line + "$"


def other_features(
    utterances: Sequence[LineLike], i: int, cfg: FeatureConfig, context: CallContext, line: str
) -> dict[str, float]:
    """The features of agent line i other than the n-grams (c: and prev:), in `line_features`' order;
    `line` is its `clean_line`."""
    text = utterances[i].norm
    f: dict[str, float] = {}
    prev = context.previous_customer[i]
    if not prev:
        f["prev:<none>"] = 1.0
    pats = match_patterns(text, "agent") if cfg["patterns"] else {}
    ctx = match_patterns(prev, "customer") if prev and cfg["patterns"] else {}
    for name in pats:
        f[name] = 1.0
    for name in ctx:
        f[name] = 1.0
    for c in _CONJ_CTX if cfg["conj"] else ():
        if c in ctx:
            for p in pats:
                f[c + "&" + p] = 1.0
    n = len(utterances)
    f[f"pos:{min(9, int(10 * i / max(1, n)))}"] = 1.0
    f[f"neg:{min(3, len(_NEG.findall(line)))}"] = 1.0
    L = len(line)
    f["len:%s" % ("<8" if L < 8 else "<20" if L < 20 else "<45" if L < 45 else "45+")] = 1.0
    if not context.agent_before[i]:
        f["first_agent"] = 1.0
    if cfg["question"] and _QUESTION_END.search(text):
        f["q:end"] = 1.0
    if cfg["patterns"] and cfg["call_ctx"]:
        # how heated the call has been so far (customer turns before this line with emotion cues)
        heat = context.heat[i]
        f["call:heat_%s" % ("0" if heat == 0 else "1" if heat == 1 else "2-3" if heat <= 3 else "4+")] = 1.0
        if heat == 0:
            for p in pats:
                f["call:calm&" + p] = 1.0
    f["bias"] = 1.0
    return f


_PATTERN_WORDS = {
    "shift_elsewhere": "让客户去找别的部门或单位",
    "not_our_scope": "说不归我们管、与我们无关",
    "go_police": "让客户去报警",
    "vague_later": "含糊的以后再说(没有具体时间)",
    "concrete_time": "给出了具体时间",
    "no_time_given": "没有给出时间",
    "hedge_word": "用了可能、应该、好像之类的含糊词",
    "system_fact_maybe": "可能出现在系统显示的事实里",
    "polite_yinggai": "应该的(客气话)",
    "flat_no": "直接拒绝",
    "no_way_then_alternative": "没办法之后马上给出替代办法",
    "impossible_promise": "不可能用于承诺",
    "agent_acts": "客服主动去办",
    "blame_customer": "把责任推给客户",
    "cant_help": "说帮不了",
    "recording_threat": "拿录音压客户",
    "recording_disclosure": "中性的录音告知",
    "you_agreed": "说客户当时同意过",
    "silence_customer": "打断或压制客户",
    "reassure": "安抚客户",
}
_CONTEXT_WORDS = {
    "cust_emotion": "客户刚表达了情绪",
    "cust_asks_time": "客户刚问了时间",
    "cust_asks_fact": "客户刚问了事实",
    "cust_requests": "客户刚提出要求",
    "cust_thanks": "客户刚道谢",
}


def describe_feature(name: str) -> str:
    """A feature as a reviewer reads it: c:不归 -> 说了「不归」, pat:vague_later -> 含糊的以后再说 …"""
    if "&" in name:
        return " 且 ".join(describe_feature(part) for part in name.split("&"))
    key, _, value = name.partition(":")
    if key == "c":
        return f"说了「{value.strip('^$')}」" + (
            "(句首)" if value.startswith("^") else "(句末)" if value.endswith("$") else ""
        )
    if key == "prev":
        return f"客户上一句说了「{value}」"
    if key == "pat":
        base, _, exception = value.partition("~")
        words = _PATTERN_WORDS.get(base, base)
        return f"{words}(但有例外语境)" if exception else words
    if key == "ctx":
        return _CONTEXT_WORDS.get(value, value)
    if key == "call":
        if value.startswith("heat_"):
            return f"此前客户有 {value[5:]} 次情绪表达"
        return "客户此前一直平静"
    if key == "pos":
        return f"位于通话 {int(value) * 10}%–{int(value) * 10 + 10}%"
    if key == "neg":
        return f"含 {value} 个否定词"
    if key == "len":
        return f"长度 {value} 字"
    if name == "first_agent":
        return "客服的第一句"
    if name == "q:end":
        return "以问句结尾"
    return name
