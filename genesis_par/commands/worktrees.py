"""`genesis-par worktrees list / gc / rm`: see and clean the worktrees the tool made."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from genesis_par import gitops, worktrees
from genesis_par.commands.common import open_store, state_dir
from genesis_par.errors import UsageError
from genesis_par.report import worktrees_view
from genesis_par.run.orphans import effective_status, stop_orphans, supervisor_alive
from genesis_par.state.store import Store, run_supervised
from genesis_par.worktrees import cleaning
from genesis_par.worktrees import pool as pool_mod

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


def _views(repo: gitops.RepoPaths, state: Path) -> list[cleaning.RunView]:
    views = []
    if (state / "state.db").exists():
        with open_store(state, read_only=True) as store:
            stop_orphans(store)
            for r in store.runs():
                alive = r.status == "running" and supervisor_alive(r)
                target = r.into_ref if gitops.resolve_commit(repo.root, r.into_ref) else None
                tasks = store.tasks(r.name, with_start=True)
                views.append(
                    cleaning.RunView(r.name, alive, target, r.finished_at, tasks, r.base_ref)
                )
    recorded = {v.name for v in views}
    folder = repo.root / worktrees.WORKTREES_DIR
    for run in sorted(folder.iterdir()) if folder.is_dir() else []:
        # no record (the database was deleted mid-run) but its supervisor holds the lock
        if run.name not in recorded and run_supervised(state, run.name):
            views.append(cleaning.RunView(run.name, True, None, None, []))
    return views


def list_(cwd: Path, *, as_json: bool = False, pool: bool = False) -> int:
    """Every worktree and branch the tool made (or, with pool, the pooled worktrees)."""
    repo, state = state_dir(cwd)
    worktrees.check_layout(repo)
    pooled = pool_mod.entries(repo)
    if pool:
        worktrees_view.show_pool(pooled, as_json)
        return 0
    items = cleaning.inventory(repo, _views(repo, state))
    trash = gitops.ref_names(repo.root, cleaning.TRASH_REFS + "/")
    worktrees_view.show_list(items, trash, len(pooled), as_json)
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
    wanted: Callable[[cleaning.Worktree], bool],
    *,
    dry_run: bool,
    force: bool,
    older_than: str | None,
    drain: bool,
    as_json: bool,
    now: float,
    only: tuple[str, str | None] | None = None,
) -> int:
    repo, state = state_dir(cwd)
    worktrees.check_layout(repo)
    min_age = parse_age(older_than) if older_than else None
    views = _views(repo, state)
    items = [w for w in cleaning.inventory(repo, views) if wanted(w)]
    view = next((v for v in views if only and v.name == only[0]), None)
    if only is not None and only[1] is None:
        items += cleaning.leftover_branches(repo, only[0], items, view)
    if only is not None and not items and (view is None or only[1] or view.alive):
        what = f"{only[0]}/{only[1]}" if only[1] else only[0]
        raise UsageError(
            f"no worktree or branch of {what}: `genesis-par worktrees list` shows them"
        )
    if min_age is not None:
        items = [w for w in items if w.finished_at is not None and now - w.finished_at >= min_age]
    actions = cleaning.clean(repo, items, dry_run=dry_run, force=force, now=now, pool=not drain)
    drained, busy = pool_mod.drain(repo, dry_run) if drain else ([], [])
    pruned = gitops.prune_worktrees(repo.root, repo.common_dir, dry_run)
    expired = cleaning.expired_trash(repo.root, now)
    if not dry_run:
        for ref in expired:
            gitops.delete_ref(repo.root, ref)
    forgot = _forget_if_gone(repo, state, only, actions, dry_run)
    worktrees_view.show_gc(
        worktrees_view.Cleaned(actions, pruned, expired, drained, busy, forgot), dry_run, as_json
    )
    return 0


def _forget_if_gone(
    repo: gitops.RepoPaths,
    state: Path,
    only: tuple[str, str | None] | None,
    actions: list[cleaning.Action],
    dry_run: bool,
) -> bool:
    """`rm RUN` that left nothing of the run frees its name: its record goes too."""
    if only is None or only[1] is not None or any(a.kept for a in actions) or dry_run:
        return False
    if not (state / "state.db").exists():
        return False
    with Store.open(state) as store:
        record = store.get_run(only[0])
        if record is None or effective_status(record) == "running":
            return False
        store.forget_run(only[0])
    for kept in ("logs", "prompts"):  # a later run of that name must not append to them
        shutil.rmtree(state / kept / only[0], ignore_errors=True)
    return True
