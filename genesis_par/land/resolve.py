"""Conflicts resolved, not only reported (issue 15): once the queue has landed what it can, each
task left unmerged because of conflicts is resolved by its `on_conflict` strategy and queued
again, through the same queue and merge check. One task at a time, each on the target as it is
then, so a resolution never lands on a tip it did not see; bounded by `[merge] rerun_limit`."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import NamedTuple, Protocol

from genesis_par import gitops, interrupts, proc, worktrees
from genesis_par.land import conflict_note, merge_queue, queue, sides
from genesis_par.land.checks import BatchSettings
from genesis_par.plan.model import MergeMethod, Plan
from genesis_par.plan.on_conflict import OnConflict
from genesis_par.state.events import ResolutionBegun, Resolved, TaskEvent
from genesis_par.state.landings import ResolutionRecord


class Resolution(NamedTuple):
    """One resolution try of one task: what was tried and how it ended."""

    task: str
    strategy: str
    n: int  # the task's try number, from 1
    outcome: str  # landed | unresolved | check-failed | conflicts | interrupted | ...
    reason: str = ""
    commit: str | None = None  # the resolved commit (the task's side), when one was made
    log: Path | None = None
    duration_s: float = 0.0

    def record(self) -> ResolutionRecord:
        """What the store keeps of it."""
        log = str(self.log) if self.log else None
        return ResolutionRecord(
            self.task,
            self.strategy,
            self.n,
            self.outcome,
            self.reason,
            self.commit,
            log,
            round(self.duration_s, 3),
        )


class Rerun(NamedTuple):
    """What a rerun of a task's own agent gave: its new commit, or why there is none."""

    commit: str | None
    reason: str = ""
    log: Path | None = None


class Rerunner(Protocol):
    """Runs a new attempt of a task's agent on tip, told why (the run room provides it)."""

    def __call__(self, task: str, tip: str, note: str, note_file: Path) -> Rerun: ...


Recorder = Callable[[str, TaskEvent], None]


@dataclass
class Hooks:
    """What the resolutions need from whoever runs the queue."""

    state_dir: Path
    rerun: Rerunner | None = None  # None: `rerun` cannot run here (named branches)
    record: Recorder = lambda task, event: None
    cancel: threading.Event = field(default_factory=threading.Event)
    env: Mapping[str, str] = field(default_factory=dict)


def strategy_of(plan: Plan, task: str) -> OnConflict:
    """The task's on_conflict, else [merge] on_conflict."""
    return plan.task(task).on_conflict or plan.merge.on_conflict


def settle(
    spec: queue.QueueSpec,
    plan: Plan,
    result: queue.QueueResult,
    candidates: Mapping[str, queue.Candidate],
    hooks: Hooks,
) -> list[Resolution]:
    """Resolve and land again each task the queue left unmerged because of conflicts."""
    with interruptible(hooks.cancel):
        return _settle(_one_by_one(spec), plan, result, candidates, hooks)


def _one_by_one(spec: queue.QueueSpec) -> queue.QueueSpec:
    """A resolution lands alone: checked on its own, where a Ctrl-C (spec.cancel) stops it."""
    one = BatchSettings(1, 1, spec.batching.check_retries)
    return dataclasses.replace(spec, batching=one)


