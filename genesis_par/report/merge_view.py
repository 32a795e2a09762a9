"""Renderers for `merge` and `rollback`."""

from __future__ import annotations

import json

from genesis_par.land.landing import Landing, record
from genesis_par.report.console import console
from genesis_par.report.run_json import landing_json
from genesis_par.report.run_view import print_landing


def show(home: Landing, dry_run: bool, as_json: bool) -> None:
    """The queue's order and outcome (predicted, for a dry run)."""
    if as_json:
        obj = landing_json(record(home))
        if obj["merge"] is None:  # nothing to merge: the queue did not run
            del obj["merge"]
        obj["dry_run"] = dry_run
        print(json.dumps(obj, indent=2))
        return
    if dry_run:
        console.print("dry run: nothing was changed; this is what a merge would do")
    print_landing(home)


def show_rollback(into: str, old: str, new: str, reverted: bool, as_json: bool) -> None:
    """Where the target was and is."""
    if as_json:
        print(json.dumps({"into": into, "from": old, "to": new, "reverted": reverted}))
        return
    how = "added revert commits" if reverted else "reset"
    console.print(f"{into}: {how}, {old[:12]} -> {new[:12]}")
