"""Run totals and the agents side by side, from a run's task objects (pure: the same numbers
for `run --json`, `status --json`, `report` and `agents --run`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from genesis_par.usage.model import Usage, total

COMMAND = "(command)"  # the row of tasks that run a command, not an agent
RAN = ("succeeded", "failed", "cancelled", "interrupted")  # skipped and pending never ran


def _usage(task: Mapping[str, Any]) -> Usage:
    return Usage.from_fields(task.get("usage"))


def totals(tasks: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The run's `usage` object: every task's usage summed, and cpu_s."""
    tasks = list(tasks)
    out = total(_usage(t) for t in tasks).fields()
    out["cpu_s"] = round(sum(float(t.get("cpu_s") or 0.0) for t in tasks), 3)
    return out


def _per(amount: float | None, count: float) -> float | None:
    return None if amount is None or not count else round(amount / count, 6)


def agents(tasks: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per agent (tasks that ran a command together under "(command)"), in the order
    first seen: tasks that ran, success rate, tokens, cost and the costs per unit, time."""
    rows: dict[str, list[Mapping[str, Any]]] = {}
    for t in tasks:
        rows.setdefault(t.get("agent") or COMMAND, []).append(t)
    return [_row(name, group) for name, group in rows.items()]


def _row(name: str, tasks: list[Mapping[str, Any]]) -> dict[str, Any]:
    ran = [t for t in tasks if t.get("status") in RAN]
    succeeded = sum(t.get("status") == "succeeded" for t in ran)
    usage = total(_usage(t) for t in tasks)
    return {
        "agent": name,
        "tasks": len(ran),
        "succeeded": succeeded,
        "success_rate": round(succeeded / len(ran), 4) if ran else None,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cost_usd": None if usage.cost_usd is None else round(usage.cost_usd, 6),
        "cost_per_succeeded_task_usd": _per(usage.cost_usd, succeeded),
        "cost_per_1k_tokens_usd": _per(usage.cost_usd, usage.tokens / 1000),
        "turns": usage.turns,
        "duration_s": round(sum(float(t.get("duration_s") or 0.0) for t in tasks), 3),
        "cpu_s": round(sum(float(t.get("cpu_s") or 0.0) for t in tasks), 3),
    }
