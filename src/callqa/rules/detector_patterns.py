"""Named patterns for forbidden-expression evidence, as data, plus a tiny matcher.

Each pattern is a dict:
  name      feature name, e.g. "pat:shift_elsewhere"
  hint      category the pattern usually points to (推诿 拖延 否定 含糊 冷漠 强势) or "ok" for
            patterns that mark a near-miss / good practice
  any       list of regexes; the pattern fires if one matches the (folded, normalised) text
  unless    optional list of regexes; if one of them matches the same text the pattern does NOT
            fire as itself but as "<name>~exc" (the near-miss variant, a separate feature)
  after     optional list of regexes that must match AFTER the main match (ordered terms)
  scope     "agent" (default) or "customer" (run on the customer turn before; name "ctx:...")

The regexes are plain Python `re` on normalised text (Simplified, half-width, fillers removed,
digits folded to 0, placeholders to "<ph>"). No \\b (useless between Chinese characters).
Patterns were written from the labelling guideline and the domain notes (禁忌语 seed wording),
generalised to paraphrase families; they are evidence features for the trained model, not rules
by themselves.
"""

from __future__ import annotations

import re

# The parser re.compile itself uses, and its tree's opcodes (typeshed has no stubs for them, private):
# `_required_literals` reads what a detector regex needs from it. A Python that moves them only costs
# speed: every regex then runs on every line.
try:
    import re._constants as _re  # type: ignore[import-not-found]
    import re._parser as _re_parser  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - CPython 3.11 to 3.13 have both
    _re_parser = None
from collections.abc import Iterator
from functools import lru_cache
from itertools import count
from typing import Any, NotRequired, TypedDict

import ahocorasick

YOU = "(?:您|你|妳|亲)"
OTHER_PARTY = (
    "(?:商家|卖家|店家|银行|开户行|营业厅|营业员|物业|保险公司|平台|快递|厂家|医院|医生|社区|居委会|街道|"
    "区里|机构|网点|柜台|柜面|他们|那边|对方|4s店|运营商|派出所|警察|片区|服务站|主管部门|相关部门|别的部门|"
    "其他部门|理财公司|发卡行|公司|单位|人资|税务|派出所|售后|客服热线|热线|官方|经销商|门店|专柜|药房|科室)"
)
CONCRETE_TIME = (
    r"(?:今天|今晚|明天|后天|周[一二三四五六日天末]|星期[一二三四五六日天]|礼拜[一二三四五六日天]|本周|这周|下周|"
    r"0+(?:点|号|日|月)|0+(?:个)?(?:工作日|小时|分钟|天)(?:之?内|以内)|(?:之|以)前|上午|下午|晚上)"
)
AGENT_ACTS = (
    r"(?:我|我们|我这边|这边)(?:可以|现在|马上|直接|先|这就|立刻|会|来|已经)?(?:就)?(?:帮|给|为|替)(?:您|你)"
    r".{0,8}(?:申请|提交|办|登记|联系|转|预约|发|开|改|查|催|安排|派|补|退|重新|备份|处理|加急|反馈|约)"
    r"|我来(?:帮|处理|跟进|联系)|我(?:现在|马上)(?:就)?(?:帮|给|去|打|联系|转)"
)
ALTERNATIVE = (
    r"(?:不过|但是|但|可是|另外|要不|或者)(?:.{0,12})(?:可以|帮您|给您|为您|有(?:一个|个|别的|其他)?(?:办法|方式|渠道)|"
    r"不用|直接|能)|有(?:一个|个)?(?:别的|其他)?办法|您看这样"
)


class PatternSpec(TypedDict):
    """One named pattern (the keys are described in the module docstring)."""

    name: str
    hint: NotRequired[str]
    any: list[str]
    unless: NotRequired[list[str]]
    after: NotRequired[list[str]]
    scope: NotRequired[str]


