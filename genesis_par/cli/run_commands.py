"""`run`, `resume`, `status`, `logs` and `runs`: a run, from its start to its records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genesis_par.cli.app import (
    BackendOpt,
    JsonOpt,
    MetricsOpt,
    PlanArg,
    RayAddressOpt,
    RunArg,
    RunBeforeTaskArg,
    run_and_task,
)


def run_cmd(
    plan: PlanArg,
    name: Annotated[
        str | None, typer.Option(help="Run name (default: the plan's \\[run] name).")
    ] = None,
    fail_fast: Annotated[bool, typer.Option(help="Stop every task at the first failure.")] = False,
    no_merge: Annotated[
        bool, typer.Option("--no-merge", help="Stop after the conflict report.")
    ] = False,
    into: Annotated[
        str | None, typer.Option(help="Merge into this branch (may be a checked-out one).")
    ] = None,
    isolation: Annotated[
        str | None,
        typer.Option(
            help="worktree or clone: each agent in a clone of its own (default: the plan's "
            "\\[run] isolation)."
        ),
    ] = None,
    metrics: MetricsOpt = None,
    backend: BackendOpt = None,
    ray_address: RayAddressOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the plan: parallel agents in worktrees, then conflicts, then the merge queue."""
    from genesis_par.commands import run

    code = run.run(
        Path.cwd(),
        plan,
        name=name,
        as_json=as_json,
        fail_fast=fail_fast,
        no_merge=no_merge,
        into=into,
        isolation=isolation,
        metrics=metrics,
        backend=backend,
        ray_address=ray_address,
    )
    raise typer.Exit(code)


def resume_cmd(
    run: RunArg = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Also run failed and skipped tasks again.")
    ] = False,
    plan: Annotated[
        Path | None, typer.Option("--plan", help="Use this plan file instead of the recorded one.")
    ] = None,
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            help="The run's budget_usd from now on: a run stopped by its budget goes on.",
            metavar="USD",
        ),
    ] = None,
    metrics: MetricsOpt = None,
    backend: BackendOpt = None,
    ray_address: RayAddressOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Continue an interrupted run: finished tasks are not run again."""
    from genesis_par.commands import resume

    code = resume.resume(
        Path.cwd(),
        run,
        retry_failed=retry_failed,
        plan_path=plan,
        as_json=as_json,
        budget=budget,
        metrics=metrics,
        backend=backend,
        ray_address=ray_address,
    )
    raise typer.Exit(code)


def status_cmd(run: RunArg = None, as_json: JsonOpt = False) -> None:
    """Show a run and its tasks."""
    from genesis_par.commands import status

    raise typer.Exit(status.status(Path.cwd(), run, as_json=as_json))


runs_app = typer.Typer(help="The recorded runs: list them, or forget one (rm).")


@runs_app.callback(invoke_without_command=True)
def runs_cmd(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the recorded runs, newest first (`runs rm RUN` forgets one)."""
    if ctx.invoked_subcommand is not None:
        return
    from genesis_par.commands import status

    raise typer.Exit(status.runs(Path.cwd(), as_json=as_json))


@runs_app.command("rm")
def runs_rm(
    run: Annotated[str, typer.Argument(help="Run name.", metavar="RUN")],
    branches: Annotated[
        bool,
        typer.Option(
            "--branches", help="Also remove its worktrees and branches, by worktrees rm's rules."
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="With --branches: drop unmerged or dirty work (saved first)."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Forget a finished or interrupted run: its records and logs. Branches stay unless asked."""
    from genesis_par.commands import runs

    raise typer.Exit(runs.rm(Path.cwd(), run, branches=branches, force=force, as_json=as_json))


def logs_cmd(
    run: RunBeforeTaskArg = None,
    task: Annotated[
        str | None,
        typer.Argument(help="Task id (`logs TASK` reads the latest run's).", metavar="TASK"),
    ] = None,
    attempt: Annotated[int | None, typer.Option(help="Attempt number (default: last).")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing.")] = False,
    merge_check: Annotated[
        bool,
        typer.Option("--merge-check", help="The merge check's log after this task's merge."),
    ] = False,
    resolution: Annotated[
        int | None,
        typer.Option(help="The log of this resolution try (a rerun, or the resolver agent)."),
    ] = None,
) -> None:
    """Print a task's log: `logs TASK` (latest run) or `logs RUN TASK`."""
    from genesis_par.commands import status

    run, task = run_and_task(run, task)
    code = status.logs(
        Path.cwd(),
        run,
        task,
        attempt=attempt,
        follow=follow,
        merge_check=merge_check,
        resolution=resolution,
    )
    raise typer.Exit(code)
