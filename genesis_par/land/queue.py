"""The merge queue: land task branches one by one on a target, each proven before publishing."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Protocol

from genesis_par import gitops, proc
from genesis_par.land import conflicts
from genesis_par.land.checks import BatchSettings
from genesis_par.land.conflicts import MergeResult
from genesis_par.plan import graph
from genesis_par.plan.model import Command, MergeMethod, Task
from genesis_par.run import steps
from genesis_par.state.landings import BatchOutcome

MAX_RETRIES_ON_MOVED_TARGET = 20
CHECK_FAILED = "merge check failed"


class Candidate(NamedTuple):
    task: Task
    branch: str
    commit: str
    conflicts_with: frozenset[str]  # other candidates it conflicts with, from the pairwise probe
    start: str | None = None  # the commit the task started from (its dependencies' results)


class Unmerged(NamedTuple):
    task: str
    reason: str
    conflicts: tuple[tuple[str, str, str], ...] = ()  # (path, kind, with)
    log: Path | None = None
    on_top_of: tuple[str, ...] = ()  # a failed merge check: the tasks merged under it then

    def as_json(self) -> dict[str, object]:
        """The JSON form used by `run` and `merge`."""
        obj: dict[str, object] = {
            "task": self.task,
            "reason": self.reason,
            "conflicts": [{"path": p, "kind": k, "with": w} for p, k, w in self.conflicts],
        }
        if self.reason == CHECK_FAILED:  # what was under it: it may fail only on top of them
            obj["on_top_of"] = list(self.on_top_of)
        if self.log:
            obj["log"] = str(self.log)
        return obj


@dataclass
class QueueResult:
    """What the queue did (or, for a dry run, would do)."""

    into: str
    before: str
    after: str
    order: list[tuple[str, str]] = field(default_factory=list)  # (task, why it is there)
    merged: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)  # of merged: in the target before the queue
    unmerged: list[Unmerged] = field(default_factory=list)
    created: bool = False
    steps: list[tuple[str, str]] = field(default_factory=list)  # (old, new) of each move made
    blocked: str | None = None  # why a checked-out target's local changes stop every move
    batches: list[BatchOutcome] = field(default_factory=list)  # land.batch's


class StepJournal(Protocol):
    """Where the queue writes each move of the target: before it is made, then its outcome."""

    def intend(self, into_ref: str, before: str, after: str, task: str) -> int: ...

    def settle(self, token: int, published: bool) -> None: ...


@dataclass(frozen=True)
class QueueSpec:
    """Where and how to merge."""

    repo: gitops.RepoPaths
    run: str
    into_ref: str  # a full ref, refs/heads/...
    start: str  # the commit the target starts from when it does not exist yet
    method: MergeMethod = MergeMethod.MERGE
    check: Command | None = None
    check_worktree: Path | None = None
    log_dir: Path | None = None
    git_env: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    check_timeout_s: float | None = None
    checked_out: Path | None = None  # the user's worktree that has the target checked out
    journal: StepJournal | None = None  # records each move, so a killed queue can be undone
    batching: BatchSettings = field(
        default_factory=BatchSettings
    )  # [merge] batch, parallel_checks, check_retries
    progress: Callable[[str, Mapping[str, object]], None] | None = None  # the queue's steps
    cancel: threading.Event = field(default_factory=threading.Event)  # set by Ctrl-C: stop


def order(candidates: Sequence[Candidate]) -> list[tuple[str, str]]:
    """Dependencies first, then priority, then branches that conflict with nothing."""
    by_id = {c.task.id: c for c in candidates}

    def key(task: Task) -> tuple[float, ...]:
        return (-task.priority, len(by_id[task.id].conflicts_with) > 0, task.index)

    ids = graph.ordered([c.task for c in candidates], key)
    return [(task_id, _why(by_id[task_id], by_id)) for task_id in ids]


def _why(c: Candidate, by_id: Mapping[str, Candidate]) -> str:
    parts = [f"priority {c.task.priority.label}"]
    deps = [d for d in c.task.depends_on if d in by_id]
    if deps:
        parts.append("after " + ", ".join(deps))
    if c.conflicts_with:
        parts.append("conflicts with " + ", ".join(sorted(c.conflicts_with)))
    else:
        parts.append("conflicts with nothing")
    return "; ".join(parts)


def _message(spec: QueueSpec, c: Candidate) -> str:
    verb = "Squash" if spec.method is MergeMethod.SQUASH else "Merge"
    return (
        f"{verb} {c.branch} ({c.task.id})\n\nGenesis-Run: {spec.run}\nGenesis-Task: {c.task.id}\n"
    )


def _probe(spec: QueueSpec, tip: str, c: Candidate, scratch: Mapping[str, str]) -> MergeResult:
    """Merge c onto tip, as its method will land it.

    `merge` keeps the task's history, so git's own merge base is right. `squash` and `rebase`
    land only the task's own change (start..commit), like a cherry-pick: the merge is against a
    stand-in for tip whose one parent is the task's start, which makes start the merge base even
    when the task's dependencies landed as new (squashed or replayed) commits."""
    repo = spec.repo.root
    if spec.method is MergeMethod.MERGE or c.start is None:
        return conflicts.merge_one(repo, tip, c.commit, scratch)
    env = {**spec.git_env, **scratch}
    tree = gitops.tree_of(repo, tip, scratch)
    stand_in = gitops.commit_tree(repo, tree, [c.start], "genesis-par: merge probe", env)
    return conflicts.merge_one(repo, stand_in, c.commit, scratch)


