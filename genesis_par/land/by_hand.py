"""`resolve`: a task's worktree holding the merge of the current target into its branch, as git
leaves it, for a person to finish; `merge` then lands the branch as it is (issue 15)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from genesis_par import gitops, worktrees
from genesis_par.errors import UsageError
from genesis_par.model import TaskStatus
from genesis_par.state.events import BranchMoved, ResolvedByHand
from genesis_par.state.store import Store, pick_run, run_supervised


class Prepared(enum.Enum):
    """What `resolve` left in the worktree."""

    CONFLICTS = "conflicts"  # the merge is in progress, with the paths left unmerged
    MERGED = "merged"  # the merge was clean and is committed on the task branch
    UP_TO_DATE = "up-to-date"  # the branch already holds the target
    LANDED = "landed"  # the target already holds the branch: nothing to resolve
    IN_PROGRESS = "in-progress"  # a merge was already under way there: left as it is


class Preparation(NamedTuple):
    run: str
    task: str
    worktree: Path
    branch: str
    target: str  # the ref (or commit) merged in
    target_commit: str
    outcome: Prepared
    unmerged: tuple[str, ...] = ()
    commit: str | None = None  # the task branch's tip after it

    def as_json(self) -> dict[str, object]:
        """The JSON form of `resolve --json`."""
        return {
            "run": self.run,
            "task": self.task,
            "worktree": str(self.worktree),
            "branch": self.branch,
            "target": self.target.removeprefix("refs/heads/"),
            "target_commit": self.target_commit,
            "outcome": self.outcome.value,
            "unmerged": list(self.unmerged),
            "commit": self.commit,
        }


def prepare_task(repo: gitops.RepoPaths, store: Store, run: str | None, task: str) -> Preparation:
    """`resolve [RUN] TASK`: check the task can be resolved, prepare its worktree, record it."""
    record = pick_run(store, run)
    if run_supervised(repo.common_dir / "genesis-par", record.name):
        raise UsageError(  # its queue may be using the task's worktree
            f'run "{record.name}" is still running: resolve its tasks once it has finished '
            f"(`genesis-par status {record.name}`)"
        )
    known = {t.id: t for t in store.tasks(record.name)}
    if task not in known:
        raise UsageError(f'run "{record.name}" has no task "{task}" (tasks: {", ".join(known)})')
    if known[task].status != TaskStatus.SUCCEEDED:
        raise UsageError(
            f'task "{task}" of run "{record.name}" is {known[task].status}, not succeeded: '
            "only finished work can be merged (`resume --retry-failed` runs it again)"
        )
    target_commit = gitops.resolve_commit(repo.root, record.into_ref)
    target = record.into_ref if target_commit else record.base_commit
    git_env = gitops.identity_env(repo.root)
    done = prepare(repo, record.name, task, target, target_commit or record.base_commit, git_env)
    store.record_event(record.name, task, ResolvedByHand(done.outcome.value, tuple(done.unmerged)))
    if done.commit:
        store.record_event(record.name, task, BranchMoved(done.commit))
    return done


def merge_message(target: str, branch: str) -> str:
    """The message of the merge of the target into a task branch."""
    return f"Merge {target.removeprefix('refs/heads/')} into {branch}\n"


def prepare(
    repo: gitops.RepoPaths,
    run: str,
    task: str,
    target: str,
    target_commit: str,
    git_env: Mapping[str, str],
) -> Preparation:
    """Merge target_commit into the task's branch in its worktree (made again if gc removed it)."""
    branch = worktrees.branch_name(run, task)
    if gitops.resolve_commit(repo.root, f"refs/heads/{branch}") is None:
        raise UsageError(
            f'task "{task}" has no branch {branch}: it never finished, or its branch was '
            "deleted; nothing to resolve"
        )
    worktree, _ = worktrees.allocate(repo, run, task, target_commit, pool=False)
    gitops.locate(worktree, common_dir=repo.common_dir)
    where = Preparation(run, task, worktree, branch, target, target_commit, Prepared.IN_PROGRESS)
    if gitops.merging(worktree):
        return where._replace(unmerged=tuple(gitops.unmerged_paths(worktree)))
    _on_its_branch(worktree, branch)
    if gitops.is_ancestor(repo.root, f"refs/heads/{branch}", target_commit):
        return where._replace(outcome=Prepared.LANDED, commit=gitops.head(worktree))
    if gitops.is_ancestor(repo.root, target_commit, f"refs/heads/{branch}"):
        return where._replace(outcome=Prepared.UP_TO_DATE, commit=gitops.head(worktree))
    message = merge_message(target, branch)
    unmerged = gitops.merge_in_worktree(worktree, target_commit, message, git_env)
    if unmerged:
        return where._replace(outcome=Prepared.CONFLICTS, unmerged=tuple(unmerged))
    return where._replace(outcome=Prepared.MERGED, commit=gitops.head(worktree))


def _on_its_branch(worktree: Path, branch: str) -> None:
    """The worktree must be clean and on the task's branch: never merge over someone's work."""
    if gitops.has_uncommitted(worktree):
        changed = gitops.local_changes(worktree)
        what = f" ({changed[0]}{' and more' if len(changed) > 1 else ''})" if changed else ""
        raise UsageError(
            f"{worktree} has uncommitted changes{what}: commit them on {branch} (or remove "
            "them), then run resolve again"
        )
    if gitops.branch_checked_out(worktree) != f"refs/heads/{branch}":
        gitops.switch_to(worktree, branch)
