"""Undoing a run's merges: reset the target to where it was, or revert the run's merges."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from genesis_par import gitops, worktrees
from genesis_par.errors import UsageError
from genesis_par.state.merges import MergeStep
from genesis_par.state.store import Store, pick_run


@dataclass(frozen=True)
class Rollback:
    """Where the target was and is now."""

    into: str
    old: str
    new: str
    reverted: bool


def rollback(repo: gitops.RepoPaths, store: Store, run: str | None, revert: bool) -> Rollback:
    """Put the run's (the latest when None) merge target back where it was before its merges:
    reset when it holds nothing but the run's merges, or with revert commits (revert=True)."""
    record = pick_run(store, run)
    recorded = store.merge_steps(record.name)
    if not recorded:
        raise UsageError(f'run "{record.name}" made no merges: nothing to roll back')
    into = recorded[0].into  # the run's target; a later `merge --into` elsewhere is not it
    current = gitops.resolve_commit(repo.root, into)
    steps = _made(repo, [s for s in recorded if s.into == into], current)
    if not steps:
        raise UsageError(f'run "{record.name}" made no merges: nothing to roll back')
    before, after = steps[0][0], steps[-1][1]
    if current == before:
        raise UsageError(f"{into} is already at {before[:12]}: nothing to roll back")
    checked_out = gitops.checked_out_in(repo.root, into)
    if checked_out is not None and not gitops.is_clean(checked_out):
        raise UsageError(
            f"{into} is checked out in {checked_out} with uncommitted changes: commit or "
            "stash them first"
        )
    if not revert:
        _check_resettable(into, before, after, str(current), steps)
        if not _move(repo, into, checked_out, after, before):
            raise UsageError(f"{into} moved while rolling back: run rollback again")
        new = before
    else:
        new = _revert(repo, record.name, into, checked_out, steps, str(current))
    store.roll_back_steps(record.name, into, str(current), new)
    home = store.landing(record.name)
    if home is not None and home.queue is not None:  # status and report say they were undone
        queue = dataclasses.replace(home.queue, rolled_back_to=new)
        store.set_landing(record.name, dataclasses.replace(home, queue=queue))
    return Rollback(into, str(current), new, revert)


def _made(
    repo: gitops.RepoPaths, recorded: Sequence[MergeStep], current: str | None
) -> list[tuple[str, str]]:
    """(old, new) of each move made: a move journaled but never settled (the queue was killed
    during its compare-and-swap) counts when its commit is in the target's history."""
    return [
        (s.before, s.after)
        for s in recorded
        if s.published
        or (current is not None and gitops.merge_base(repo.root, s.after, current) == s.after)
    ]


def _check_resettable(
    into: str, before: str, after: str, current: str, steps: Sequence[tuple[str, ...]]
) -> None:
    """Resetting is only safe when the target holds nothing but the run's own merges."""
    if current != after:
        raise UsageError(
            f"{into} moved since the run merged (now {current[:12]}, the run left "
            f"{after[:12]}): not resetting it; pass --revert to add revert commits instead"
        )
    chained = all(a[1] == b[0] for a, b in itertools.pairwise(steps))
    if not steps or steps[0][0] != before or steps[-1][1] != after or not chained:
        raise UsageError(
            f"{into} holds commits made between the run's merges by someone else: resetting "
            "would drop them; pass --revert to revert only the run's merges"
        )


def _move(repo: gitops.RepoPaths, into: str, checked_out: Path | None, old: str, new: str) -> bool:
    """Compare-and-swap the target; a checked-out target moves its worktree's files too."""
    if checked_out is None:
        return gitops.try_update_ref(repo.root, into, new, old)
    return gitops.try_reset_checked_out(checked_out, old, new)


def _revert(
    repo: gitops.RepoPaths,
    run: str,
    into: str,
    checked_out: Path | None,
    steps: Sequence[tuple[str, ...]],
    current: str,
) -> str:
    """Revert commits for the run's own merges (newest first) on top of the target."""
    wt = worktrees.merge_worktree(repo, run, current)
    gitops.checkout_detached(wt, current)
    commits = [c for old, new in steps for c in gitops.first_parent_commits(repo.root, old, new)]
    env = gitops.identity_env(repo.root)
    if not gitops.revert(wt, list(reversed(commits)), env):
        raise UsageError(
            f"reverting the run's merges on {into} conflicts with later commits: revert by hand"
        )
    new = gitops.head(wt)
    if not _move(repo, into, checked_out, current, new):
        raise UsageError(f"{into} moved while rolling back: run rollback again")
    return new
