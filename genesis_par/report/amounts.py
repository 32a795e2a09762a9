"""Tokens, dollars and rates as people read them in tables."""

from __future__ import annotations

from typing import Any


def tokens(n: int | None) -> str:
    """12, 1.2k, 34k, 1.5M."""
    if not n:
        return "0" if n == 0 else ""
    if n < 1_000:
        return str(n)
    if n < 10_000:
        return f"{n / 1_000:.1f}k"
    if n < 1_000_000:
        return f"{n / 1_000:.0f}k"
    return f"{n / 1_000_000:.1f}M"


def dollars(x: float | None) -> str:
    """$0.0421, $1.25; empty when the agent reports no cost."""
    if x is None:
        return ""
    return f"${x:.4f}" if x < 1 else f"${x:,.2f}"


def percent(x: float | None) -> str:
    """A share (0..1) as 75%."""
    return "" if x is None else f"{x * 100:.0f}%"


def in_out(usage: Any) -> str:
    """`in / out` tokens of a usage object (JSON), or empty when nothing was reported."""
    if not isinstance(usage, dict) or not (usage.get("input_tokens") or usage.get("output_tokens")):
        return ""
    return f"{tokens(usage.get('input_tokens'))} / {tokens(usage.get('output_tokens'))}"


def budget_hint(run: str) -> str:
    """What to do about a run its budget stopped (markup-escaped)."""
    from rich.markup import escape

    return (
        "the run reached its budget_usd: the tasks marked `budget` did not start; continue "
        f"with a higher budget: `genesis-par resume {escape(run)} --budget USD`"
    )
