"""`genesis-par worktrees list / gc / rm`: see and clean the worktrees the tool made."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from genesis_par import gitops, worktrees
from genesis_par.commands.common import open_store, state_dir, stop_orphans, supervisor_alive
from genesis_par.errors import UsageError
from genesis_par.report import worktrees_view

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """`7d`, `12h`, `30m`, `2w` or seconds."""
    unit = text[-1:] if text[-1:] in _DURATION_UNITS else "s"
    number = text[:-1] if unit != "s" or text.endswith("s") else text
    try:
        return float(number) * _DURATION_UNITS[unit]
    except ValueError:
        raise UsageError(
            f'--older-than "{text}" is not an age: write e.g. 7d, 12h or 30m'
        ) from None


def _views(repo: gitops.RepoPaths, state: Path) -> list[worktrees.RunView]:
    if not (state / "state.db").exists():
        return []
    with open_store(state, read_only=True) as store:
        stop_orphans(store)
        views = []
        for r in store.runs():
            alive = r.status == "running" and supervisor_alive(r)
            target = r.into_ref if gitops.resolve_commit(repo.root, r.into_ref) else None
            views.append(
                worktrees.RunView(
                    r.name, alive, target, r.finished_at, store.tasks(r.name, with_start=True)
                )
            )
    return views


def list_(cwd: Path, *, as_json: bool = False) -> int:
    """Every worktree and branch the tool made."""
    repo, state = state_dir(cwd)
    items = worktrees.inventory(repo, _views(repo, state))
    trash = gitops.ref_names(repo.root, worktrees.TRASH_REFS + "/")
    worktrees_view.show_list(items, trash, as_json)
    return 0


def gc(
    cwd: Path,
    *,
    dry_run: bool = False,
    force: bool = False,
    older_than: str | None = None,
    as_json: bool = False,
    now: Callable[[], float] = time.time,
) -> int:
    """Remove the worktrees of finished runs and orphans when that loses nothing."""
    return _clean(
        cwd,
        lambda w: True,
        dry_run=dry_run,
        force=force,
        older_than=older_than,
        as_json=as_json,
        now=now(),
    )


def rm(
    cwd: Path,
    run: str,
    task: str | None = None,
    *,
    force: bool = False,
    dry_run: bool = False,
    as_json: bool = False,
) -> int:
    """The same rules as gc, for one run or one task."""
    return _clean(
        cwd,
        lambda w: w.run == run and (task is None or w.task == task),
        dry_run=dry_run,
        force=force,
        older_than=None,
        as_json=as_json,
        now=time.time(),
        must_match=f"{run}/{task}" if task else run,
    )


def _clean(
    cwd: Path,
    wanted: Callable[[worktrees.Worktree], bool],
    *,
    dry_run: bool,
    force: bool,
    older_than: str | None,
    as_json: bool,
    now: float,
    must_match: str | None = None,
) -> int:
    repo, state = state_dir(cwd)
    min_age = parse_age(older_than) if older_than else None
    items = [w for w in worktrees.inventory(repo, _views(repo, state)) if wanted(w)]
    if must_match and not items:
        raise UsageError(
            f"no worktree or branch of {must_match}: `genesis-par worktrees list` shows them"
        )
    if min_age is not None:
        items = [w for w in items if w.finished_at is not None and now - w.finished_at >= min_age]
    actions = worktrees.clean(repo, items, dry_run=dry_run, force=force, now=now)
    pruned = gitops.prune_worktrees(repo.root, repo.common_dir, dry_run)
    expired = worktrees.expired_trash(repo.root, now)
    if not dry_run:
        for ref in expired:
            gitops.delete_ref(repo.root, ref)
    worktrees_view.show_gc(actions, pruned, expired, dry_run, as_json)
    return 0
