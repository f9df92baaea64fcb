"""Features for the trained stage segmenter (问候 / 切入 / 转化 / 协议 / 结束).

`call_features(utterances, cue_stages)` gives the features of every utterance of a call. It is a pure
function of the utterances' `.role` and `.norm` (normalised text, as callqa's readers give it) and of
which stages' rubric cues hit each utterance, so it can move into the package unchanged.

Every feature name is human-readable, because the segmenter prints the strongest features behind a
boundary: `ng:还有什么` (a character n-gram), `pos:9` (last tenth of the call), `prev_role:customer`,
`seen_cue:协议` (a 协议 cue was heard earlier), `since_matter:3-4` (turns since the customer stated the
matter) ….

What varies between writers and transcription systems is folded away before n-grams are taken:
digits and read-out numbers, placeholders such as `[订单x]`, names before 先生/女士, punctuation (ASR
text has none). Speaker-label style, timestamps and Traditional script never reach this module: the
reader has normalised them already.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate, pairwise
from typing import Protocol

STAGES: tuple[str, ...] = ("问候", "切入", "转化", "协议", "结束")


class UtteranceLike(Protocol):
    @property
    def role(self) -> str: ...  # 'agent' | 'customer' | 'system' | 'unknown'

    @property
    def norm(self) -> str: ...  # normalised text


# Which feature groups are on, and their parameters. `train.py` stores the settings in the model so
# that scoring uses exactly the features the model was trained with.
DEFAULT_FEATURES: dict[str, int | bool] = {
    "ngram_max": 3,  # character n-grams ngram_min..ngram_max of the folded text
    "ngram_min": 1,
    "ngram_role": False,  # also emit role-tagged n-grams (a|ng:…, c|ng:…)
    "context_ngrams": 2,  # n-gram order used for the previous / next utterance (0 = none)
    "position": True,  # pos:k (tenths), start:k, end:k
    "ranks": True,  # rank among agent turns / customer turns, from start and from end
    "matter": True,  # first substantive customer turn, and turns since it
    "cues": True,  # rubric stage cues of this, previous and next utterance
    "cumulative": True,  # seen_cue:S, cust_emotion_before, …
    "lexical": True,  # question / time / amount / deadline / thanks flags
    "length": True,
    "outbound": True,  # the agent opens by asking for the person called (外呼): conjoined with turn ranks
    "relpos": True,  # relative position as a real value (and its square)
    "anchors": True,  # turns since the first 协议-like / emotion / closing evidence
    # {role}_upset and agent_manages: a wider lexicon of being upset and of handling it (转化). Off
    # in models trained before it existed (their settings lack the key), so they see what they saw.
    "upset": False,
    # {role}_request / {role}_solution, and as anchors the customer's first request and the agent's
    # first way out: where the labelling guideline starts 协议 ("the first concrete solution, offer or
    # deadline, or the customer's request for an action"). Off in models trained before it existed.
    "requests": False,
}
#: What `callqa train stages` uses now (DEFAULT_FEATURES is what an older model's settings omit).
TRAINING_FEATURES: dict[str, int | bool] = {**DEFAULT_FEATURES, "upset": True, "requests": True}

# --- text folding -----------------------------------------------------------------------------

# A call's texts are folded and searched joined by newlines, one regex call for the call instead of
# one per utterance: so no regex here may match across a newline (nor need one: normalised text
# holds no white space), and `$` is a text's end under re.MULTILINE.
_PLACEHOLDER = re.compile(r"\[[^\]\n]{0,20}\]|【[^】\n]{0,20}】|\{[^}\n]{0,20}\}|<[^>\n]{0,20}>")
_DIGITS = re.compile(r"[0-9０-９]+(?:[.:：\-/][0-9０-９]+)*")
_CN_NUMBER = re.compile(r"[零〇一二三四五六七八九十百千万两幺]{3,}")  # read-out numbers (138…), not 一下
_NAME_TITLE = re.compile(r"[\u4e00-\u9fff](?=(?:先生|女士|小姐|师傅|阿姨|大爷|经理|老师|同学))")
_SURNAME = re.compile(r"(?<=[姓])[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]+")
_PUNCT = re.compile(r"[^\w#]+|_")  # split text into punctuation-free runs; '#' is the placeholder mark

_QUESTION_WORDS = re.compile(
    r"什么|怎么|哪|几[点天个号]|多少|多久|多长|是否|是不是|能不能|可不可以|可以吗|有没有|对吗|对不对|行不行|好吗|"
    r"吗$|呢$|么$|请问",
    re.MULTILINE,
)
_TIME = re.compile(
    r"[0#](?:点|时|分|号|日|月|天|小时|分钟|个工作日|工作日)|今天|明天|后天|今晚|明早|上午|下午|晚上|"
    r"礼拜|星期|周[一二三四五六日末]|月底|月初|小时|分钟|工作日|马上|立刻|尽快"
)
_DEADLINE = re.compile(r"之前|以前|之内|以内|内[给回完到]|前[给回完到]|最晚|最迟|截止|到期|期限|时限")
_AMOUNT = re.compile(r"[0#](?:元|块|万|千|百|角|%|折)|金额|费用|退款|赔偿|补偿|优惠|券|积分|返还")
_THANKS = re.compile(r"谢谢|感谢|多谢|再见|拜拜|辛苦|不客气|祝您")
_ANYTHING_ELSE = re.compile(r"还有(?:什么|其他|别的)|其他问题|别的问题|还需要")
_EMOTION = re.compile(r"[!！]|凭什么|什么意思|太[过离差慢]|气死|投诉|搞什么|怎么回事|开玩笑|骗|坑|受不了|着急|急死|烦")
# Being upset in words the short list above misses: indignation (什么叫…, 到底…, 合着…), blame thrown
# back, sarcasm, exhaustion. Domain phrases, not taken from any one writer's calls.
_UPSET = re.compile(
    r"什么叫|到底|合着|受得了|气人|生气|火大|离谱|过分|无语|服了|忽悠|糊弄|敷衍|欺负|憋屈|失望|闹心|崩溃|"
    r"有没有搞错|等于没说|怪我|讲不讲理|什么态度|不像话|岂有此理|耍我|冤枉|白白|凭啥|算什么|像话吗|"
    r"好几次|多少次|三番五次|又是|还要等|一直没|都[0-9零一二三四五六七八九十两几]+[天次遍回]了"
)
# The agent handling feelings or arguing back (the start of 转化 in good and bad calls alike).
_MANAGES = re.compile(
    r"理解|明白您|换谁|搁谁|谁都会|确实|心情|别着急|别急|您消消气|消消气|您听我说|你听我说|我跟您说|我跟你说|"
    r"不是这个意思|规定就是|没办法|说实话|您先别|请您放心|您放心"
)
# Asking for an action (能不能…, 你们就不能…吗, 帮我…, 给个说法) and offering a way out (您先…, 我帮您…,
# 给您重新…, 建议您…, 之内): domain phrases from the guideline's definition of 协议, not any writer's calls.
_REQUEST = re.compile(
    r"就不能|不能.{0,8}吗|能不能|可不可以|行不行|不就行了|帮我|给我|我要|我想要|怎么算|退给我|给个说法|怎么补|要怎么|"
    r"那怎么"
)
_SOLUTION = re.compile(
    r"您(?:先|可以|需要|得|要|就)|需要您|请您|我(?:这边|现在|马上|先)?(?:帮|给)您|"
    r"给您(?:办|处理|申请|安排|登记|改|补|退|重新|发)|可以(?:帮|给)您|建议您|这样吧|之内|以内"
)


def fold(norm: str) -> str:
    """Normalised text with the writer- and call-specific details folded away (see module docstring)."""
    text = _PLACEHOLDER.sub("#", norm)
    text = _DIGITS.sub("0", text)
    text = _CN_NUMBER.sub("0", text)
    text = _NAME_TITLE.sub("X", text)
    text = _SURNAME.sub("X", text)
    text = _LATIN.sub("a", text)
    return text


def fold_all(norms: Sequence[str]) -> list[str]:
    """`fold` of each text, in one pass over them all (see the note above the folding regexes)."""
    if any("\n" in norm for norm in norms):  # not normalised text: one by one
        return [fold(norm) for norm in norms]
    return fold("\n".join(norms)).split("\n") if norms else []


def _texts_matching(regex: re.Pattern[str], texts: Sequence[str], ends: Sequence[int]) -> set[int]:
    """The indices of the texts `regex` finds something in, searched in the texts joined by newlines
    (`ends`: where each text's newline ends). The first match in a text is the one a search of that
    text alone would find: no match spans a newline, so none that began earlier reaches into it.
    Once a text has a match the search goes on from the next text: the rest of it cannot add one."""
    joined = "\n".join(texts)
    found: set[int] = set()
    at = 0
    while at <= len(joined):
        match = regex.search(joined, at)
        if match is None:
            break
        text = bisect_right(ends, match.start())
        found.add(text)
        at = ends[text]
    return found


def _runs(folded: str) -> list[str]:
    """Punctuation-free runs of the folded text (n-grams never cross punctuation)."""
    return [r for r in _PUNCT.split(folded) if r]


def ngrams(runs: Sequence[str], n_max: int, n_min: int = 1) -> list[str]:
    """The distinct character n-grams (n_min..n_max) of each run, in the text's order: the same order
    in every process (a set's would follow the string hashes) without the cost of sorting."""
    return list(
        dict.fromkeys(
            [run[i : i + n] for run in runs for n in range(n_min, n_max + 1) for i in range(len(run) - n + 1)]
        )
    )


@lru_cache(maxsize=4096)  # a handful of distinct (value, edges) pairs per call, asked for again and again
def _bucket(value: int, edges: tuple[int, ...]) -> str:
    """'0', '1', …, or 'a-b' / 'a+' for a count, by the given bucket starts (edges ascending)."""
    for lo, hi in pairwise(edges):
        if lo <= value < hi:
            return str(lo) if hi == lo + 1 else f"{lo}-{hi - 1}"
    return f"{edges[-1]}+"


_TURN_EDGES = (0, 1, 2, 3, 5, 8)
_LEN_EDGES = (0, 4, 9, 17, 33, 65)
_GREETING_ONLY = re.compile(
    r"^(?:喂|你好|您好|hello|hi|在吗|在不在|嗯|哦|啊|是的|是|对|好的|好|我是|我姓X|X先生|X女士|0)*$"
)


_OUTBOUND = re.compile(
    r"(?:请问)?(?:是|您是)[^,。?!]{0,12}(?:X先生|X女士|X小姐|本人|机主|家属|吗|吧|是吧|对吧)|回访|外呼|给您来电|打扰"
)


def _is_substantive(folded_runs: Sequence[str], cues: set[str]) -> bool:
    """A customer turn that is about the matter: more than a hello, a name or a yes. An order card or
    other placeholder-only message (online chats open with one) counts: it is the matter."""
    content = "".join(folded_runs)
    if content and set(content) <= {"#", "0"} and "#" in content:
        return True
    if _GREETING_ONLY.match(content):
        return False
    stripped = re.sub(r"喂|你好|您好|在吗|我是|我姓X|X先生|X女士|请问", "", content)
    return len(stripped) >= 5 or "切入" in cues


#: The n-gram features' prefixes: an utterance's own n-grams, and its neighbours'.
GRAM, PREV_GRAM, NEXT_GRAM = "ng:", "prev_ng:", "next_ng:"


@dataclass(frozen=True, slots=True)
class CallFeatures:
    """One call's features, with the n-grams kept apart from the rest.

    Nine in ten of a call's features are n-grams, each named three times over (its own utterance's
    `ng:还有`, and `prev_ng:`/`next_ng:` on its neighbours'): the stage model finds the n-grams it
    knows in the text itself (`StageModel.marginals`), so the n-grams are listed and named only when
    `rows()` is asked for (training, and explaining a boundary)."""

    named: list[dict[str, float]]  # per utterance: every feature but the n-grams
    runs: list[list[str]]  # per utterance: the punctuation-free runs of its folded text, the n-grams' source
    sizes: tuple[int, int]  # the utterance's own n-grams: shortest and longest
    context_sizes: tuple[int, int]  # the n-grams its neighbours see: shortest and longest

    @property
    def grams(self) -> list[list[str]]:
        """Per utterance: its distinct n-grams (features GRAM + g)."""
        low, high = self.sizes
        return [ngrams(runs, high, low) for runs in self.runs]

    @property
    def context(self) -> list[list[str]]:
        """Per utterance: the distinct n-grams its neighbours see (PREV_GRAM + g on the next one, …)."""
        low, high = self.context_sizes
        return [ngrams(runs, high, low) for runs in self.runs]

    def rows(self) -> list[dict[str, float]]:
        """One {feature name: value} dict per utterance (all values 1.0 except where noted)."""
        last = len(self.named) - 1
        grams, context = self.grams, self.context
        rows = []
        for i, named in enumerate(self.named):
            row = dict(named)
            row.update(dict.fromkeys([GRAM + g for g in grams[i]], 1.0))
            if i > 0:
                row.update(dict.fromkeys([PREV_GRAM + g for g in context[i - 1]], 1.0))
            if i < last:
                row.update(dict.fromkeys([NEXT_GRAM + g for g in context[i + 1]], 1.0))
            rows.append(row)
        return rows


def call_features(
    utterances: Sequence[UtteranceLike],
    cue_stages: Sequence[set[str] | frozenset[str]],
    settings: Mapping[str, int | bool] | None = None,
) -> CallFeatures:
    """The features of every utterance of a call."""
    opt = dict(DEFAULT_FEATURES)
    if settings:
        opt.update(settings)
    n_max = int(opt["ngram_max"])
    ctx_n = int(opt["context_ngrams"])
    count = len(utterances)

    roles = [u.role for u in utterances]
    # Each utterance's cue stages in one fixed order: a set's order follows the string hashes, which
    # differ per process, and the order of a row's features is the order their weights are added in.
    stage_cues = [sorted(stages) for stages in cue_stages]
    folded = fold_all([u.norm for u in utterances])
    runs = [_runs(f) for f in folded]
    joined = ["".join(r) for r in runs]
    n_min = int(opt["ngram_min"])
    # The neighbours' n-grams: 2..context_ngrams (none for 0), and no shorter than the own ones when
    # they are a subset of them (as models have always been trained).
    ctx_min = min(2, ctx_n)
    context_sizes = (max(ctx_min, n_min), ctx_n) if ctx_n <= n_max else (ctx_min, ctx_n)

    # Turn ranks per role (agent turn 0, 1, 2 … from the start and from the end).
    rank: list[int] = []
    rank_end: list[int] = []
    totals: dict[str, int] = {}
    for role in roles:
        rank.append(totals.get(role, 0))
        totals[role] = totals.get(role, 0) + 1
    seen: dict[str, int] = {}
    for role in roles:
        seen[role] = seen.get(role, 0) + 1
        rank_end.append(totals[role] - seen[role])

    # The customer's first statement of the matter (切入 usually starts there).
    matter = next(
        (i for i in range(count) if roles[i] == "customer" and _is_substantive(runs[i], set(cue_stages[i]))),
        None,
    )

    # Outbound call: the agent speaks first and asks for the person called, or announces a follow-up.
    first_agent = next((i for i in range(count) if roles[i] == "agent"), None)
    outbound = (
        bool(opt["outbound"])
        and first_agent is not None
        and first_agent <= 1
        and bool(
            _OUTBOUND.search(folded[first_agent])
            and not _ANYTHING_ELSE.search(folded[first_agent])
            and "有什么可以" not in folded[first_agent]
        )
    )

    # Each utterance's lexical flags, searched once: its own features and the anchors both use them.
    flags = _lexical_flags([u.norm for u in utterances], joined)

    named: list[dict[str, float]] = []
    first_seen: dict[str, int] = {}  # anchor -> index of the first utterance that showed it
    cues_before: dict[str, None] = {}  # dicts, not sets, for the same reason: their order is fixed
    cust_cues_before: dict[str, None] = {}
    emotion_before = False
    thanks_before = False
    for i in range(count):
        f: dict[str, float] = {"bias": 1.0}
        role = roles[i]
        f[f"role:{role}"] = 1.0
        text = joined[i]
        cues = stage_cues[i]

        if outbound:
            f["outbound"] = 1.0
            f[f"outbound&{role}_rank:{_bucket(rank[i], _TURN_EDGES)}"] = 1.0
        if opt["relpos"]:
            x = (i + 0.5) / count
            f["relpos"] = x
            f["relpos^2"] = x * x
        if opt["position"]:
            f[f"pos:{min(9, int(10 * i / count))}"] = 1.0
            f[f"start:{_bucket(i, _TURN_EDGES)}"] = 1.0
            f[f"end:{_bucket(count - 1 - i, _TURN_EDGES)}"] = 1.0
        if opt["ranks"]:
            f[f"{role}_rank:{_bucket(rank[i], _TURN_EDGES)}"] = 1.0
            f[f"{role}_rank_end:{_bucket(rank_end[i], _TURN_EDGES)}"] = 1.0
        if opt["length"]:
            f[f"len:{_bucket(len(text), _LEN_EDGES)}"] = 1.0
        if opt["lexical"]:
            lexical = flags[i]
            for name in ("question", "time_expr", "deadline_expr", "amount_expr"):
                if name in lexical:
                    f[name] = 1.0
            for name in ("thanks", "anything_else", "emotion"):
                if name in lexical:
                    f[f"{role}_{name}"] = 1.0
            if opt["upset"]:
                if "upset" in lexical:
                    f[f"{role}_upset"] = 1.0
                if role == "agent" and "manages" in lexical:
                    f["agent_manages"] = 1.0
            if opt["requests"]:
                for name in ("request", "solution"):
                    if name in lexical:
                        f[f"{role}_{name}"] = 1.0
            if thanks_before:
                f["thanks_before"] = 1.0
            if emotion_before:
                f["cust_emotion_before"] = 1.0
        if opt["ngram_role"]:
            f.update(dict.fromkeys([f"{role[0]}|ng:{g}" for g in ngrams(runs[i], n_max, n_min)], 1.0))
        for offset, tag in ((-1, "prev"), (1, "next")):
            j = i + offset
            if 0 <= j < count:
                f[f"{tag}_role:{roles[j]}"] = 1.0
                if roles[j] == role:
                    f[f"{tag}_same_speaker"] = 1.0
                if opt["cues"]:
                    for s in stage_cues[j]:
                        f[f"{tag}_cue:{s}"] = 1.0
            else:
                f[f"{tag}:none"] = 1.0
        if opt["cues"]:
            for s in cues:
                f[f"cue:{s}"] = 1.0
                f[f"{role}_cue:{s}"] = 1.0
        if opt["cumulative"]:
            for s in cues_before:
                f[f"seen_cue:{s}"] = 1.0
            for s in cust_cues_before:
                f[f"seen_cust_cue:{s}"] = 1.0
        if opt["matter"]:
            if matter is None:
                f["matter:none"] = 1.0
            elif i < matter:
                f["before_matter"] = 1.0
                f[f"to_matter:{_bucket(matter - i, _TURN_EDGES)}"] = 1.0
            elif i == matter:
                f["is_matter"] = 1.0
            else:
                f[f"since_matter:{_bucket(i - matter, _TURN_EDGES)}"] = 1.0
        if opt["anchors"]:
            for anchor, j in first_seen.items():
                f[f"since_{anchor}:{_bucket(i - j, _TURN_EDGES)}"] = 1.0
        named.append(f)

        # Anchors seen up to and including this utterance (used from the next one on).
        lexical = flags[i]
        if role == "customer" and ("转化" in cues or "emotion" in lexical):
            first_seen.setdefault("emotion", i)
        if role == "agent" and ("协议" in cues or ("time_expr" in lexical and "deadline_expr" in lexical)):
            first_seen.setdefault("offer", i)
        if "结束" in cues or "thanks" in lexical:
            first_seen.setdefault("thanks", i)
        if opt["requests"]:
            if role == "customer" and "request" in lexical:
                first_seen.setdefault("request", i)
            if role == "agent" and "solution" in lexical:
                first_seen.setdefault("solution", i)
        cues_before.update(dict.fromkeys(cues))
        if role == "customer":
            cust_cues_before.update(dict.fromkeys(cues))
            if "emotion" in lexical or "转化" in cues:
                emotion_before = True
        if "thanks" in lexical:
            thanks_before = True
    return CallFeatures(named, runs, (n_min, n_max), context_sizes)


#: Flag name -> the regex that sets it, searched in the folded text (emotion: in the normalised text,
#: whose 「!」 the folding drops). A question mark sets "question" too.
_LEXICAL_ON_FOLDED = (
    ("question", _QUESTION_WORDS),
    ("time_expr", _TIME),
    ("deadline_expr", _DEADLINE),
    ("amount_expr", _AMOUNT),
    ("thanks", _THANKS),
    ("anything_else", _ANYTHING_ELSE),
    ("upset", _UPSET),
    ("manages", _MANAGES),
    ("request", _REQUEST),
    ("solution", _SOLUTION),
)


def _lexical_flags(norms: Sequence[str], texts: Sequence[str]) -> list[frozenset[str]]:
    """The lexical flags of each utterance: `norms` their normalised texts, `texts` their folded runs
    joined, each regex searched once over the whole call."""
    found: list[set[str]] = [set() for _ in norms]
    if any("\n" in norm for norm in norms):  # not normalised text: one by one
        for flags, norm, text in zip(found, norms, texts, strict=True):
            flags.update(name for name, regex in _LEXICAL_ON_FOLDED if regex.search(text))
            if _EMOTION.search(norm):
                flags.add("emotion")
    else:
        text_ends = list(accumulate(len(text) + 1 for text in texts))
        for name, regex in _LEXICAL_ON_FOLDED:
            for i in _texts_matching(regex, texts, text_ends):
                found[i].add(name)
        for i in _texts_matching(_EMOTION, norms, list(accumulate(len(norm) + 1 for norm in norms))):
            found[i].add("emotion")
    for flags, norm in zip(found, norms, strict=True):
        if "?" in norm or "？" in norm:
            flags.add("question")
    return [frozenset(flags) for flags in found]


# --- feature names in words a trainer reads -------------------------------------------------------

_ROLE_WORDS = {"agent": "客服", "customer": "客户", "system": "系统消息", "unknown": "未知说话人"}
_FLAG_WORDS = {
    "bias": "(基线)",
    "question": "是问句",
    "time_expr": "提到时间",
    "deadline_expr": "提到期限",
    "amount_expr": "提到金额或补偿",
    "thanks_before": "此前已有人道谢或道别",
    "cust_emotion_before": "客户此前已表达情绪",
    "before_matter": "在客户说明来意之前",
    "is_matter": "客户第一次说明来意",
    "matter:none": "客户始终没有说明来意",
    "prev:none": "通话第一句",
    "next:none": "通话最后一句",
    "prev_same_speaker": "与上一句同一人说",
    "next_same_speaker": "与下一句同一人说",
    "outbound": "外呼通话(客服先找人)",
    "agent_manages": "客服安抚情绪或据理争辩",
    "relpos": "在通话中的相对位置",
    "relpos^2": "在通话中的相对位置(平方)",
}
_ANCHOR_WORDS = {
    "offer": "第一次给出方案或时间",
    "emotion": "客户第一次表达情绪",
    "thanks": "第一次道谢或道别",
    "request": "客户第一次提出要求",
    "solution": "客服第一次给出办法",
}


def _nth(bucket: str, beyond: str = "及以后") -> str:
    """A 0-based turn bucket in words, counted from one: 0 -> 第 1 句, 3-4 -> 第 4–5 句, 8+ -> 第 9 句及以后
    (the feature names keep the 0-based buckets the models were trained on)."""
    try:
        if bucket.endswith("+"):
            return f"第 {int(bucket[:-1]) + 1} 句{beyond}"
        low, _, high = bucket.partition("-")
        return f"第 {int(low) + 1}–{int(high) + 1} 句" if high else f"第 {int(low) + 1} 句"
    except ValueError:  # not a bucket: say it as it is
        return f"第 {bucket} 句"


def describe_feature(name: str) -> str:
    """A feature name as a trainer reads it: ng:还有什么 -> 说了「还有什么」, pos:9 -> 位于通话 90%–100%."""
    if name in _FLAG_WORDS:
        return _FLAG_WORDS[name]
    key, _, value = name.partition(":")
    role_prefix, _, rest = key.partition("_")
    if key == "ng":
        return f"说了「{value}」"
    if key in ("prev_ng", "next_ng"):
        return f"{'上' if key == 'prev_ng' else '下'}一句说了「{value}」"
    if key == "role":
        return f"{_ROLE_WORDS.get(value, value)}说的"
    if key in ("prev_role", "next_role"):
        return f"{'上' if key == 'prev_role' else '下'}一句是{_ROLE_WORDS.get(value, value)}"
    if key == "pos":
        return f"位于通话 {int(value) * 10}%–{int(value) * 10 + 10}%"
    if key == "start":
        return f"通话{_nth(value)}"
    if key == "end":
        return f"通话倒数{_nth(value, '及更早')}"
    if key == "len":
        return f"长度 {value} 字"
    if "&" in name:
        return " 且 ".join(describe_feature(part) for part in name.split("&"))
    if key == "since_matter":
        return f"客户说明来意后第 {value} 句"
    if key.startswith("since_"):
        return f"{_ANCHOR_WORDS.get(key[6:], key[6:])}之后第 {value} 句"
    if key == "to_matter":
        return f"客户说明来意前 {value} 句"
    if key in ("cue", "prev_cue", "next_cue"):
        where = {"cue": "", "prev_cue": "上一句", "next_cue": "下一句"}[key]
        return f"{where}命中「{value}」阶段的规则线索"
    if key in ("seen_cue", "seen_cust_cue"):
        return f"此前{'客户' if key == 'seen_cust_cue' else ''}已命中「{value}」阶段的线索"
    if role_prefix in _ROLE_WORDS:
        who = _ROLE_WORDS[role_prefix]
        if rest == "cue":
            return f"{who}命中「{value}」阶段的规则线索"
        if rest in ("rank", "rank_end"):
            return f"{who}的{_nth(value)}" if rest == "rank" else f"{who}倒数{_nth(value, '及更早')}"
        words = {
            "thanks": "道谢或道别",
            "anything_else": "问还有没有别的问题",
            "emotion": "表达情绪",
            "upset": "表达不满",
            "request": "提出要求",
            "solution": "给出办法",
        }
        if rest in words:
            return f"{who}{words[rest]}"
    return name
