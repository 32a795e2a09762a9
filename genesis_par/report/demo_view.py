"""What `genesis-par demo` says before and after the run."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from genesis_par.report.console import console, err_console


def intro(repo: Path, plan: Path, as_json: bool) -> None:
    """What the demo is about to do."""
    out = err_console if as_json else console
    out.print(
        "[bold]genesis-par demo[/]: eleven scripted agents work on a tiny calculator in "
        f"{escape(str(repo))}\n"
        "  parallel tasks, a dependency chain, a retry, a failing task whose dependent is "
        "skipped,\n  two tasks editing one line, a modify/delete, and a merge whose check "
        "fails and is backed out.\n"
        "  The failures are expected: they are there to show what genesis-par does with them.\n"
    )


def outro(repo: Path, plan: Path, kept: bool, as_json: bool) -> None:
    """Where things are and what to try next."""
    out = err_console if as_json else console
    if kept:
        where = f"The demo repository is kept at {escape(str(repo))} (plan: {escape(str(plan))})."
    else:
        where = (
            f"The demo repository ({escape(str(repo))}) was removed: run "
            "`genesis-par demo --keep` to keep it and look around."
        )
    inside = "from inside it" if kept else "in a kept one (`genesis-par demo --keep`)"
    out.print(
        f"\n{where}\n"
        f"Try next, {inside}:\n"
        "  genesis-par status demo          # each task, its attempts and why\n"
        "  genesis-par logs demo flaky-cli --attempt 1\n"
        "  genesis-par conflicts --run demo # who collides with whom\n"
        "  git log --oneline --graph genesis/demo/integration\n"
    )
