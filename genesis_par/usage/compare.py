"""Run totals and the agents side by side, from a run's tasks (pure: the same numbers for
`run --json`, `status --json`, `report` and `agents --run`; report/ makes their JSON)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from genesis_par.usage.model import Usage, total

COMMAND = "(command)"  # the row of tasks that run a command, not an agent
RAN = ("succeeded", "failed", "cancelled", "interrupted")  # skipped and pending never ran


class SpendingTask(Protocol):
    """What compare reads of a task (state.records.TaskRecord is one)."""

    @property
    def status(self) -> str: ...
    @property
    def agent(self) -> str | None: ...
    @property
    def usage(self) -> Usage: ...
    @property
    def cpu_s(self) -> float: ...
    @property
    def duration_s(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class Totals:
    """The run's spend: every task's usage summed, and its CPU seconds."""

    usage: Usage
    cpu_s: float


@dataclass(frozen=True, slots=True)
class AgentSpend:
    """One agent's row (docs/json.md, `agents`): its fields in the JSON's order."""

    agent: str
    tasks: int  # that ran
    succeeded: int
    success_rate: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    cost_per_succeeded_task_usd: float | None
    cost_per_1k_tokens_usd: float | None
    turns: int
    duration_s: float
    cpu_s: float


def totals(tasks: Iterable[SpendingTask]) -> Totals:
    """The run's `usage`: every task's usage summed, and cpu_s."""
    tasks = list(tasks)
    return Totals(total(t.usage for t in tasks), round(sum(t.cpu_s for t in tasks), 3))


def _per(amount: float | None, count: float) -> float | None:
    return None if amount is None or not count else round(amount / count, 6)


def agents(tasks: Iterable[SpendingTask]) -> list[AgentSpend]:
    """One row per agent (tasks that ran a command together under "(command)"), in the order
    first seen: tasks that ran, success rate, tokens, cost and the costs per unit, time."""
    rows: dict[str, list[SpendingTask]] = {}
    for t in tasks:
        rows.setdefault(t.agent or COMMAND, []).append(t)
    return [_row(name, group) for name, group in rows.items()]


def _row(name: str, tasks: Sequence[SpendingTask]) -> AgentSpend:
    ran = [t for t in tasks if t.status in RAN]
    succeeded = sum(t.status == "succeeded" for t in ran)
    usage = total(t.usage for t in tasks)
    return AgentSpend(
        name,
        len(ran),
        succeeded,
        round(succeeded / len(ran), 4) if ran else None,
        usage.input_tokens,
        usage.output_tokens,
        None if usage.cost_usd is None else round(usage.cost_usd, 6),
        _per(usage.cost_usd, succeeded),
        _per(usage.cost_usd, usage.tokens / 1000),
        usage.turns,
        round(sum(t.duration_s or 0.0 for t in tasks), 3),
        round(sum(t.cpu_s for t in tasks), 3),
    )
