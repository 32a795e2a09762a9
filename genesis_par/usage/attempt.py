"""Metering an attempt of a task: start it beside proc.run, fold what it spent into the task."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from genesis_par.model import Failure
from genesis_par.usage.formats import parser_for
from genesis_par.usage.metering import Metering
from genesis_par.usage.model import Usage, total

if TYPE_CHECKING:
    from genesis_par import proc
    from genesis_par.plan.model import Task


class RunSpec(Protocol):
    """What metering needs of the run (run/spec.py's RunSpec, which imports this module)."""

    def usage_file(self, log: Path) -> Path: ...


class TaskProgress(Protocol):
    """What metering reads and adds to of a task's progress (run/progress.py's TaskProgress)."""

    usage: Usage  # of its finished attempts
    cpu_s: float  # of its finished attempts
    usage_notes: list[str]
    metering: list[Metering]  # its attempts running now


def start(spec: RunSpec, task: Task, progress: TaskProgress, log: Path) -> Metering:
    """A metering for the attempt about to log to log, counted in the task's live usage."""
    argv0 = None if task.command.shell else task.command.argv[0]

    def spent_elsewhere() -> float:
        others = [m.live for m in list(progress.metering) if m is not metering]
        return total([progress.usage, *others]).cost_usd or 0.0

    metering = Metering(
        log,
        parser_for(task.agent, argv0),
        spec.usage_file(log),
        max_cost_usd=task.max_cost_usd,
        spent_elsewhere=spent_elsewhere,
    )
    progress.metering.append(metering)
    return metering


def env(spec: RunSpec, log: Path, run_env: Mapping[str, str]) -> dict[str, str]:
    """The attempt's environment with GENESIS_USAGE_FILE, where it may say what it spent."""
    return {**run_env, "GENESIS_USAGE_FILE": str(spec.usage_file(log))}


def drop(progress: TaskProgress, metering: Metering) -> None:
    """The attempt ended without an outcome (genesis-par hit an error around it): it no longer
    runs; what it spent still counts for the task."""
    if metering in progress.metering:
        progress.metering.remove(metering)
        progress.usage = progress.usage + metering.live
        progress.cpu_s += metering.cpu_s


def finish(
    progress: TaskProgress, metering: Metering, outcome: proc.Outcome
) -> tuple[proc.Outcome, tuple[Usage, float, tuple[str, ...]]]:
    """Fold the attempt's usage into the task; the outcome ("budget" when the task's spend
    passed max_cost_usd, even if the agent exited before a sample caught it) and what the
    attempt spent (usage, cpu_s, notes) for its `exited` event."""
    usage = metering.finish()
    progress.usage = progress.usage + usage
    progress.cpu_s += metering.cpu_s
    progress.usage_notes.extend(n for n in metering.notes if n not in progress.usage_notes)
    progress.metering.remove(metering)
    if outcome.failure in (None, Failure.EXIT) and metering.over_budget():
        outcome = outcome._replace(failure=Failure.BUDGET)
    return outcome, (usage, round(metering.cpu_s, 3), tuple(metering.notes))


class Spend:
    """The run's spend so far, for [run] budget_usd: the executor says how to count it."""

    def __init__(self) -> None:
        self.count: Callable[[], float] = lambda: 0.0

    def budget_reached(self, budget_usd: float | None) -> bool:
        """Whether no more tasks or attempts may start."""
        return budget_usd is not None and self.count() >= budget_usd
