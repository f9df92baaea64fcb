"""Wording every report shares: how a finding a trained model made is introduced (the terminal
report, the feedback sheets and report.html say it alike)."""

from __future__ import annotations


def model_verdict(confidence: float | None, category: str, category_confidence: float | None) -> str:
    """How a report says that a trained model made a finding, and how sure it was: that the line is a
    forbidden expression (what its threshold is on), and of the category among the six."""
    text = f"模型判断,把握 {confidence or 0:.0%}"
    if category_confidence is not None:
        text += f",其中「{category}」{category_confidence:.0%}"
    return text
