"""What the tool made, as `worktrees list` shows it: every task worktree, clone and branch of
genesis-par's, with its state, its work's place (landed or not) and what runs in it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from genesis_par import gitops, proc_scan
from genesis_par.model import TaskStatus
from genesis_par.state.records import TaskRecord
from genesis_par.worktrees.allocate import WORKTREES_DIR, path_for


@dataclass
class Worktree:
    """One worktree (or branch) genesis-par made, as `worktrees list` shows it."""

    run: str
    task: str
    path: Path
    branch: str | None
    state: str  # running | finished | orphaned | branch-only | prunable | broken
    dirty: bool | None = None
    on_branch: bool | None = None
    landed: bool | None = None
    size_bytes: int = 0
    head: str | None = None
    start: str | None = None
    target: str | None = None
    finished_at: float | None = None
    run_alive: bool = False  # its run is still supervised: gc leaves the whole run alone
    processes: list[proc_scan.Seen] = field(default_factory=list)  # working in it right now
    nested: list[str] = field(default_factory=list)  # folders with a repository of their own
    clone: bool = False  # a task clone (isolation = "clone"), not a worktree: never pooled


@dataclass(frozen=True)
class RunView:
    """What cleaning needs to know of a recorded run."""

    name: str
    alive: bool  # its supervisor still runs
    target: str | None  # where its work lands, if that exists
    finished_at: float | None
    tasks: list[TaskRecord]
    base: str | None = None  # where its integration branch's work belongs


def _task_dirs(base: Path) -> list[Path]:
    if not base.exists():
        return []
    return [
        p
        for run in sorted(base.iterdir())
        if run.is_dir() and not run.is_symlink()  # never follow a link out of .genesis
        for p in sorted(run.iterdir())
        if p.is_dir() and not p.is_symlink()
    ]


def inventory(repo: gitops.RepoPaths, runs: Sequence[RunView]) -> list[Worktree]:
    """Every worktree and task branch the tool made, with its state."""
    base = repo.root / WORKTREES_DIR
    records = {e.path: e for e in gitops.worktrees(repo.root) if e.path.is_relative_to(base)}
    known = {(r.name, t.id): (r, t) for r in runs for t in r.tasks}
    alive = {r.name for r in runs if r.alive}
    dirs = _task_dirs(base)
    paths = dirs + [p for p in records if p not in dirs]
    busy = proc_scan.processes_in([p for p in paths if p.exists()])
    found = [
        _describe(repo, path, records.get(path), known.get((path.parent.name, path.name)))
        for path in paths
    ]
    for w in found:
        w.processes = busy.get(w.path, [])
        w.run_alive = w.run_alive or w.run in alive
    _guard_unrecorded_runs(found)
    seen = {w.path for w in found}
    for (run, task), (view, t) in known.items():
        path = path_for(repo.root, run, task)
        branch = t.branch
        if path not in seen and t.attempts and branch and gitops.resolve_commit(repo.root, branch):
            w = Worktree(
                run,
                task,
                path,
                branch,
                "branch-only",
                start=t.start_commit,
                target=view.target,
                finished_at=view.finished_at,
            )
            w.landed = _landed(repo, w)
            found.append(w)
    return found


def _guard_unrecorded_runs(found: Sequence[Worktree]) -> None:
    """A run the state does not know (its database deleted mid-run) is taken as still going
    while any process works in one of its worktrees: its idle worktrees are its too."""
    busy_runs = {w.run for w in found if w.processes and w.state == "orphaned"}
    for w in found:
        if w.state == "orphaned" and w.run in busy_runs:
            w.run_alive = True


def _describe(
    repo: gitops.RepoPaths,
    path: Path,
    record: gitops.WorktreeEntry | None,
    entry: tuple[RunView, TaskRecord] | None,
) -> Worktree:
    run, task = path.parent.name, path.name
    view, t = entry if entry else (None, None)
    checked_out = record.branch.removeprefix("refs/heads/") if record and record.branch else None
    if record is not None and record.prunable:
        state = "prunable"
    elif (
        view is not None
        and view.alive
        and t is not None
        and t.status in (TaskStatus.RUNNING, TaskStatus.PENDING)
    ):
        state = "running"
    elif view is None and not task.startswith(".merge"):
        state = "orphaned"
    else:
        state = "finished"
    w = Worktree(
        run,
        task,
        path,
        t.branch if t else checked_out,
        state,
        head=record.head if record else None,
        start=t.start_commit if t else None,
        target=view.target if view else None,
        finished_at=view.finished_at if view else None,
        run_alive=view is not None and view.alive,
    )
    if record is None and gitops.is_clone(path):
        return _describe_clone(repo, w)
    if path.exists() and record is not None and not record.prunable:
        try:
            w.dirty = gitops.has_uncommitted(path)
        except gitops.WorktreeBroken:  # an agent removed or replaced its .git: never followed
            w.state = w.state if w.state == "running" else "broken"
            return w
        w.on_branch = checked_out is not None and checked_out == w.branch
        w.size_bytes, w.nested = gitops.walk(path)
    w.landed = _landed(repo, w)
    return w


def _describe_clone(repo: gitops.RepoPaths, w: Worktree) -> Worktree:
    """A task clone: dirty when it holds uncommitted files, off its branch when its HEAD's
    commit never came home (the user's repository lacks it: removing the clone would lose it)."""
    w.clone = True
    if w.branch is None:  # no record of its run (git keeps none for a clone): the convention's
        named = f"genesis/{w.run}/{w.task}"
        w.branch = named if gitops.resolve_commit(repo.root, named) else None
    try:
        w.head = gitops.clone_head(w.path)
        w.dirty = gitops.has_uncommitted(w.path)
    except gitops.WorktreeBroken:  # its git dir is not what genesis-par made: never followed
        w.head, w.state = None, w.state if w.state == "running" else "broken"
        return w
    w.on_branch = w.head is not None and gitops.resolve_commit(repo.root, w.head) is not None
    w.size_bytes, w.nested = gitops.walk(w.path)
    w.landed = _landed(repo, w)
    return w


def _landed(repo: gitops.RepoPaths, w: Worktree) -> bool | None:
    if not (w.branch and w.start and w.target) or not gitops.resolve_commit(repo.root, w.branch):
        return None
    return gitops.landed(repo.root, w.branch, w.target)


def leftover_branches(
    repo: gitops.RepoPaths, run: str, items: Sequence[Worktree], view: RunView | None
) -> list[Worktree]:
    """The run's branches no task worktree accounts for (its integration branch, most often),
    as branch-only entries; landed means merged into the run's base."""
    claimed = {w.branch for w in items}
    found = []
    for ref in gitops.ref_names(repo.root, f"refs/heads/genesis/{run}/"):
        branch = ref.removeprefix("refs/heads/")
        if branch in claimed:
            continue
        task = branch.removeprefix(f"genesis/{run}/")
        w = Worktree(run, task, path_for(repo.root, run, task), branch, "branch-only")
        w.run_alive = view is not None and view.alive
        if view is not None and view.base and gitops.resolve_commit(repo.root, view.base):
            w.target = view.base
            w.landed = gitops.landed(repo.root, branch, view.base)
        found.append(w)
    return found
