"""`genesis-par worktrees list / gc / rm`: see and clean the worktrees the tool made."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from genesis_par import worktrees
from genesis_par.commands.common import state_dir
from genesis_par.report import worktrees_view
from genesis_par.worktrees import gc as gc_core
from genesis_par.worktrees import pool as pool_mod
from genesis_par.worktrees import survey


def list_(cwd: Path, *, as_json: bool = False, pool: bool = False) -> int:
    """Every worktree and branch the tool made (or, with pool, the pooled worktrees)."""
    repo, _ = state_dir(cwd)
    if pool:
        worktrees.check_layout(repo)
        worktrees_view.show_pool(pool_mod.entries(repo), as_json)
        return 0
    found = gc_core.listing(repo)
    worktrees_view.show_list(found.items, found.trash, len(found.pooled), as_json)
    return 0


def gc(
    cwd: Path,
    *,
    dry_run: bool = False,
    force: bool = False,
    older_than: str | None = None,
    drain: bool = False,
    as_json: bool = False,
    now: Callable[[], float] = time.time,
) -> int:
    """Remove the worktrees of finished runs and orphans when that loses nothing; with drain,
    also empty the pool."""
    return _clean(
        cwd,
        lambda w: True,
        dry_run=dry_run,
        force=force,
        older_than=older_than,
        drain=drain,
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
    """The same rules as gc, for one run or one task; a whole run's other branches (its
    integration branch) too, and its record once nothing of it is left."""
    return _clean(
        cwd,
        lambda w: w.run == run and (task is None or w.task == task),
        dry_run=dry_run,
        force=force,
        older_than=None,
        drain=False,
        as_json=as_json,
        now=time.time(),
        only=(run, task),
    )


def _clean(
    cwd: Path,
    wanted: Callable[[survey.Worktree], bool],
    *,
    dry_run: bool,
    force: bool,
    older_than: str | None,
    drain: bool,
    as_json: bool,
    now: float,
    only: tuple[str, str | None] | None = None,
) -> int:
    repo, _ = state_dir(cwd)
    done = gc_core.collect(
        repo,
        wanted,
        dry_run=dry_run,
        force=force,
        older_than=older_than,
        drain=drain,
        now=now,
        only=only,
    )
    worktrees_view.show_gc(done, dry_run, as_json)
    return 0
