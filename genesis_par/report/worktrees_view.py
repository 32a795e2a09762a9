"""Renderers for `worktrees list` and `worktrees gc / rm`."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from genesis_par.report.console import console
from genesis_par.worktrees.gc import Cleaned
from genesis_par.worktrees.pool import Pooled
from genesis_par.worktrees.survey import Worktree


def shown(text: str | Path) -> str:
    """A path or name as text: bytes that are not UTF-8 (an agent's file name) as \\xNN, so
    that printing it never fails."""
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def raw(text: str | Path) -> str:
    """A path or name for JSON: bytes that are not UTF-8 kept as lone surrogates, which the
    (ASCII) JSON writes as \\udcXX and `os.fsencode` turns back into the exact bytes."""
    return os.fsdecode(text)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n //= 1024
    return f"{n} TiB"


def worktree_json(w: Worktree) -> dict[str, object]:
    """One worktree as JSON."""
    return {
        "run": raw(w.run),
        "task": raw(w.task),
        "branch": raw(w.branch) if w.branch else None,
        "path": raw(w.path),
        "state": w.state,
        "isolation": "clone" if w.clone else "worktree",
        "dirty": w.dirty,
        "landed": w.landed,
        "size_bytes": w.size_bytes,
        "processes": [{"pid": p.pid, "name": raw(p.name)} for p in w.processes],
    }


def pooled_json(p: Pooled) -> dict[str, object]:
    """One pooled worktree as JSON."""
    return {"path": raw(p.path), "head": p.head, "pooled_at": p.pooled_at}


def restore_command(ref: str) -> str:
    """The git command that brings work saved in a trash ref back as a branch."""
    run, task, when = ref.split("/")[3:6]
    return f"git branch restored-{run}-{task}-{when} {ref}"  # unique: a task may be saved twice


def show_pool(pooled: Sequence[Pooled], as_json: bool) -> None:
    """The pooled worktrees, oldest first."""
    if as_json:
        print(json.dumps({"pool": [pooled_json(p) for p in pooled]}, indent=2))
        return
    if not pooled:
        console.print("the pool is empty")
        return
    table = Table(expand=False)
    for column in ("pooled worktree", "head"):
        table.add_column(column)
    for p in pooled:
        table.add_row(escape(shown(p.path)), (p.head or "")[:12])
    console.print(table)
    console.print(
        f"{len(pooled)} clean {'worktree' if len(pooled) == 1 else 'worktrees'} kept for "
        "later tasks to reuse; `genesis-par worktrees gc --drain` removes them"
    )


def show_list(items: Sequence[Worktree], trash: Sequence[str], pooled: int, as_json: bool) -> None:
    """A table of worktrees, then the work gc --force saved in the trash."""
    if as_json:
        saved = [{"ref": raw(r), "restore": raw(restore_command(r))} for r in trash]
        listed = [worktree_json(w) for w in items]
        print(json.dumps({"worktrees": listed, "trash": saved, "pooled": pooled}, indent=2))
        return
    if trash:
        console.print(f"work saved by gc --force ({len(trash)}, kept 30 days):")
        for ref in trash:
            console.print(f"  {escape(ref)}: restore with `{escape(restore_command(ref))}`")
    if pooled:
        console.print(
            f"{pooled} pooled {'worktree' if pooled == 1 else 'worktrees'} kept for reuse: "
            "`genesis-par worktrees list --pool`"
        )
    if not items:
        console.print("no worktrees made by genesis-par here")
        return
    table = Table(expand=False)
    for column in ("run", "task", "state", "changes", "landed", "size", "branch"):
        table.add_column(column)
    yes_no = {True: "yes", False: "no", None: ""}
    for w in items:
        dirty = {True: "[yellow]uncommitted[/]", False: "clean", None: ""}[w.dirty]
        table.add_row(
            escape(shown(w.run)),
            escape(shown(w.task)),
            w.state.replace("-", " "),
            dirty,
            yes_no[w.landed],
            _size(w.size_bytes) if w.size_bytes else "",
            escape(shown(w.branch or "")),
        )
    console.print(table)


def _gc_json(done: Cleaned, dry_run: bool) -> str:
    return json.dumps(
        {
            "dry_run": dry_run,
            "removed": [
                {
                    **worktree_json(a.worktree),
                    "branch_deleted": a.branch_deleted,
                    "pooled": a.pooled,
                    "saved": a.saved,
                    "what": raw(a.reason),
                }
                for a in done.actions
                if a.removed or a.branch_deleted
            ],
            "kept": [
                {**worktree_json(a.worktree), "reason": raw(a.reason)}
                for a in done.actions
                if a.kept
            ],
            "pruned": [raw(line) for line in done.pruned],
            "expired_trash": [raw(r) for r in done.expired],
            "drained": [raw(p) for p in done.drained],
            "run_forgotten": done.forgot,
        },
        indent=2,
    )


def show_gc(done: Cleaned, dry_run: bool, as_json: bool) -> None:
    """What was removed, pooled and kept, with the reason."""
    if as_json:
        print(_gc_json(done, dry_run))
        return
    if dry_run:
        console.print("dry run: nothing was changed; this is what gc would do")
    would = "would " if dry_run else ""
    for a in done.actions:
        name = escape(shown(f"{a.worktree.run}/{a.worktree.task}"))
        reason = escape(shown(a.reason))
        if not a.kept:
            verb, past = ("pool", "pooled") if a.pooled else ("remove", "removed")
            said = f": {reason}" if reason else ""
            console.print(f"  {would + verb if dry_run else past} {name}{said}")
        elif a.removed:  # the worktree went (maybe to the pool), its branch stayed
            verb = "pool" if a.pooled else "remove"
            past = "pooled" if a.pooled else "removed"
            console.print(
                f"  {would + verb if dry_run else past} {name}'s worktree; [yellow]{reason}[/]"
            )
        else:
            console.print(f"  [yellow]kept[/] {name}: {reason}")
        if a.saved:
            console.print(
                f"    work saved in {escape(shown(a.saved))}; restore with "
                f"`{escape(shown(restore_command(a.saved)))}`"
            )
    for line in done.pruned:
        what = line.removeprefix("Removing ")  # git's own words, in the tense of a real prune
        console.print(f"  {would + 'prune' if dry_run else 'pruned'} {escape(shown(what))}")
    for ref in done.expired:
        console.print(f"  {would + 'drop' if dry_run else 'dropped'} expired {escape(shown(ref))}")
    if done.drained:
        n = len(done.drained)
        what = f"{n} pooled {'worktree' if n == 1 else 'worktrees'}"
        console.print(f"  {would + 'drain' if dry_run else 'drained'} {what}")
    for path in done.busy:
        console.print(f"  [yellow]kept[/] pooled {escape(shown(path))}: a process is running in it")
    if done.forgot:
        console.print("  forgot the run's record: its name is free again")
    if not (done.actions or done.pruned or done.expired or done.drained or done.busy):
        console.print("nothing to clean")