PATTERNS: list[PatternSpec] = [
    # ---- 推诿 shifting responsibility / sending elsewhere --------------------------------------
    {
        "name": "pat:shift_elsewhere",
        "hint": "推诿",
        "any": [
            YOU
            + (
                r"?(?:得|要|需要|可以|就|直接|先|还是|最好)?(?:自己)?(?:去|再)?"
                r"(?:找|问问?|联系|咨询|致电|打给?|反映|问一下)(?:一下)?.{0,8}"
            )
            + OTHER_PARTY,
            r"(?:找|问|去)" + OTHER_PARTY + r".{0,6}(?:吧|去|问问|处理|弄|沟通|反映|核实)",
            r"建议" + YOU + r"?(?:先|直接)?.{0,12}(?:沟通|核实|反映|咨询|联系|致电|问)",
            r"(?:这个|这事|这种)?要" + OTHER_PARTY + r"(?:去|来)?(?:弄|申请|处理|办)",
            OTHER_PARTY + r"(?:那边)?(?:在管|管的|负责的|审批|处理的|决定的)",
        ],
        "unless": [AGENT_ACTS, r"不用" + YOU + r"?(?:再)?(?:去|跑|找)"],
    },
    {
        "name": "pat:not_our_scope",
        "hint": "推诿",
        "any": [
            r"不(?:归|属于|在|是)(?:我们|我司|咱们|我们这边|我们热线|我们服务中心|客服)?.{0,6}(?:管|负责|职能|业务范围|服务范围|范围里|权限)",
            r"管不了|管不着|管不到|不负责|不承担(?:责任)?|没有(?:办法)?干预|是不掌握的|判断不了",
            r"不是我们(?:的)?(?:责任|问题|负责|部门|这边)|跟我们没(?:有)?关系|与我们无关|不关我们",
            r"那就是.{0,6}的(?:事|问题)|是.{0,6}(?:那边|方)的问题|(?:银行|商家|快递|手机|医生|医师)(?:那边)?的问题",
            r"(?:只是|只系|只)(?:一个)?(?:代销|平台|转办|受理|代理|中介|便民|照.{0,6}发)|而已",
        ],
        "unless": [r"是我们的(?:责任|问题)", r"我们(?:做得)?不到位"],
    },
    {"name": "pat:go_police", "hint": "推诿", "any": [r"(?:去|可以)报警|让警察|找警察"]},
    # ---- 拖延 vague delay ----------------------------------------------------------------------
    {
        "name": "pat:vague_later",
        "hint": "拖延",
        "any": [
            r"改天|回头|过几天|过两天|再等两天|过阵子|过段时间|以后再|到时候再|后面再|再说吧|再看吧|等等看|再等等|耐心等|等通知|"
            r"等.{0,6}(?:通知|安排|结果|审核)|会有(?:人|专人|同事|专员).{0,4}(?:联系|处理|审)|自然会|排到|等.{0,4}有空|"
            r"留意一下就行|有(?:结果|进展|消息).{0,6}(?:会|再|自然|就)|尽快|什么时候(?:能)?.{0,4}(?:不好说|说不好|不一定|没法|没有办法)|"
            r"时间不一定|再打过来问|看后面|等后面|在走流程|走流程"
        ],
        "unless": [CONCRETE_TIME],
    },
    {
        "name": "pat:concrete_time",
        "hint": "ok",
        "any": [CONCRETE_TIME + r".{0,8}(?:前|内|之前|以内|给您|联系|回复|到|上门|完工|打电话|回电)"],
    },
    {
        "name": "pat:no_time_given",
        "hint": "拖延",
        "any": [
            r"(?:没有办法|没办法|没法|不能)(?:给到|给|跟您确认|给您)?.{0,6}(?:具体|准确)的?(?:时间|说法)|(?:时间|多久|哪天).{0,6}(?:不好说|说不好|说不准|不确定|不一定)"
        ],
    },
    # ---- 含糊 hedging --------------------------------------------------------------------------
    {
        "name": "pat:hedge_word",
        "hint": "含糊",
        "any": [
            r"可能|应该|好像|大概|也许|估计|说不定|不一定|差不多|兴许|不晓得|不好说|说不好|说不准|不太清楚|不确定|不太确定|"
            r"打不了包票|打包票|不好下结论|不好讲|看情况|一般(?:情况下|都|是)?|快的(?:话)?|慢的(?:话)?|有的.{0,6}有的|左右吧|"
            # 吧 ending a guess (大概明天吧), not a tag asking the customer to confirm (…，对吧 / 是吧 / 好吧):
            # a lookbehind, not an `unless`, which would excuse a real hedge before the tag (应该是今天，对吧)
            r"(?<![对是好])吧$"
        ],
        "unless": [
            r"(?:系统|后台|记录|显示|检测|备注|写的是|单上|查询|页面|提示)(?:.{0,14})(?:可能|应该|大概)",
            r"应该的|应该做的|不应该|应该为您|尽可能|可能性|可能会被?录音|可能会录音|就应该|本来应该|本该|应该(?:先|把|一并|带|提前)",
        ],
    },
    {
        "name": "pat:system_fact_maybe",
        "hint": "ok",
        "any": [
            r"(?:系统|后台|记录|检测|备注|写的是|单上|查询结果|页面|提示)(?:显示|写|提示|上|里|结果)?.{0,14}(?:可能|应该|大概)"
        ],
    },
    {"name": "pat:polite_yinggai", "hint": "ok", "any": [r"应该的|应该做的|是我们应该"]},
    # ---- 否定 flat refusal ---------------------------------------------------------------------
    {
        "name": "pat:flat_no",
        "hint": "否定",
        "any": [
            r"(?<!行)不行(?!不)|(?<!可)不可以|办不了|退不了|改不了|做不到|办不到|不受理|不支持|不退|补不了|赔不到|赔不了|转不了|充不了|整不了|动不了|"
            r"操作不了|结清不了|点不了|一律|没有例外|没得(?:谈|商量)|没有商量|不可能(?:的|是)?|规定就是|就是这样|谁来(?:了)?都一样|"
            r"都是一样|不能(?:给您)?破例|无法满足|满足不了|不会做调整|不做调整|没法给您办|不能改|不退不换|没有.{0,4}权限|"
            r"帮不了|处理不了|没办法|没法|做不到|(?<!能)不能(?!不)"
        ],
        "unless": [
            ALTERNATIVE,
            AGENT_ACTS,
            r"只能|看看能不能|帮您.{0,4}(?:问|看)",
            r"不可能(?:再)?(?:让|给您|不|丢|出错|开错|错)|不会让" + YOU,
        ],
    },
    {
        "name": "pat:no_way_then_alternative",
        "hint": "ok",
        "any": [r"(?:没(?:有)?办法|没法|没辙|不能|办不了|处理不了|改不了|退不了|不行)"],
        "after": [ALTERNATIVE + "|" + AGENT_ACTS],
    },
    {
        "name": "pat:impossible_promise",
        "hint": "ok",
        "any": [r"不可能(?:再)?(?:让|给您|不管|丢|出错|开错|错)|不会让" + YOU + r".{0,4}(?:白跑|再跑|等)"],
    },
    {"name": "pat:agent_acts", "hint": "ok", "any": [AGENT_ACTS]},
    {
        "name": "pat:reassure",
        "hint": "ok",
        "any": [
            r"别着急|别担心|别误会|您放心|请放心|理解您|理解你|能理解|不好意思|抱歉|对不起|确实是我们|是我们的(?:责任|问题)|"
            r"没有.{0,6}的意思|换(?:了|作)?是我|辛苦您|麻烦您了|"
            r"确实(?:是)?(?:挺|很|太|够|有点)?(?:闹心|烦|着急|不方便|麻烦|让人|难受|委屈|不容易|折腾)|"
            r"换谁|搁谁|谁(?:都|也)会|(?:您|你)的心情|能体会"
        ],
    },
    # ---- 冷漠 cold / blaming the customer ------------------------------------------------------
    {
        "name": "pat:blame_customer",
        "hint": "冷漠",
        "any": [
            YOU
            + (
                r"自己(?:.{0,6})(?:不看|没看|没听|签|点|操作|不来|没来|没处理|没去|没有|冇|的问题|的义务|"
                r"看着办|找找|搜|翻|查|想办法|考虑|注意|去|问)"
            ),
            r"自个儿|赖谁|(?:你们|您|你)自己的问题|(?:您|你)(?:手机|那边)的问题|本来就(?:得|要|应该)|都交代了|要收好|"
            r"(?:写|列|显示)(?:得)?(?:很|挺|都)?(?:清楚|明白)|都写着|挺明显|也不是多大的事|也正常|很正常|是正常的|"
            r"不是我(?:这边)?(?:操作|定)的",
        ],
    },
    {
        "name": "pat:cant_help",
        "hint": "冷漠",
        "any": [
            r"我(?:这边)?(?:也)?(?:没办法|没辙|冇办法|管不了|管不着|帮不了|处理不了|能咋整|能怎么办|只能)|也没(?:办法|辙)|那就没辙|"
            r"没人了|(?:已经|都)下班了|放假了|找不着|每个人都|个个都|谁都一样|"
            r"控制不了|没有办法替您"
        ],
        "unless": [ALTERNATIVE, AGENT_ACTS],
    },
    # ---- 强势 pressure -------------------------------------------------------------------------
    {
        "name": "pat:recording_threat",
        "hint": "强势",
        "any": [
            r"(?:有|都有|全程|都是有|每通电话都有).{0,4}录音.{0,24}(?:注意|说话|措辞|赖|查得到|记录|为证|听得到|说的|讲过)",
            r"录音.{0,10}" + YOU + r"?(?:自己)?(?:说|讲|答应|确认)",
            r"注意(?:一下)?(?:您的|你的)?(?:措辞|说话|态度)",
            r"(?:我们|这边)(?:电话|通话)?(?:都|全程)(?:是)?有录音",
        ],
        "unless": [
            r"(?:本次|这通|这一段|咱们这通|为了.{0,8}|为保障.{0,6})(?:通话|电话)?.{0,6}(?:会|将|可能会|将会|全程)(?:进行)?录音"
        ],
    },
    {
        "name": "pat:recording_disclosure",
        "hint": "ok",
        "any": [
            r"(?:本次|这通|这一段|咱们这通|为了.{0,8}|为保障.{0,6})(?:通话|电话)?.{0,6}(?:会|将|可能会|将会|全程)(?:进行)?录音|录音(?:存档|录像)|调.{0,4}录音"
        ],
    },
    {
        "name": "pat:you_agreed",
        "hint": "强势",
        "any": [
            YOU + r"(?:当时|自己|本人)?(?:.{0,8})(?:签了字|签的字|签字|签收|勾选|同意|确认过|答应|认可|说的好|亲口)",
            r"签了字就|白纸黑字|赖不掉|勾选了|同意才能|签字就表示|都是(?:会)?作为依据",
        ],
    },
    {
        "name": "pat:silence_customer",
        "hint": "强势",
        "any": [
            r"声音小|小点|嗓门|别喊|用不着喊|冲我喊|不要激动|别激动|吼|让我讲完|插话|听我说完|没法往下聊|冇办法同你沟通|没办法(?:跟|同)(?:你|您)沟通|"
            r"听不明白|没听明白|听不懂|说多少遍|说过了|再问多少遍|你投吧|随便你|随意|不一定有利|想清楚了再|好好说|懂吗|行不行\?|"
            r"说话注意|就说不过去|不能说不知道"
        ],
    },
    # ---- customer turn before (scope customer) -------------------------------------------------
    {
        "name": "ctx:cust_emotion",
        "scope": "customer",
        "hint": "",
        "any": [
            r"投诉|什么态度|凭什么|太过分|怎么回事|气|坑|骗|!|到底|踢皮球|不管|太差|离谱|白跑|什么意思|什么叫|受不了|"
            r"怎么办|我不管|有什么用|就这样|又"
        ],
    },
    {
        "name": "ctx:cust_asks_time",
        "scope": "customer",
        "hint": "",
        "any": [r"多久|什么时候|几点|哪天|多长时间|啥时候|要等|今天能|明天能|多快|排多久|几天"],
    },
    {
        "name": "ctx:cust_asks_fact",
        "scope": "customer",
        "hint": "",
        "any": [r"多少|能不能|会不会|有没有|是不是|吗|到底|能.{0,6}吗|\?|怎么"],
    },
    {
        "name": "ctx:cust_requests",
        "scope": "customer",
        "hint": "",
        "any": [r"(?:你|您)(?:帮|给)我|能不能|我要|给我|帮我|你们就不能|不就行了|退给我"],
    },
    {"name": "ctx:cust_thanks", "scope": "customer", "hint": "", "any": [r"谢谢|麻烦你了|辛苦"]},
]

