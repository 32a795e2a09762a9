"""Renderer for `runs rm`."""

from __future__ import annotations

import json
from collections.abc import Sequence

from rich.markup import escape

from genesis_par.report.console import console
from genesis_par.report.words import plural
from genesis_par.worktrees.cleaning import Action


def rm_json(
    run: str, actions: Sequence[Action], branches: Sequence[str], refs: Sequence[str]
) -> dict[str, object]:
    """The object of `runs rm --json`."""

    def one(a: Action) -> dict[str, object]:
        return {"task": a.worktree.task, "path": str(a.worktree.path), "why": a.reason}

    return {
        "run": run,
        "forgotten": True,
        "removed": [one(a) for a in actions if not a.kept],
        "kept": [one(a) for a in actions if a.kept],
        "branches": [b.removeprefix("refs/heads/") for b in branches],  # still there
        "kept_refs": list(refs),
    }


def show_rm(
    run: str, actions: Sequence[Action], branches: Sequence[str], refs: Sequence[str], as_json: bool
) -> None:
    """What was forgotten, what was removed with it, and what stays."""
    if as_json:
        print(json.dumps(rm_json(run, actions, branches, refs), indent=2))
        return
    console.print(f"forgot run {escape(run)}: its records, logs and prompts are gone")
    for a in actions:
        verb = "[yellow]kept[/]" if a.kept else "pooled" if a.pooled else "removed"
        said = f": {escape(a.reason)}" if a.reason else ""
        console.print(f"  {verb} {escape(a.worktree.task)}{said}")
    if branches:
        names = ", ".join(b.removeprefix("refs/heads/") for b in branches)
        console.print(
            f"  kept {plural(len(branches), 'branch')}: {escape(names)} "
            "(`git branch -D NAME` deletes one)"
        )
    for ref in refs:
        console.print(f"  kept work: {escape(ref)} (`git update-ref -d {escape(ref)}` drops it)")