@contextmanager
def interruptible(cancel: threading.Event) -> Iterator[None]:
    """While the queue or its resolutions run, Ctrl-C and SIGTERM set cancel: the agent,
    resolver or check running is stopped (its whole tree), nothing else starts and what is
    left waits for `resume`; a second one hurries."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            proc.hurry()
        cancel.set()

    with interrupts.handled_by(handler):
        yield


def _settle(
    spec: queue.QueueSpec,
    plan: Plan,
    result: queue.QueueResult,
    candidates: Mapping[str, queue.Candidate],
    hooks: Hooks,
) -> list[Resolution]:
    done: list[Resolution] = []
    tries: dict[str, int] = {}
    while not hooks.cancel.is_set():
        todo = [
            u
            for u in result.unmerged
            if u.reason == "conflicts"
            and strategy_of(plan, u.task).automatic
            and tries.get(u.task, 0) < plan.merge.rerun_limit
            and u.task in candidates
        ]
        if not todo:
            break
        u = todo[0]
        tries[u.task] = tries.get(u.task, 0) + 1
        done.append(_try(spec, plan, result, candidates[u.task], u, tries[u.task], hooks))
        if done[-1].outcome == "unresolved" and _deterministic(strategy_of(plan, u.task)):
            tries[u.task] = plan.merge.rerun_limit  # the same merge would give the same answer
        if done[-1].outcome == "landed":
            _dependents_again(spec, result, candidates)
    return done


def _dependents_again(
    spec: queue.QueueSpec, result: queue.QueueResult, candidates: Mapping[str, queue.Candidate]
) -> None:
    """Tasks left out because a dependency did not land go through the queue once it has."""
    merged = set(result.merged)
    ready = [
        u
        for u in result.unmerged
        if u.reason.startswith("dependency ")
        and u.task in candidates
        and set(candidates[u.task].task.depends_on) & set(candidates) <= merged
    ]
    for u in ready:
        landed = merge_queue.land(spec, [candidates[u.task]])
        result.steps += landed.steps
        result.after = landed.after
        result.unmerged.remove(u)
        result.merged += landed.merged
        result.unmerged += landed.unmerged  # with the queue's reason: `conflicts` is tried next


def _deterministic(strategy: OnConflict) -> bool:
    return strategy in (OnConflict.PREFER_TARGET, OnConflict.PREFER_TASK)


def _try(
    spec: queue.QueueSpec,
    plan: Plan,
    result: queue.QueueResult,
    c: queue.Candidate,
    u: queue.Unmerged,
    n: int,
    hooks: Hooks,
) -> Resolution:
    strategy = strategy_of(plan, c.task.id)
    began = time.monotonic()
    tip = gitops.resolve_commit(spec.repo.root, spec.into_ref) or result.after
    hooks.record(c.task.id, ResolutionBegun(strategy.value, n, tip))
    made = _resolve(spec, plan, strategy, c, u, tip, n, hooks)
    if made.commit is None:
        outcome = "interrupted" if made.reason == "interrupted" else "unresolved"
        tried = Resolution(c.task.id, strategy.value, n, outcome, made.reason, None, made.log)
        _replace_unmerged(
            result, u, u._replace(reason=f"conflicts; {strategy.value}: {made.reason}")
        )
    else:
        start = tip if strategy is OnConflict.RERUN else None  # a rerun starts from tip
        commit = made.commit
        if spec.method is MergeMethod.REBASE and start is None:
            # a rebase replays commits and cannot replay a merge: the resolution as one commit
            tree = gitops.tree_of(spec.repo.root, commit)
            message = sides.message(c.task.id, spec.into_ref, strategy.value)
            commit = gitops.commit_tree(spec.repo.root, tree, [tip], message, spec.git_env)
            start = tip
        again = queue.Candidate(c.task, c.branch, commit, frozenset(), start)
        landed = merge_queue.land(spec, [again])
        tried = _absorb(result, u, landed, strategy.value, n, made)
    tried = tried._replace(duration_s=time.monotonic() - began)
    hooks.record(c.task.id, Resolved(tried.record()))
    return tried


def _resolve(
    spec: queue.QueueSpec,
    plan: Plan,
    strategy: OnConflict,
    c: queue.Candidate,
    u: queue.Unmerged,
    tip: str,
    n: int,
    hooks: Hooks,
) -> sides.Made:
    """The task's side resolved on tip by strategy (a commit), or why not."""
    run, task = spec.run, c.task.id
    if strategy in (OnConflict.PREFER_TARGET, OnConflict.PREFER_TASK):
        option = "ours" if strategy is OnConflict.PREFER_TARGET else "theirs"
        return sides.prefer(
            spec.repo, run, task, c.commit, spec.into_ref, tip, option, spec.git_env
        )
    if strategy is OnConflict.AGENT:
        assert plan.merge.resolver is not None  # the plan requires one for "agent"
        resolver = sides.ResolverRun(
            plan.merge.resolver,
            hooks.state_dir / "logs" / run / f"{task}.resolve.{n}.log",
            hooks.state_dir / "conflicts" / run,
            hooks.state_dir,
            hooks.env,
            plan.merge.timeout_s,
            hooks.cancel,
        )
        return sides.with_resolver(
            spec.repo, run, task, c.commit, spec.into_ref, tip, u.conflicts, resolver, spec.git_env
        )
    if hooks.rerun is None:
        return sides.Made(None, "rerun needs the run's tasks: `genesis-par merge --run RUN`")
    kept = f"refs/genesis/{run}/{task}/attempt-<n>"
    note = conflict_note.rerun_note(
        spec.repo.root, task, spec.into_ref, tip, c.commit, u.conflicts, kept
    )
    note_file = conflict_note.write_note(
        hooks.state_dir / "conflicts" / run, f"{task}.rerun.{n}.md", note
    )
    again = hooks.rerun(task, tip, note, note_file)
    return sides.Made(again.commit, again.reason, again.log)


def _absorb(
    result: queue.QueueResult,
    u: queue.Unmerged,
    landed: queue.QueueResult,
    strategy: str,
    n: int,
    made: sides.Made,
) -> Resolution:
    """Fold the second pass of the queue for one task into the first one's result."""
    task = u.task
    result.steps += landed.steps
    result.after = landed.after
    if task in landed.merged:
        result.unmerged.remove(u)
        result.merged.append(task)
        return Resolution(task, strategy, n, "landed", "", made.commit, made.log)
    (still,) = [x for x in landed.unmerged if x.task == task]
    outcome = {"conflicts": "conflicts", "merge check failed": "check-failed"}.get(
        still.reason, "not-landed"
    )
    reason = f"{strategy}: {still.reason}" if outcome != "conflicts" else still.reason
    _replace_unmerged(
        result, u, still._replace(reason=reason if outcome != "conflicts" else "conflicts")
    )
    why = (
        "the merge check failed after the resolution" if outcome == "check-failed" else still.reason
    )
    return Resolution(task, strategy, n, outcome, why, made.commit, made.log or still.log)


def _replace_unmerged(result: queue.QueueResult, old: queue.Unmerged, new: queue.Unmerged) -> None:
    result.unmerged[result.unmerged.index(old)] = new


def branch_of(run: str, task: str) -> str:
    """The task's branch (for messages)."""
    return worktrees.branch_name(run, task)
