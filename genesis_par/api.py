"""genesis-par from Python: the same flow as the command line, with typed results and no
output. Progress reaches the caller through callbacks; user errors raise `GenesisError`
(its message is the one line the CLI would print, its `exit_code` the CLI's).

    from genesis_par import api

    result = api.run("plan.toml", cwd="path/to/repo")
    print(result.status, [t.id for t in result.tasks.values() if t.status == "succeeded"])
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from genesis_par import gitops, worktrees
from genesis_par.errors import GenesisError
from genesis_par.land import by_hand, probe
from genesis_par.land import merge as merge_core
from genesis_par.land import rollback as rollback_core
from genesis_par.land.by_hand import Preparation
from genesis_par.land.conflicts import Report as ConflictReport
from genesis_par.land.landing import Landing
from genesis_par.land.queue import QueueResult
from genesis_par.land.rollback import Rollback
from genesis_par.plan.model import MergeMethod, Plan
from genesis_par.plan.parse import load
from genesis_par.report.run_json import run_json as run_object
from genesis_par.run import flow, rerun
from genesis_par.run import resume as resume_core
from genesis_par.run.executor import RunProgress
from genesis_par.run.flow import RunResult
from genesis_par.run.progress import TaskProgress
from genesis_par.run.resume import AlreadyFinished
from genesis_par.state.events import TaskEvent, event_data
from genesis_par.state.store import Store
from genesis_par.worktrees import gc as gc_core
from genesis_par.worktrees.gc import Cleaned, Listing

__all__ = [
    "AlreadyFinished",
    "Cleaned",
    "ConflictReport",
    "Event",
    "GenesisError",
    "Landing",
    "Listing",
    "MergeMethod",
    "Plan",
    "Preparation",
    "QueueResult",
    "Rollback",
    "RunProgress",
    "RunResult",
    "TaskProgress",
    "conflicts",
    "gc",
    "list_worktrees",
    "load_plan",
    "merge",
    "resolve",
    "resume",
    "rollback",
    "run",
    "run_json",
]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Event:
    """One thing that happened to a task, as recorded in the run's state (`kind`: attempt,
    exited, succeeded, failed, skipped, cancelled, ...; `data` as docs/json.md's events)."""

    task: str
    kind: str
    data: Mapping[str, object]


MergeStep = Callable[[str, Mapping[str, object]], None]  # (kind, data): docs/json.md's merge-*


def _observers(
    on_event: Callable[[Event], None] | None,
    on_note: Callable[[str], None] | None,
    on_tick: Callable[[RunProgress], None] | None,
    on_merge_step: MergeStep | None = None,
) -> flow.Observers:
    quiet = flow.QUIET
    return flow.Observers(
        note=on_note or quiet.note,
        event=(lambda t, e: on_event(Event(t, e.kind, event_data(e)))) if on_event else quiet.event,
        tick=on_tick or quiet.tick,
        merge_step=on_merge_step or quiet.merge_step,
    )


def run_json(result: RunResult | AlreadyFinished) -> dict[str, object]:
    """The object `run --json` prints for this run (docs/json.md); for a run resumed after it
    had finished, the object its run printed (just its name when none was recorded)."""
    finished = result.finished
    return {"run": result.run} if finished is None else run_object(finished)


def load_plan(path: PathLike) -> Plan:
    """The plan file, checked as `genesis-par validate` checks it."""
    return load(Path(path))


