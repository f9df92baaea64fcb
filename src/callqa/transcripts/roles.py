"""Who is the agent: from speaker labels, from what each side says, or as the user forces it.

Labels such as 客服 / 客户 / 系统消息 map through the rubric's `speakers` regexes. Of two speakers,
when one label maps, the other is the other side. A label that maps to nothing (a name, 专员 in a
rubric that lacks it, channel 0/1, spk0/spk1, A/B) gets its role from what the speaker says: the
rubric's agent cues and recommended scripts and the job's own words (您好, 工号, 为您服务, 帮您 …)
count for the agent side, its customer cues (投诉, 怎么回事 …) against; the margin gives the
confidence. When no label maps at all, the speaker with the clearest agent evidence is the agent.
`--agent-speaker` / `--agent-channel` overrides all of this.

Whatever the label, a line that is nobody's own words gets the role `system`: a bot's menu (请回复数字),
a queue notice (正在为您转接人工客服), a marked system message, or a media placeholder alone
([图片], [订单卡片], [表情]). More than one agent is a transfer: each new agent's first line is one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from callqa.errors import InputError
from callqa.model import Role, SpeakerRole, Transfer
from callqa.transcripts.base import RawTurn, SpeakerVocabulary

# Agent-side phrases that hold whatever the rubric says: the job itself (weight 1), and the polite
# second person that customers seldom use to an agent (weight 0.5).
_AGENT_MARKERS = ("工号", "为您服务", "有什么可以帮您", "请问还有什么", "感谢您的来电", "很高兴为您")
_AGENT_WORDS = ("帮您", "为您", "给您", "您稍等", "请稍等", "我这边")
_CUSTOMER_WORDS = ("你们", "我的", "我想", "我要", "怎么回事", "凭什么")

# Nobody's own words, matched on normalised text (Simplified, half width, no spaces). A notice must
# open the line, and the line be short: an agent who says 「前方排队人数较多，你自己等着吧」 or closes with
# 「稍后请按1对我的服务进行评价，再见」 is speaking, and is checked like any agent line.
_SYSTEM_MARK = re.compile(r"^[\[【(]?(?:系统(?:消息|提示|通知)|自动回复|机器人|智能助手)[\]】)]?(?:[:：]|$)")
_SYSTEM_NOTICE = re.compile(
    r"^(?:请(?:回复|输入|按|发送)(?:数字|序号|编号|[0-9])"  # a bot's menu
    r"|(?:正在|即将|已)?(?:为您)?(?:转接|接入)人工|人工客服已接入|已为您接入|.{1,8}已接入"  # queue, hand-over
    r"|(?:当前|目前|前方)排队|您前面还有[0-9]+"
    r"|(?:会话|对话)已(?:结束|关闭|超时))"
)
_MEDIA_ONLY = re.compile(
    r"^(?:[\[【](?:图片|表情|动画表情|语音|视频|文件|链接|订单卡片|商品卡片|卡片|位置|红包|消息已撤回)[\]】])+$"
)
_NOTICE_CHARS = 40


def is_system_text(norm: str) -> bool:
    """A line that is a bot's, the console's or a media placeholder, not a person's own words."""
    if _SYSTEM_MARK.search(norm) or _MEDIA_ONLY.match(norm):
        return True
    return len(norm) <= _NOTICE_CHARS and bool(_SYSTEM_NOTICE.match(norm))


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    roles: list[Role]
    method: str  # labels | inferred | forced | none
    agent: str | None = None  # the speaker taken as agent, when inferred or forced
    confidence: float | None = None  # 0.5 (a guess) .. 1.0, when inferred
    warning: str | None = None
    speakers: tuple[SpeakerRole, ...] = ()
    transfers: tuple[Transfer, ...] = ()


def _agent_evidence(texts: list[str], vocabulary: SpeakerVocabulary) -> float:
    """Per utterance: +1 for each sign of the job, +0.5 for each agent cue or polite phrase, -0.5 for
    each customer cue or word; averaged."""
    score = 0.0
    for norm in texts:
        score += sum(1 for marker in _AGENT_MARKERS if marker in norm)
        score += 0.5 * sum(1 for word in _AGENT_WORDS if word in norm)
        score -= 0.5 * sum(1 for word in _CUSTOMER_WORDS if word in norm)
        for _, role, _ in vocabulary.cue_hits_in(norm, None):
            score += 0.5 if role == "agent" else -0.5 if role == "customer" else 0
    return score / max(len(texts), 1)


def _confidence(margin: float) -> float:
    return round(1 / (1 + math.exp(-3 * abs(margin))), 2)


def _transfers(turns: list[RawTurn], roles: list[Role]) -> tuple[Transfer, ...]:
    """Each time another agent label takes over from the agent who spoke last (a hand-back too)."""
    transfers: list[Transfer] = []
    current: str | None = None
    for index, (turn, role) in enumerate(zip(turns, roles, strict=True)):
        if role != "agent" or turn.speaker is None or turn.speaker == current:
            continue
        if current is not None:
            transfers.append(Transfer(index, turn.line, current, turn.speaker))
        current = turn.speaker
    return tuple(transfers)


