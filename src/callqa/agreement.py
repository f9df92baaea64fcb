"""Agreement of two raters beyond chance (Cohen's κ): of the stage model with the gold in `callqa
eval`, and of two reviewers in `callqa rules precision`. At the bottom of the layers, so that the
measuring code and the store, which may not import each other, share one definition."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


def cohen_kappa(pairs: Iterable[tuple[str, str]]) -> float | None:
    """Cohen's κ of two raters' labels on the same items; None when it is undefined: no items, or
    chance agreement 1 (both gave one same label throughout, so there was nothing to agree on)."""
    pairs = list(pairs)
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(a == b for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(first[label] * second[label] for label in first) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1 - expected)
