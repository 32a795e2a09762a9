"""Where attempts run: the one seam between the run loop and the machines that run agents.

The run loop hands each task to a Backend and waits on the Future it returns; the task's
attempt pipeline (setup, agent, check, commit) is the same everywhere, only its placement and
the git transport differ. `local` runs it on a thread here (the default, as before); `ray`
sends it to a Ray cluster (genesis_par/run/ray_backend.py, imported only when chosen).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Protocol

from genesis_par import proc
from genesis_par.errors import EnvironmentProblem, UsageError
from genesis_par.plan.model import Plan, Task
from genesis_par.plan.settings import BACKENDS
from genesis_par.run.progress import Recorder, TaskProgress
from genesis_par.run.spec import RunSpec
from genesis_par.run.task import run_task


class Backend(Protocol):
    """Runs one task to its end (all its attempts) somewhere; progress holds the result."""

    def submit(
        self,
        task: Task,
        progress: TaskProgress,
        cancel: threading.Event,
        record: Recorder,
    ) -> Future[None]: ...


class LocalBackend:
    """Today's behaviour: one worker thread per running task, on this machine."""

    def __init__(self, spec: RunSpec, pool: ThreadPoolExecutor) -> None:
        self.spec, self.pool = spec, pool

    def submit(
        self,
        task: Task,
        progress: TaskProgress,
        cancel: threading.Event,
        record: Recorder,
    ) -> Future[None]:
        """Run the task on a thread of the pool."""
        return self.pool.submit(run_task, self.spec, task, progress, cancel, record)


def choose(plan: Plan, backend: str | None) -> Plan:
    """The plan with the backend `--backend` names (else its own), refused when it cannot run
    here: Ray not installed, or a task the backend cannot run yet."""
    if backend is not None and backend not in BACKENDS:
        raise UsageError(f'--backend must be "local" or "ray", not "{backend}"')
    if backend is not None:
        plan = dataclasses.replace(plan, run=dataclasses.replace(plan.run, backend=backend))
    if plan.run.backend == "local":
        return plan
    if importlib.util.find_spec("ray") is None:
        raise EnvironmentProblem(
            "the ray backend needs Ray, which is not installed here: "
            "pip install 'genesis-par[ray]' (or run with --backend local)"
        )
    several = [t.id for t in plan.tasks if t.best_of > 1]
    if several:
        raise UsageError(
            f"{plan.path}: best_of is not supported by the ray backend yet (tasks: "
            f"{', '.join(several)}): run them with --backend local"
        )
    return plan


@contextmanager
def open_backend(spec: RunSpec) -> Iterator[Backend]:
    """The backend the run asked for, shut down (its threads, its cluster connection) after."""
    # twice the slots: a task whose agent is done commits on its thread while the next runs
    with ThreadPoolExecutor(max_workers=2 * spec.plan.run.max_parallel) as pool:
        if spec.plan.run.backend == "local":
            proc.prestart()
            yield LocalBackend(spec, pool)
            return
        from genesis_par.run import ray_backend  # Ray is imported only when it is asked for

        with ray_backend.connect(spec) as cluster:
            backend = ray_backend.RayBackend(spec, pool, cluster)
            try:
                yield backend
            finally:
                backend.close()
