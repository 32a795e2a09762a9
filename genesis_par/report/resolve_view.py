"""What `resolve` prepared, and what to do next."""

from __future__ import annotations

import json
import shlex

from rich.markup import escape

from genesis_par.land.by_hand import Preparation, Prepared
from genesis_par.report.console import console


def show(done: Preparation, as_json: bool) -> None:
    """Where the merge is and the next steps (or the JSON object)."""
    if as_json:
        print(json.dumps(done.as_json(), indent=2))
        return
    run = done.run
    target = done.target.removeprefix("refs/heads/")
    where = shlex.quote(str(done.worktree))
    land = f"genesis-par merge --run {shlex.quote(run)}"
    if done.outcome is Prepared.LANDED:
        console.print(f"{escape(target)} already holds {escape(done.branch)}: nothing to resolve")
        return
    if done.outcome is Prepared.UP_TO_DATE:
        console.print(
            f"{escape(done.branch)} already holds {escape(target)}: `{escape(land)}` lands it"
        )
        return
    if done.outcome is Prepared.MERGED:
        console.print(
            f"merged {escape(target)} into {escape(done.branch)} with no conflict "
            f"({(done.commit or '')[:12]}): `{escape(land)}` lands it"
        )
        return
    verb = (
        "a merge is already in progress"
        if done.outcome is Prepared.IN_PROGRESS
        else (f"merging {escape(target)} ({done.target_commit[:12]}) into {escape(done.branch)}")
    )
    console.print(f"{verb} in {escape(str(done.worktree))}")
    if done.unmerged:
        console.print(f"unmerged ({len(done.unmerged)}):")
        for path in done.unmerged:
            console.print(f"  {escape(path)}")
    console.print("next:")
    console.print(f"  cd {escape(where)}")
    console.print(
        "  fix the files (a content conflict: remove the <<<<<<< ======= >>>>>>> markers; "
        "a file one side deleted: keep it with git add, or git rm it), then"
    )
    console.print("  git add <the files> && git commit --no-edit")
    console.print(f"  {escape(land)}")
