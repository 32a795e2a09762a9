"""`conflicts`, `merge`, `resolve`, `rollback`: bringing the work home, and undoing it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genesis_par.cli.app import JsonOpt, RunArg, RunBeforeTaskArg, run_and_task


def conflicts_cmd(
    branches: Annotated[
        list[str] | None,
        typer.Argument(help="Branches to check (default: the latest run's).", metavar="BRANCH"),
    ] = None,
    into: Annotated[str | None, typer.Option(help="Merge target to check against.")] = None,
    run: Annotated[str | None, typer.Option(help="Check this run's branches.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Find and classify merge conflicts among branches and against the target."""
    from genesis_par.commands import conflicts

    code = conflicts.run(Path.cwd(), branches or (), into=into, run_name=run, as_json=as_json)
    raise typer.Exit(code)


def merge_cmd(
    branches: Annotated[
        list[str] | None,
        typer.Argument(help="Branches to merge (default: the latest run's).", metavar="BRANCH"),
    ] = None,
    run: Annotated[str | None, typer.Option(help="Merge this run's branches.")] = None,
    into: Annotated[str | None, typer.Option(help="Target branch.")] = None,
    method: Annotated[str | None, typer.Option(help="merge, squash or rebase.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the order and outcome; change nothing.")
    ] = False,
    check: Annotated[
        str | None,
        typer.Option(help="Named branches: the merge check, run on each merge before it lands."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Merge the safe branches onto the target, in order, each checked."""
    from genesis_par.commands import merge

    code = merge.run(
        Path.cwd(),
        branches or (),
        run_name=run,
        into=into,
        method=method,
        dry_run=dry_run,
        as_json=as_json,
        check=check,
    )
    raise typer.Exit(code)


def resolve_cmd(
    run: RunBeforeTaskArg = None,
    task: Annotated[
        str | None,
        typer.Argument(help="Task id (`resolve TASK` takes the latest run's).", metavar="TASK"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Merge the current target into a task's branch in its worktree, for you to finish."""
    from genesis_par.commands import resolve

    run, task = run_and_task(run, task)
    raise typer.Exit(resolve.run(Path.cwd(), run, task, as_json=as_json))


def rollback_cmd(
    run: RunArg = None,
    revert: Annotated[
        bool, typer.Option("--revert", help="Add revert commits if the target moved since.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Undo the merges a run made."""
    from genesis_par.commands import merge

    raise typer.Exit(merge.rollback(Path.cwd(), run, revert=revert, as_json=as_json))