def _combine(spec: QueueSpec, tip: str, c: Candidate, tree: str) -> str | None:
    """The commit that lands c on tip; None when a rebase hits a conflict."""
    repo = spec.repo.root
    if spec.method is MergeMethod.MERGE:
        return gitops.commit_tree(repo, tree, [tip, c.commit], _message(spec, c), spec.git_env)
    if spec.method is MergeMethod.SQUASH:
        return gitops.commit_tree(repo, tree, [tip], _message(spec, c), spec.git_env)
    assert spec.check_worktree is not None
    base = c.start or gitops.merge_base(repo, tip, c.commit) or tip  # replay its own commits only
    gitops.checkout_detached(spec.check_worktree, tip)
    if not gitops.cherry_pick(
        spec.check_worktree, gitops.commits_between(repo, base, c.commit), spec.git_env
    ):
        return None
    return gitops.head(spec.check_worktree)


def check_log(log_dir: Path, task: str) -> Path:
    """Where the merge check after task's merge writes its output (`logs --merge-check`)."""
    return log_dir / f"merge-check.{task}.log"


def _check(spec: QueueSpec, commit: str, task: str) -> tuple[bool, Path | None]:
    if spec.check is None or spec.check_worktree is None:
        return True, None
    assert spec.log_dir is not None
    gitops.checkout_detached(spec.check_worktree, commit)
    log = check_log(spec.log_dir, task)
    values = steps.template_values(
        run=spec.run,
        task=task,
        worktree=spec.check_worktree,
        branch=spec.into_ref,
        base=spec.start,
    )
    limits = proc.Limits(timeout_s=spec.check_timeout_s)
    step = steps.Step(spec.check, spec.check_worktree, log, values, spec.env, limits)
    outcome = steps.run(step, spec.cancel).outcome
    return outcome.failure is None, log


def _conflicts_with(
    result: conflicts.MergeResult,
    candidate: Candidate,
    merged: Sequence[str],
    touched: Callable[[str], set[str]],
) -> tuple[tuple[str, str, str], ...]:
    """Name, for each conflict, every merged task that conflicts with this one (by the pairwise
    probe) and changed its path too; with none, the conflict is with the target's own work."""
    named = []
    for c in result.conflicts:
        paths = set(c.paths or (c.path,))
        others = [m for m in merged if m in candidate.conflicts_with and paths & touched(m)] or [
            "target"
        ]
        named += [(c.path, c.kind.value, other) for other in others]
    return tuple(named)


