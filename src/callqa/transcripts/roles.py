"""Who is the agent: from speaker labels, from what each side says, or as the user forces it.

Labels such as 客服 / 客户 map through the rubric's `speakers` regexes. When no label maps (channel
0/1, spk0/spk1, A/B), each speaker's utterances are weighed: the rubric's agent cues and recommended
scripts (您好, 工号, 请问有什么可以帮您, 为您服务 …) count for the agent side, its customer cues (投诉,
怎么回事 …) against. The speaker with the clearest agent evidence is the agent; the margin gives the
confidence. `--agent-speaker` / `--agent-channel` overrides all of this.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from callqa.errors import InputError
from callqa.model import Role
from callqa.transcripts.base import RawTurn, SpeakerVocabulary

# Agent-side phrases that hold whatever the rubric says: the job itself.
_AGENT_MARKERS = ("工号", "为您服务", "有什么可以帮您", "请问还有什么", "感谢您的来电", "很高兴为您")


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    roles: list[Role]
    method: str  # labels | inferred | forced | none
    agent: str | None = None  # the speaker taken as agent, when inferred or forced
    confidence: float | None = None  # 0.5 (a guess) .. 1.0, when inferred
    warning: str | None = None


def _agent_evidence(texts: list[str], vocabulary: SpeakerVocabulary) -> float:
    """Per utterance: +1 for each agent sign, -1 for each customer sign; averaged."""
    score = 0.0
    for norm in texts:
        score += sum(1 for marker in _AGENT_MARKERS if marker in norm)
        for _, role, _ in vocabulary.cue_hits_in(norm, None):
            score += 0.5 if role == "agent" else -0.5 if role == "customer" else 0
    return score / max(len(texts), 1)


def assign_roles(
    turns: list[RawTurn], norms: list[str], vocabulary: SpeakerVocabulary, agent_speaker: str | None = None
) -> RoleAssignment:
    """Roles for the turns; `norms` is each turn's normalised text."""
    speakers = list(dict.fromkeys(t.speaker for t in turns if t.speaker is not None))
    if agent_speaker is not None:
        if agent_speaker not in speakers:
            raise InputError(
                None,
                f"no speaker '{agent_speaker}' in the transcript",
                hint=f"speakers: {', '.join(speakers) or 'none'}",
            )
        roles: list[Role] = [
            "agent" if t.speaker == agent_speaker else "customer" if t.speaker else "unknown" for t in turns
        ]
        return RoleAssignment(roles, "forced", agent=agent_speaker, confidence=1.0)

    mapped = {s: vocabulary.role_of(s) for s in speakers}
    known = {role for role in mapped.values() if role != "unknown"}
    if known:
        if len(speakers) == 2 and len(known) == 1:
            # Two speakers and one label says who it is (话务员 / 纳税人): the other is the other side.
            other: Role = "customer" if known == {"agent"} else "agent"
            mapped = {s: other if role == "unknown" else role for s, role in mapped.items()}
        return RoleAssignment([mapped[t.speaker] if t.speaker else "unknown" for t in turns], "labels")

    if len(speakers) < 2:
        warning: str | None = (
            "没有说话人标签,角色未知:限定客服的规则和推荐话术无法评判"
            if not speakers
            else f"只有一个说话人「{speakers[0]}」,无法判断客服与客户,角色未知"
        )
        return RoleAssignment(["unknown"] * len(turns), "none", warning=warning)

    by_speaker: dict[str, list[str]] = {s: [] for s in speakers}
    for turn, norm in zip(turns, norms, strict=True):
        if turn.speaker is not None:
            by_speaker[turn.speaker].append(norm)
    evidence = {s: _agent_evidence(texts, vocabulary) for s, texts in by_speaker.items()}
    ranked = sorted(speakers, key=lambda s: (-evidence[s], speakers.index(s)))
    agent = ranked[0]
    margin = evidence[agent] - evidence[ranked[1]]
    confidence = round(1 / (1 + math.exp(-3 * margin)), 2)
    warning = None
    if margin <= 0:
        warning = f"无法从内容判断哪一方是客服,暂按先开口的「{agent}」为客服;可用 --agent-speaker 指定"
    roles = ["agent" if t.speaker == agent else "customer" if t.speaker is not None else "unknown" for t in turns]
    return RoleAssignment(roles, "inferred", agent=agent, confidence=confidence, warning=warning)
