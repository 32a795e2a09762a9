"""The merge check of a candidate tip: run in a check worktree, retried, every run logged."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from genesis_par import gitops, proc
from genesis_par.plan.model import Command
from genesis_par.run import steps
from genesis_par.state.landings import CheckRunRecord

AUTO_BATCH_LIMIT = 32  # `batch = "auto"`: the ready queue, up to this many tasks a batch


class BatchSettings(NamedTuple):
    """How the queue batches its checks (`[merge] batch`, `parallel_checks`, `check_retries`).

    batch None is "auto"; batch 1 with one check at a time is the one-by-one queue."""

    batch: int | None = 1
    parallel_checks: int = 1
    check_retries: int = 0

    @property
    def one_by_one(self) -> bool:
        """Today's queue: one task, one check, one compare-and-swap."""
        return self.batch == 1 and self.parallel_checks == 1

    def size(self, ready: int) -> int:
        """How many of the ready tasks go into one batch."""
        return max(1, min(ready, self.batch or AUTO_BATCH_LIMIT))


def default_parallel_checks(max_parallel: int, cores: int | None = None) -> int:
    """The cores the agents leave free (`[run] max_parallel`), at least 1."""
    return max(1, (cores or os.cpu_count() or 1) - max_parallel)


@dataclass(frozen=True)
class CheckRun:
    """One check of a tip: the tasks new in it, what it was built on, how it went."""

    members: tuple[str, ...]  # tasks merged on top of `on_top_of`, in queue order
    on_top_of: tuple[str, ...]  # tasks of this queue pass already under the tip
    commit: str
    passed: bool | None  # None: thrown away (speculation behind a failure, or superseded)
    runs: int  # 1 + the retries it took
    logs: tuple[Path, ...]  # one per run
    duration_s: float

    def record(self) -> CheckRunRecord:
        """What the store keeps of it (docs/json.md: merge.batches[].checks[])."""
        outcome = {True: "passed", False: "failed", None: "cancelled"}[self.passed]
        logs = tuple(str(p) for p in self.logs)
        return CheckRunRecord(
            self.members,
            self.on_top_of,
            self.commit,
            outcome,
            self.runs,
            logs,
            round(self.duration_s, 3),
        )


@dataclass(frozen=True)
class CheckSpec:
    """The check and where it runs."""

    check: Command
    run: str
    into_ref: str
    start: str
    log_dir: Path
    env: Mapping[str, str]
    timeout_s: float | None
    retries: int


class LogNames:
    """A fresh log file for every check run: `merge-checks/<n>.log` in the run's log folder."""

    def __init__(self, log_dir: Path) -> None:
        self.folder = log_dir / "merge-checks"
        taken = [int(p.stem) for p in self._existing() if p.stem.isdigit()]
        self.next = max(taken, default=0) + 1
        self.lock = threading.Lock()

    def _existing(self) -> list[Path]:
        return list(self.folder.glob("*.log")) if self.folder.is_dir() else []

    def new(self) -> Path:
        """The next unused log path."""
        with self.lock:
            n, self.next = self.next, self.next + 1
        return self.folder / f"{n:04d}.log"


def task_log(log_dir: Path, task: str) -> Path:
    """Where `logs RUN TASK --merge-check` reads (the same name as the one-by-one queue's)."""
    return log_dir / f"merge-check.{task}.log"


def run_check(
    spec: CheckSpec,
    worktree: Path,
    commit: str,
    members: Sequence[str],
    on_top_of: Sequence[str],
    names: LogNames,
    cancel: threading.Event,
    slot: int = 0,
) -> CheckRun:
    """Check commit in worktree; a failure is run again up to spec.retries times before it
    counts. Each run has its own log. slot: which of the parallel checks (its GENESIS_PORT)."""
    gitops.checkout_detached(worktree, commit)
    values = steps.template_values(
        run=spec.run,
        task=members[-1],  # the newest merge in the checked tip
        worktree=worktree,
        branch=spec.into_ref,
        base=spec.start,
        port=steps.PORT_BASE + slot,  # no task runs during the queue: the checks share none
    )
    logs: list[Path] = []
    passed: bool | None = False
    duration = 0.0
    while len(logs) <= spec.retries and not passed and not cancel.is_set():
        log = names.new()
        _header(log, members, on_top_of, commit, len(logs))
        limits = proc.Limits(timeout_s=spec.timeout_s)
        step = steps.Step(spec.check, worktree, log, values, spec.env, limits)
        outcome = steps.run(step, cancel).outcome
        logs.append(log)
        duration += outcome.duration_s
        passed = None if outcome.failure == "cancelled" else outcome.failure is None
    if cancel.is_set() and not passed:
        passed = None
    return CheckRun(
        tuple(members), tuple(on_top_of), commit, passed, len(logs), tuple(logs), duration
    )


def _header(
    log: Path, members: Sequence[str], on_top_of: Sequence[str], commit: str, n: int
) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    under = f" on top of {', '.join(on_top_of)}" if on_top_of else ""
    again = f" (run {n + 1}: the check failed before, [merge] check_retries)" if n else ""
    log.write_text(
        f"genesis-par: merge check of {commit[:12]}: {', '.join(members)}{under}{again}\n"
    )


def point(log_dir: Path, tasks: Sequence[str], run: CheckRun) -> None:
    """Each task's `merge-check.<task>.log` becomes the last log of run (the check that
    decided it), a hard link."""
    for task in tasks:
        _point(task_log(log_dir, task), run.logs[-1] if run.logs else None)


def _point(link: Path, log: Path | None) -> None:
    """Make link a hard link to log (replacing what it was)."""
    if log is None or not log.exists():
        return
    fresh = link.with_name(link.name + ".new")
    with contextlib.suppress(FileNotFoundError):
        fresh.unlink()
    os.link(log, fresh)
    os.replace(fresh, link)