def land(
    spec: QueueSpec,
    candidates: Sequence[Candidate],
    touched: Callable[[str], set[str]] = lambda task: set(),
    dry_run: bool = False,
    unmergeable: Mapping[str, str] | None = None,
) -> QueueResult:
    """Land every candidate it can on the target, in order; never force a ref.

    unmergeable: tasks left out from the start (task -> why: a branch gone or with an unrelated
    history), so that their dependents are left out too."""
    repo = spec.repo.root
    before = gitops.resolve_commit(repo, spec.into_ref)
    result = QueueResult(
        spec.into_ref,
        before or spec.start,
        before or spec.start,
        order=order(candidates),
        created=before is None,
        unmerged=[Unmerged(task, why) for task, why in (unmergeable or {}).items()],
    )
    if before is None and not dry_run:
        gitops.update_ref(repo, spec.into_ref, spec.start, None)
    by_id = {c.task.id: c for c in candidates}
    if spec.check is not None and not dry_run and not spec.batching.one_by_one:
        from genesis_par.land import batch  # built on this module

        result.after = batch.land(spec, [by_id[t] for t, _ in result.order], result, touched)
        return result
    tip = result.before
    blocked = None if dry_run else _in_the_way(spec)
    with contextlib.ExitStack() as stack:
        # A dry run writes its trial merges into a throwaway object directory.
        objects = stack.enter_context(gitops.scratch_objects(repo)) if dry_run else {}
        for task_id, _ in result.order:
            c = by_id[task_id]
            left_out = [d for d in c.task.depends_on if d in {u.task for u in result.unmerged}]
            if spec.cancel.is_set():  # interrupted: what is left waits for `resume`
                result.unmerged.append(Unmerged(task_id, "interrupted"))
                continue
            if blocked:  # nothing can land on the checked-out target until they are dealt with
                result.unmerged.append(Unmerged(task_id, blocked))
                continue
            if left_out:  # its branch holds that work too: merging it would land it anyway
                result.unmerged.append(Unmerged(task_id, f"dependency {left_out[0]} not merged"))
                continue
            tip = _land_one(spec, c, tip, result, touched, objects)
            blocked = result.blocked
    result.after = tip
    return result


def _in_the_way(spec: QueueSpec) -> str | None:
    """Why a checked-out target cannot move: the uncommitted changes in its worktree."""
    if spec.checked_out is None:
        return None
    changed = gitops.local_changes(spec.checked_out)
    if not changed:
        return None
    more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
    return (
        f"uncommitted changes in {spec.checked_out} ({changed[0]}{more}) are in the way: "
        "commit or stash them, then merge again"
    )


def _publish(spec: QueueSpec, new: str, old: str, task: str) -> bool:
    """Compare-and-swap the target; a checked-out target moves its worktree's files too.

    The move is journaled before the swap and settled after it: killed in between (SIGKILL, or
    a Ctrl-C landing there), the journal still names a move that may have been made."""
    token = spec.journal.intend(spec.into_ref, old, new, task) if spec.journal else None
    if spec.checked_out is None:
        moved = gitops.try_update_ref(spec.repo.root, spec.into_ref, new, old)
    else:
        moved = gitops.try_fast_forward(spec.checked_out, old, new)
    if spec.journal is not None and token is not None:
        spec.journal.settle(token, moved)
    return moved


def _land_one(
    spec: QueueSpec,
    c: Candidate,
    tip: str,
    result: QueueResult,
    touched: Callable[[str], set[str]],
    scratch: Mapping[str, str],
) -> str:
    """Land one candidate; the new tip. A scratch object dir (dry run) publishes nothing."""
    repo = spec.repo.root
    for _ in range(MAX_RETRIES_ON_MOVED_TARGET):
        probe = _probe(spec, tip, c, scratch)
        if probe.clean and probe.tree == gitops.tree_of(repo, tip, scratch):
            result.merged.append(c.task.id)  # already there (a resumed run): nothing to add
            result.already.append(c.task.id)
            return tip
        if not probe.clean:
            named = _conflicts_with(probe, c, result.merged, touched)
            result.unmerged.append(Unmerged(c.task.id, "conflicts", named))
            return tip
        if scratch:
            result.merged.append(c.task.id)
            env = {**spec.git_env, **scratch}
            return gitops.commit_tree(repo, probe.tree, [tip, c.commit], "dry run", env)
        new = _combine(spec, tip, c, probe.tree)
        if new is None:
            result.unmerged.append(Unmerged(c.task.id, "rebase conflict"))
            return tip
        passed, log = _check(spec, new, c.task.id)
        if not passed:
            on_top_of = tuple(result.merged)
            why = "interrupted" if spec.cancel.is_set() else CHECK_FAILED
            result.unmerged.append(Unmerged(c.task.id, why, (), log, on_top_of))
            return tip
        if _publish(spec, new, tip, c.task.id):
            result.merged.append(c.task.id)
            result.steps.append((tip, new))
            return new
        moved_to = gitops.resolve_commit(repo, spec.into_ref) or tip
        result.blocked = _in_the_way(spec) if moved_to == tip else None
        if result.blocked:  # not a moving target: local changes stop the fast-forward
            result.unmerged.append(Unmerged(c.task.id, result.blocked))
            return tip
        # The target moved under us: probe again against its new tip, never force.
        tip = moved_to
    result.unmerged.append(Unmerged(c.task.id, "the target kept moving"))
    return tip
