"""Renderers for `worktrees list` and `worktrees gc / rm`."""

from __future__ import annotations

import json
from collections.abc import Sequence

from rich.markup import escape
from rich.table import Table

from genesis_par.report.console import console
from genesis_par.worktrees import Action, Worktree


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n //= 1024
    return f"{n} TiB"


def worktree_json(w: Worktree) -> dict[str, object]:
    """One worktree as JSON."""
    return {
        "run": w.run,
        "task": w.task,
        "branch": w.branch,
        "path": str(w.path),
        "state": w.state,
        "dirty": w.dirty,
        "landed": w.landed,
        "size_bytes": w.size_bytes,
    }


def restore_command(ref: str) -> str:
    """The git command that brings work saved in a trash ref back as a branch."""
    run, task, when = ref.split("/")[3:6]
    return f"git branch restored-{run}-{task}-{when} {ref}"  # unique: a task may be saved twice


def show_list(items: Sequence[Worktree], trash: Sequence[str], as_json: bool) -> None:
    """A table of worktrees, then the work gc --force saved in the trash."""
    if as_json:
        saved = [{"ref": r, "restore": restore_command(r)} for r in trash]
        print(
            json.dumps({"worktrees": [worktree_json(w) for w in items], "trash": saved}, indent=2)
        )
        return
    if trash:
        console.print(f"work saved by gc --force ({len(trash)}, kept 30 days):")
        for ref in trash:
            console.print(f"  {escape(ref)}: restore with `{escape(restore_command(ref))}`")
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
            escape(w.run),
            escape(w.task),
            w.state,
            dirty,
            yes_no[w.landed],
            _size(w.size_bytes) if w.size_bytes else "",
            escape(w.branch or ""),
        )
    console.print(table)


def show_gc(
    actions: Sequence[Action],
    pruned: Sequence[str],
    expired: Sequence[str],
    dry_run: bool,
    as_json: bool,
) -> None:
    """What was removed and what was kept, with the reason."""
    if as_json:
        print(
            json.dumps(
                {
                    "dry_run": dry_run,
                    "removed": [
                        {
                            **worktree_json(a.worktree),
                            "branch_deleted": a.branch_deleted,
                            "saved": a.saved,
                            "what": a.reason,
                        }
                        for a in actions
                        if a.removed or a.branch_deleted
                    ],
                    "kept": [
                        {**worktree_json(a.worktree), "reason": a.reason} for a in actions if a.kept
                    ],
                    "pruned": list(pruned),
                    "expired_trash": list(expired),
                },
                indent=2,
            )
        )
        return
    verb = "would remove" if dry_run else "removed"
    if dry_run:
        console.print("dry run: nothing was changed; this is what gc would do")
    for a in actions:
        name = f"{a.worktree.run}/{a.worktree.task}"
        if not a.kept:
            console.print(f"  {verb} {escape(name)}: {escape(a.reason)}")
        elif a.removed:  # the worktree went (to the pool), its branch stayed
            console.print(f"  {verb} {escape(name)}'s worktree; [yellow]{escape(a.reason)}[/]")
        else:
            console.print(f"  [yellow]kept[/] {escape(name)}: {escape(a.reason)}")
        if a.saved:
            console.print(
                f"    work saved in {escape(a.saved)}; restore with "
                f"`{escape(restore_command(a.saved))}`"
            )
    for line in pruned:
        what = line.removeprefix("Removing ")  # git's own words, in the tense of a real prune
        console.print(f"  {'would prune' if dry_run else 'pruned'} {escape(what)}")
    for ref in expired:
        console.print(f"  {'would drop' if dry_run else 'dropped'} expired {escape(ref)}")
    if not actions and not pruned and not expired:
        console.print("nothing to clean")
