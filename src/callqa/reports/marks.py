"""Marking a finding's words in the line it quotes, from its `spans` (offsets in the utterance's original
text), never by searching for the matched string: 「这不可能，可能要等一下」 under `!可能` marks the second
可能, not the first. Every report that marks words (feedback sheets, report.html) goes through here; the
terminal walks the same spans with rich styles."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence


def merged_spans(spans: Iterable[Sequence[int]], length: int) -> list[tuple[int, int]]:
    """The spans clipped to the text, sorted, with overlapping or touching ones joined."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted((max(0, int(s[0])), min(length, int(s[1]))) for s in spans):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def marked(
    text: str,
    spans: Iterable[Sequence[int]],
    mark: Callable[[str], str],
    plain: Callable[[str], str] = lambda s: s,
) -> str:
    """`text` with each span's words passed through `mark` and the rest through `plain` (an escape)."""
    parts, cursor = [], 0
    for start, end in merged_spans(spans, len(text)):
        parts.append(plain(text[cursor:start]))
        parts.append(mark(text[start:end]))
        cursor = end
    parts.append(plain(text[cursor:]))
    return "".join(parts)
