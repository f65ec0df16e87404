"""What the security suite tried, counted for the summary printed at the end of the run."""

from __future__ import annotations

from collections import Counter

FIGURES: Counter[str] = Counter()


def refused(kind: str, count: int = 1) -> None:
    """Attacks of `kind` tried and refused (a test records them once it has checked)."""
    FIGURES[f"attacks refused: {kind}"] += count


def record(name: str, count: int = 1) -> None:
    FIGURES[name] += count
