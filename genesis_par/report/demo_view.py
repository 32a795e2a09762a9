"""What `genesis-par demo` says before and after the run."""

from __future__ import annotations

import shlex
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
        "skipped,\n  two tasks editing one line (the second is run again on the first's work: "
        'on_conflict = "rerun"),\n  a modify/delete left for you to resolve, and a merge '
        "whose check fails and is backed out.\n"
        "  The failures are expected: they are there to show what genesis-par does with them.\n"
    )


# What to try in the kept demo repository: (arguments after the program, what it shows).
TOUR = [
    ("status", "each task, its attempts and why"),
    ("logs flaky-cli --attempt 1", "the failed first attempt (its retry succeeded)"),
    ("logs break-add --merge-check", "why that task's merge was backed out"),
    ("conflicts", "who collides with whom (exits 3: conflicts found)"),
    ("resolve fix-legacy", "its worktree holding the conflicted merge, for you (exits 3)"),
]


def tour(repo: Path, program: str) -> list[str]:
    """The commands of the tour, each runnable as printed once the first (`cd`) has run."""
    lines = [(f"{program} {args}", why) for args, why in TOUR]
    lines.append(("git log --oneline --graph genesis/demo/integration", "what was merged"))
    width = max(len(command) for command, _ in lines)
    return [f"cd {shlex.quote(str(repo))}"] + [
        f"{command.ljust(width)}  # {why}" for command, why in lines
    ]


def outro(
    root: Path, repo: Path, program: str, *, kept: bool, temporary: bool, as_json: bool
) -> None:
    """Where things are and what to try next, in commands that work as printed."""
    out = err_console if as_json else console
    if not kept:
        out.print(
            f"\nThe demo repository was removed (--clean): `{escape(program)} demo` "
            "keeps it for a look around."
        )
        return
    plan = root / "plan.toml"
    out.print(f"\nThe demo repository is kept at {escape(str(repo))} (plan: {escape(str(plan))}).")
    if temporary:
        out.print(f"Remove it when done: rm -rf {escape(shlex.quote(str(root)))}")
    out.print("Try next:")
    for line in tour(repo, program):
        out.print(f"  {escape(line)}")
