"""Usage: what one attempt (or a sum of them) spent."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypedDict


class UsageFields(TypedDict):
    """Usage as JSON (docs/json.md, "usage")."""

    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    turns: int
    model: str | None


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens in and out, cost (None: the agent reports none), turns, model(s)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    turns: int = 0
    model: str | None = None

    def __add__(self, other: Usage) -> Usage:
        costs = [c for c in (self.cost_usd, other.cost_usd) if c is not None]
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            sum(costs) if costs else None,
            self.turns + other.turns,
            _models(self.model, other.model),
        )

    @property
    def tokens(self) -> int:
        """Input and output tokens together."""
        return self.input_tokens + self.output_tokens

    @property
    def known(self) -> bool:
        """Whether anything was reported at all."""
        return bool(self.tokens or self.turns or self.cost_usd is not None or self.model)

    def fields(self) -> UsageFields:
        """The JSON object (docs/json.md, "usage")."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
            "turns": self.turns,
            "model": self.model,
        }

    @classmethod
    def from_fields(cls, raw: object) -> Usage:
        """Back from fields() (a stored run's JSON); anything unexpected reads as zero."""
        if not isinstance(raw, dict):
            return cls()
        cost = raw.get("cost_usd")
        model = raw.get("model")
        return cls(
            _count(raw.get("input_tokens")),
            _count(raw.get("output_tokens")),
            float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
            _count(raw.get("turns")),
            model if isinstance(model, str) else None,
        )


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _models(a: str | None, b: str | None) -> str | None:
    """Both models, once each, in the order seen ("m1, m2")."""
    names = [n for part in (a, b) if part for n in part.split(", ")]
    return ", ".join(dict.fromkeys(names)) or None


def total(usages: Iterable[Usage]) -> Usage:
    """The sum of several."""
    out = Usage()
    for u in usages:
        out = out + u
    return out