def assign_roles(
    turns: list[RawTurn], norms: list[str], vocabulary: SpeakerVocabulary, agent_speaker: str | None = None
) -> RoleAssignment:
    """Roles for the turns; `norms` is each turn's normalised text."""
    system_lines = [is_system_text(norm) for norm in norms]  # once per turn: both steps below need it
    assignment = _speaker_roles(turns, norms, system_lines, vocabulary, agent_speaker)
    by_speaker = {s.speaker: s.role for s in assignment.speakers}
    roles: list[Role] = [
        "system" if system else by_speaker.get(turn.speaker, "unknown") if turn.speaker else "unknown"
        for turn, system in zip(turns, system_lines, strict=True)
    ]
    return RoleAssignment(
        roles,
        assignment.method,
        agent=assignment.agent,
        confidence=assignment.confidence,
        warning=assignment.warning,
        speakers=assignment.speakers,
        transfers=_transfers(turns, roles),
    )


def _speaker_roles(
    turns: list[RawTurn],
    norms: list[str],
    system_lines: list[bool],
    vocabulary: SpeakerVocabulary,
    agent_speaker: str | None,
) -> RoleAssignment:
    """The role of each speaker label (`speakers`); `roles` is left for `assign_roles` to fill."""
    speakers = list(dict.fromkeys(t.speaker for t in turns if t.speaker is not None))
    mapped = {s: vocabulary.role_of(s) for s in speakers}
    people = [s for s in speakers if mapped[s] != "system"]  # speakers whose lines are somebody's words
    system = tuple(SpeakerRole(s, "system", "label") for s in speakers if mapped[s] == "system")

    if agent_speaker is not None:
        if agent_speaker not in speakers:
            raise InputError(
                None,
                f"no speaker '{agent_speaker}' in the transcript",
                hint=f"speakers: {', '.join(speakers) or 'none'}",
            )
        # the forced speaker is the agent; other agent labels (a second agent) stay agents
        forced = tuple(
            SpeakerRole(s, "agent" if s == agent_speaker or mapped[s] == "agent" else "customer", "forced")
            for s in people
        ) + tuple(r for r in system if r.speaker != agent_speaker)
        if agent_speaker not in people:
            forced += (SpeakerRole(agent_speaker, "agent", "forced"),)
        return RoleAssignment([], "forced", agent=agent_speaker, confidence=1.0, speakers=forced)

    by_speaker: dict[str, list[str]] = {s: [] for s in speakers}
    for turn, norm, system_line in zip(turns, norms, system_lines, strict=True):
        if turn.speaker is not None and not system_line:
            by_speaker[turn.speaker].append(norm)

    known = {mapped[s] for s in people} - {"unknown"}
    if known:
        unknown = [s for s in people if mapped[s] == "unknown"]
        result = [SpeakerRole(s, mapped[s], "label") for s in people if mapped[s] != "unknown"]
        if len(people) == 2 and len(unknown) == 1 and len(known) == 1:
            # Two speakers and one label says who it is (话务员 / 纳税人): the other is the other side.
            other: Role = "customer" if known == {"agent"} else "agent"
            result.append(SpeakerRole(unknown[0], other, "other side"))
        else:
            for speaker in unknown:
                evidence = _agent_evidence(by_speaker[speaker], vocabulary)
                # an agent shows it (工号, 为您服务 …); one polite word is not enough
                role: Role = "agent" if evidence >= 0.5 else "customer" if evidence < 0 else "unknown"
                result.append(SpeakerRole(speaker, role, "inferred", _confidence(evidence) if evidence else None))
        order = {s: i for i, s in enumerate(speakers)}
        ordered = tuple(sorted([*result, *system], key=lambda r: order[r.speaker]))
        return RoleAssignment([], "labels", speakers=ordered)

    if len(people) < 2:
        warning: str | None = (
            "没有说话人标签,角色未知:限定客服的规则和推荐话术无法评判"
            if not people
            else f"只有一个说话人「{people[0]}」,无法判断客服与客户,角色未知"
        )
        return RoleAssignment(
            [], "none", warning=warning, speakers=(*(SpeakerRole(s, "unknown", "none") for s in people), *system)
        )

    agent_evidence = {s: _agent_evidence(by_speaker[s], vocabulary) for s in people}
    ranked = sorted(people, key=lambda s: (-agent_evidence[s], people.index(s)))
    agent = ranked[0]
    margin = agent_evidence[agent] - agent_evidence[ranked[1]]
    confidence = _confidence(margin) if margin > 0 else 0.5
    warning = None
    if margin <= 0:
        warning = f"无法从内容判断哪一方是客服,暂按先开口的「{agent}」为客服;可用 --agent-speaker 指定"
    inferred = tuple(SpeakerRole(s, "agent" if s == agent else "customer", "inferred", confidence) for s in people)
    order = {s: i for i, s in enumerate(speakers)}
    ordered = tuple(sorted([*inferred, *system], key=lambda r: order[r.speaker]))
    return RoleAssignment([], "inferred", agent=agent, confidence=confidence, warning=warning, speakers=ordered)