_FOLD_DIGITS = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_FOLD_CN_NUM = re.compile(
    r"[零〇一二三四五六七八九十两百千万]{2,}|[零〇一二三四五六七八九十两百千]+(?=[点号月天个小时分钟块元岁楼层])"
)
_PLACEHOLDER = re.compile(r"\[[^\]]{0,20}\]|[×xX*＊]{2,}")


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Placeholders -> <ph>, numbers (Arabic, and Chinese numerals in number-like use) -> 0, lowercase."""
    text = _PLACEHOLDER.sub("<ph>", text.lower())
    text = _FOLD_DIGITS.sub("0", text)
    return _FOLD_CN_NUM.sub("0", text)


class _Compiled:
    """A pattern with its regexes compiled, each numbered (`_Scan` tells by the numbers which of them
    can match a text): numbers go up in the order the patterns and their lists are written."""

    __slots__ = ("after", "any", "hint", "name", "scope", "unless")

    def __init__(self, p: PatternSpec, numbers: Iterator[int]):
        self.name = p["name"]
        self.hint = p.get("hint", "")
        self.scope = p.get("scope", "agent")
        self.any = [(next(numbers), re.compile(r)) for r in p["any"]]
        self.unless = [(next(numbers), re.compile(r)) for r in p.get("unless", [])]
        self.after = [(next(numbers), re.compile(r)) for r in p.get("after", [])]


_COMPILED: list[_Compiled] | None = None


def compiled_patterns() -> list[_Compiled]:
    global _COMPILED
    if _COMPILED is None:
        numbers = count()
        _COMPILED = [_Compiled(p, numbers) for p in PATTERNS]
    return _COMPILED


def _required_literals(regex: re.Pattern[str]) -> tuple[str, ...] | None:
    """Literals one of which every match of `regex` contains, read off its parse tree (the one
    `re.compile` builds it from); None when no such literals can be told (e.g. `.{0,6}|不`)."""
    if _re_parser is None or regex.flags & re.IGNORECASE:  # IGNORECASE: its literals match other cases too
        return None
    return _sequence_literals(_re_parser.parse(regex.pattern, regex.flags))


def _sequence_literals(items: Any) -> tuple[str, ...] | None:
    """The required literals of a sequence of parsed items: those of its most selective part (the one
    whose shortest literal is longest), where a part is a run of single characters or one item."""
    candidates: list[tuple[str, ...]] = []
    run = ""
    for op, argument in items:
        if op is _re.LITERAL:
            run += chr(argument)
            continue
        if run:  # anything else ends the run: its characters are consecutive in every match
            candidates.append((run,))
            run = ""
        literals = _item_literals(op, argument)
        if literals:
            candidates.append(literals)
    if run:
        candidates.append((run,))
    return max(candidates, key=lambda literals: min(map(len, literals)), default=None)


def _item_literals(op: Any, argument: Any) -> tuple[str, ...] | None:
    """The required literals of one parsed item other than a single character, or None (an item that
    may match nothing, such as `x?` or a lookaround, or one too wide, such as `.` or `[^x]`)."""
    if op is _re.SUBPATTERN:  # a group: (group number, flags set, flags cleared, its items)
        _, flags_set, flags_cleared, group = argument
        return None if flags_set or flags_cleared else _sequence_literals(group)
    if op is _re.ATOMIC_GROUP:
        return _sequence_literals(argument)
    if op is _re.BRANCH:  # a|b: every match contains a literal of one of the alternatives
        alternatives = [_sequence_literals(alternative) for alternative in argument[1]]
        if any(literals is None for literals in alternatives):
            return None
        return tuple(dict.fromkeys(w for literals in alternatives if literals for w in literals))
    if op in (_re.MAX_REPEAT, _re.MIN_REPEAT, _re.POSSESSIVE_REPEAT):  # (at least, at most, its items)
        at_least, _, repeated = argument
        return _sequence_literals(repeated) if at_least >= 1 else None
    if op is _re.IN and all(kind is _re.LITERAL for kind, _ in argument):  # [abc], or a|b|c
        return tuple(chr(code) for _, code in argument)
    return None


class _Scan:
    """The patterns of one scope, and one Aho-Corasick automaton over the literals their regexes
    require (`_required_literals`): one scan of a text tells which regexes can match it at all.
    `match_patterns` runs on every agent line, where most of the ~35 regexes cannot match."""

    __slots__ = ("automaton", "first_regexes", "unfiltered")

    def __init__(self, patterns: list[_Compiled]):
        #: the number of each `any` regex -> (pattern's place in `patterns`, pattern, regex)
        self.first_regexes = {number: (place, p, regex) for place, p in enumerate(patterns) for number, regex in p.any}
        unfiltered: list[int] = []  # regexes whose matches require no literal: tried on every text
        needed_by: dict[str, list[int]] = {}
        for p in patterns:
            for number, regex in (*p.any, *p.unless, *p.after):
                literals = _required_literals(regex)
                if literals is None:
                    unfiltered.append(number)
                for literal in literals or ():
                    needed_by.setdefault(literal, []).append(number)
        self.unfiltered = frozenset(unfiltered)
        self.automaton: Any = None  # an ahocorasick.Automaton (no types shipped); None: no literals
        if needed_by:
            self.automaton = ahocorasick.Automaton()
            for literal, numbers in needed_by.items():
                self.automaton.add_word(literal, tuple(numbers))
            self.automaton.make_automaton()

    def possible(self, text: str) -> set[int]:
        """The numbers of the regexes that can match `text`."""
        found = set(self.unfiltered)
        if self.automaton is not None:
            for _, numbers in self.automaton.iter(text):
                found.update(numbers)
        return found


_SCANS: dict[str, _Scan] = {}


def _scan(scope: str) -> _Scan:
    scan = _SCANS.get(scope)
    if scan is None:
        scan = _SCANS[scope] = _Scan([p for p in compiled_patterns() if p.scope == scope])
    return scan


@lru_cache(maxsize=8192)  # a call's customer turns are matched again for every agent line after them
def match_patterns(text: str, scope: str = "agent") -> dict[str, tuple[int, int]]:
    """Fired pattern names -> span of the first match, for patterns of `scope`, on folded text.
    A pattern whose `unless` also matches fires as "<name>~exc" instead of "<name>"."""
    text = fold(text)
    scan = _scan(scope)
    possible = scan.possible(text)  # a regex not in it finds nothing in text: it is not run
    fired: dict[str, tuple[int, int]] = {}
    settled: set[int] = set()  # the patterns (by place) that fired: their later regexes are not tried
    # By number: each pattern's `any` regexes in order, the patterns in order, as fired has its keys.
    for number in sorted(possible):
        first = scan.first_regexes.get(number)
        if first is None:
            continue  # an `unless` or `after` regex
        place, p, regex = first
        if place in settled:
            continue
        m = regex.search(text)
        if m is None:
            continue
        if p.after and not any(a.search(text, m.end()) for n, a in p.after if n in possible):
            continue
        name = p.name
        if p.unless and any(u.search(text) for n, u in p.unless if n in possible):
            name += "~exc"
        fired[name] = m.span()
        settled.add(place)
    return fired
