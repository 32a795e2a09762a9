"""`worktrees list`, `gc`, `rm`: the worktrees genesis-par made."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genesis_par.cli.app import JsonOpt

worktrees_app = typer.Typer(
    help="The worktrees genesis-par made: list, gc, rm.", no_args_is_help=True
)
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Also drop unmerged or dirty work (saved under refs first).")
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Show what would happen; change nothing.")
]


@worktrees_app.command("list")
def worktrees_list(
    pool: Annotated[
        bool, typer.Option("--pool", help="List the pooled worktrees kept for reuse instead.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Every worktree and branch genesis-par made, with its state."""
    from genesis_par.commands import worktrees

    raise typer.Exit(worktrees.list_(Path.cwd(), as_json=as_json, pool=pool))


@worktrees_app.command("gc")
def worktrees_gc(
    dry_run: DryRunOpt = False,
    force: ForceOpt = False,
    older_than: Annotated[
        str | None, typer.Option(help="Only runs finished at least this long ago (7d, 12h).")
    ] = None,
    drain: Annotated[
        bool, typer.Option("--drain", help="Also empty the pool of worktrees kept for reuse.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove the worktrees of finished runs and orphans when that loses nothing."""
    from genesis_par.commands import worktrees

    code = worktrees.gc(
        Path.cwd(),
        dry_run=dry_run,
        force=force,
        older_than=older_than,
        drain=drain,
        as_json=as_json,
    )
    raise typer.Exit(code)


@worktrees_app.command("rm")
def worktrees_rm(
    run: Annotated[str, typer.Argument(help="Run name.", metavar="RUN")],
    task: Annotated[
        str | None, typer.Argument(help="Task id (default: the whole run).", metavar="TASK")
    ] = None,
    force: ForceOpt = False,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove one run's (or one task's) worktrees, with gc's rules."""
    from genesis_par.commands import worktrees

    code = worktrees.rm(Path.cwd(), run, task, force=force, dry_run=dry_run, as_json=as_json)
    raise typer.Exit(code)