def run(
    plan: PathLike | Plan,
    *,
    cwd: PathLike = ".",
    name: str | None = None,
    fail_fast: bool = False,
    merge: bool = True,
    into: str | None = None,
    env: Mapping[str, str] | None = None,
    on_event: Callable[[Event], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    on_tick: Callable[[RunProgress], None] | None = None,
    on_merge_step: MergeStep | None = None,
) -> RunResult:
    """Run every task of the plan in its own worktree, probe conflicts, merge the safe work
    (unless merge=False), as `genesis-par run`. Run it from the main thread: Ctrl-C and
    SIGTERM stop the agents' trees and end the run as `interrupted`."""
    loaded = plan if isinstance(plan, Plan) else load(Path(plan))
    loaded = flow.with_name(loaded, name)
    options = flow.Options(fail_fast=fail_fast, merge=merge, into=into)
    observers = _observers(on_event, on_note, on_tick, on_merge_step)
    return flow.start(Path(cwd), loaded, options, os.environ if env is None else env, observers)


def resume(
    run: str | None = None,
    *,
    cwd: PathLike = ".",
    retry_failed: bool = False,
    plan: PathLike | None = None,
    env: Mapping[str, str] | None = None,
    on_event: Callable[[Event], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    on_tick: Callable[[RunProgress], None] | None = None,
    on_merge_step: MergeStep | None = None,
    budget_usd: float | None = None,
) -> RunResult | AlreadyFinished:
    """Continue an interrupted run (the latest when run is None), as `genesis-par resume`;
    budget_usd: the run's budget from now on, as `resume --budget`."""
    return resume_core.resume(
        Path(cwd),
        run,
        os.environ if env is None else env,
        retry_failed=retry_failed,
        plan_path=Path(plan) if plan is not None else None,
        observers=_observers(on_event, on_note, on_tick, on_merge_step),
        budget=budget_usd,
    )


def conflicts(
    branches: Sequence[str] = (),
    *,
    cwd: PathLike = ".",
    into: str | None = None,
    run: str | None = None,
) -> ConflictReport:
    """Conflicts among branches (or a run's) and against the target, as `genesis-par
    conflicts`; nothing is changed."""
    return probe.probe(Path(cwd), branches, into, run)


def merge(
    branches: Sequence[str] = (),
    *,
    cwd: PathLike = ".",
    run: str | None = None,
    into: str | None = None,
    method: MergeMethod | None = None,
    dry_run: bool = False,
    check: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Landing:
    """Merge a run's succeeded branches (or the named ones, with into) through the queue, as
    `genesis-par merge`; `.queue.unmerged` lists what was left and why, `.resolutions` what
    the run's [merge] on_conflict tried. check: the merge check for named branches."""
    repo = _repo(cwd)
    environment = os.environ if env is None else env
    state = repo.common_dir / "genesis-par"
    if branches:
        git_env = gitops.identity_env(repo.root)
        checking = merge_core.named_check(state, check, run, into)
        return merge_core.merge_branches(
            repo, state, branches, into, method, dry_run, git_env, environment, checking
        )
    with Store.open(state, read_only=dry_run) as store:
        hooks_for = rerun.hooks_for(repo, store, environment, threading.Event(), _unwatched)
        return merge_core.merge_run(
            repo, store, run, into, method, dry_run, environment, hooks_for=hooks_for
        )


def _unwatched(task: str, event: TaskEvent) -> None:
    """Events of an API call nobody watches (they are in the run's state all the same)."""


def resolve(task: str, run: str | None = None, *, cwd: PathLike = ".") -> Preparation:
    """The merge of the run's current target into a task's branch, in its worktree, as
    `genesis-par resolve`: conflicts left for a person (`.unmerged`); nothing is printed."""
    repo = _repo(cwd)
    with Store.open(repo.common_dir / "genesis-par") as store:
        return by_hand.prepare_task(repo, store, run, task)


def rollback(run: str | None = None, *, cwd: PathLike = ".", revert: bool = False) -> Rollback:
    """Put a run's merge target back where it was before its merges, as `genesis-par
    rollback`."""
    repo = _repo(cwd)
    with Store.open(repo.common_dir / "genesis-par") as store:
        return rollback_core.rollback(repo, store, run, revert)


def list_worktrees(*, cwd: PathLike = ".") -> Listing:
    """Every worktree and branch the tool made, as `genesis-par worktrees list`."""
    return gc_core.listing(_repo(cwd))


def gc(
    *,
    cwd: PathLike = ".",
    dry_run: bool = False,
    force: bool = False,
    older_than: str | None = None,
    drain: bool = False,
    now: float | None = None,
) -> Cleaned:
    """Remove the worktrees of finished runs when that loses nothing, as `genesis-par
    worktrees gc`."""
    return gc_core.collect(
        _repo(cwd),
        lambda w: True,
        dry_run=dry_run,
        force=force,
        older_than=older_than,
        drain=drain,
        now=time.time() if now is None else now,
    )


def _repo(cwd: PathLike) -> gitops.RepoPaths:
    repo = gitops.discover(Path(cwd))
    gitops.check_version(repo.root)
    worktrees.check_layout(repo)
    return repo
