"""Seeing and cleaning what the tool made: the listing of worktrees and branches, and the gc
and rm rules applied to them (cleaning.py decides each one)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from genesis_par import gitops, worktrees
from genesis_par.errors import UsageError
from genesis_par.model import RunStatus
from genesis_par.run.orphans import effective_status, stop_orphans, supervisor_alive
from genesis_par.state.store import Store, run_supervised
from genesis_par.worktrees import cleaning, survey
from genesis_par.worktrees import pool as pool_mod


class Listing(NamedTuple):
    """What `worktrees list` shows."""

    items: Sequence[survey.Worktree]
    trash: Sequence[str]  # refs of removed work kept 30 days
    pooled: Sequence[pool_mod.Pooled]


class Cleaned(NamedTuple):
    """What one gc or rm did."""

    actions: Sequence[cleaning.Action]
    pruned: Sequence[str]  # git's stale worktree records
    expired: Sequence[str]  # trash refs older than 30 days
    drained: Sequence[Path]  # pooled worktrees removed by --drain
    busy: Sequence[Path]  # pooled worktrees --drain left: a process works in them
    forgot: bool = False  # rm RUN left nothing of the run: its record went too


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


def run_views(repo: gitops.RepoPaths, state: Path) -> list[survey.RunView]:
    views = []
    if (state / "state.db").exists():
        with Store.open(state, read_only=True) as store:
            stop_orphans(store)
            for r in store.runs():
                alive = r.status == RunStatus.RUNNING and supervisor_alive(r)
                target = r.into_ref if gitops.resolve_commit(repo.root, r.into_ref) else None
                tasks = store.tasks(r.name)
                views.append(
                    survey.RunView(r.name, alive, target, r.finished_at, tasks, r.base_ref)
                )
    recorded = {v.name for v in views}
    folder = repo.root / worktrees.WORKTREES_DIR
    for run in sorted(folder.iterdir()) if folder.is_dir() else []:
        # no record (the database was deleted mid-run) but its supervisor holds the lock
        if run.name not in recorded and run_supervised(state, run.name):
            views.append(survey.RunView(run.name, True, None, None, []))
    return views


def listing(repo: gitops.RepoPaths) -> Listing:
    """Every worktree and branch the tool made, its trash refs and how many are pooled."""
    worktrees.check_layout(repo)
    items = survey.inventory(repo, run_views(repo, repo.common_dir / "genesis-par"))
    trash = gitops.ref_names(repo.root, cleaning.TRASH_REFS + "/")
    return Listing(items, trash, pool_mod.entries(repo))


def collect(
    repo: gitops.RepoPaths,
    wanted: Callable[[survey.Worktree], bool],
    *,
    dry_run: bool,
    force: bool,
    older_than: str | None,
    drain: bool,
    now: float,
    only: tuple[str, str | None] | None = None,
) -> Cleaned:
    """Remove (or pool) the wanted worktrees and branches when that loses nothing: the rules
    of `gc` (every finished run) and `rm` (only = one run or one task); what was done."""
    state = repo.common_dir / "genesis-par"
    worktrees.check_layout(repo)
    min_age = parse_age(older_than) if older_than else None
    views = run_views(repo, state)
    items = [w for w in survey.inventory(repo, views) if wanted(w)]
    view = next((v for v in views if only and v.name == only[0]), None)
    if only is not None and only[1] is None:
        items += survey.leftover_branches(repo, only[0], items, view)
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
    return Cleaned(actions, pruned, expired, drained, busy, forgot)


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
        if record is None or effective_status(record) == RunStatus.RUNNING:
            return False
        store.forget_run(only[0])
    for kept in ("logs", "prompts"):  # a later run of that name must not append to them
        shutil.rmtree(state / kept / only[0], ignore_errors=True)
    return True
