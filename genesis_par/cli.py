"""The Typer app: options in, one call out, exit code back."""

from __future__ import annotations

import enum
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
import typer.core

from genesis_par import __version__
from genesis_par.errors import GenesisError


def _flags_take_no_value() -> None:
    """Typer 0.26+'s rich help prints a value type (`<bool>`) after every flag, `--help`
    included, as if each took a value (its plain help does not): show none for a flag."""
    option = typer.core.TyperOption
    shown = getattr(option, "display_type_rich", None)
    if shown is None:  # a Typer that renamed it: nothing to correct here
        return

    def display_type_rich(self: typer.core.TyperOption, ctx: typer.Context) -> str | None:
        return None if self.is_flag or self.count else shown(self, ctx)

    option.display_type_rich = display_type_rich  # type: ignore[method-assign, assignment]


_flags_take_no_value()

app = typer.Typer(
    name="genesis-par",
    help="Run many coding agents in parallel on one git repository and bring their work back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"genesis-par {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Run many coding agents in parallel on one git repository and bring their work back."""


PlanArg = Annotated[Path, typer.Argument(help="The plan file.", show_default=False, metavar="PLAN")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


@app.command("init")
def init_cmd(
    path: Annotated[Path, typer.Argument(help="Where to write the plan.", metavar="PATH")] = Path(
        "plan.toml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter plan.toml."""
    from genesis_par.commands import init

    raise typer.Exit(init.run(path, force=force))


@app.command("validate")
def validate_cmd(
    plan: PlanArg,
    as_json: JsonOpt = False,
    resolved: Annotated[
        bool,
        typer.Option(
            "--resolved",
            help="Print the plan as TOML with every default and inherited value filled in.",
        ),
    ] = False,
) -> None:
    """Check a plan (schema and graph) without side effects."""
    from genesis_par.commands import validate

    raise typer.Exit(validate.run(plan, as_json=as_json, resolved=resolved))


class GraphFormat(enum.StrEnum):
    text = "text"
    dot = "dot"
    mermaid = "mermaid"
    json = "json"


@app.command("graph")
def graph_cmd(
    plan: PlanArg,
    fmt: Annotated[GraphFormat, typer.Option("--format", "-f", help="Output format.")] = (
        GraphFormat.text
    ),
) -> None:
    """Show the task graph: levels, dependencies, the critical path."""
    from genesis_par.commands import graph

    raise typer.Exit(graph.run(plan, fmt=fmt.value))


MetricsOpt = Annotated[
    Path | None,
    typer.Option(
        "--metrics",
        help="Keep this Prometheus text file up to date while the run goes on.",
        metavar="FILE",
    ),
]
BackendOpt = Annotated[
    str | None,
    typer.Option(
        "--backend",
        help="Where the agents run: local (this machine) or ray (a Ray cluster); "
        "default: the plan's \\[run] backend.",
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="The Ray cluster (default: RAY_ADDRESS, else a local Ray started for the run).",
    ),
]


@app.command("run")
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


RunArg = Annotated[
    str | None, typer.Argument(help="Run name (default: the latest run).", metavar="RUN")
]


@app.command("resume")
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


@app.command("status")
def status_cmd(run: RunArg = None, as_json: JsonOpt = False) -> None:
    """Show a run and its tasks."""
    from genesis_par.commands import status

    raise typer.Exit(status.status(Path.cwd(), run, as_json=as_json))


runs_app = typer.Typer(help="The recorded runs: list them, or forget one (rm).")
app.add_typer(runs_app, name="runs")


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


@app.command("logs")
def logs_cmd(
    run: Annotated[
        str | None,
        typer.Argument(
            help="Run name (default: the latest run).", metavar="RUN", show_default=False
        ),
    ] = None,
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

    if task is None:  # one name: the task, in the latest run
        run, task = None, run
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


@app.command("conflicts")
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


class ReportFormat(enum.StrEnum):
    json = "json"
    junit = "junit"
    markdown = "markdown"
    html = "html"


@app.command("report")
def report_cmd(
    run: RunArg = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="Report format.")] = (
        ReportFormat.json
    ),
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file.")] = None,
) -> None:
    """A finished run's report: JSON, JUnit XML, Markdown, or an HTML timeline."""
    from genesis_par.commands import report

    raise typer.Exit(report.run(Path.cwd(), run, fmt=fmt.value, output=output))


@app.command("agents")
def agents_cmd(
    run: Annotated[
        str | None,
        typer.Option(
            "--run", help="Compare the agents of this run: tasks, success, tokens, cost, time."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The built-in agent presets and whether each is installed; --run RUN compares a run's."""
    from genesis_par.commands import agents

    raise typer.Exit(agents.run(as_json=as_json, run_name=run))


@app.command("demo")
def demo_cmd(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Build the demo here (kept) instead of a temp dir.")
    ] = None,
    clean: Annotated[
        bool, typer.Option("--clean", help="Remove the demo repository at the end (CI).")
    ] = False,
    keep: Annotated[
        bool, typer.Option("--keep", hidden=True, help="Kept by default now; still accepted.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run the whole flow on a throwaway repository with scripted agents (needs nothing else)."""
    from genesis_par.commands import demo

    raise typer.Exit(demo.run(directory, clean=clean and not keep, as_json=as_json))


@app.command("merge")
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


@app.command("resolve")
def resolve_cmd(
    run: Annotated[
        str | None,
        typer.Argument(
            help="Run name (default: the latest run).", metavar="RUN", show_default=False
        ),
    ] = None,
    task: Annotated[
        str | None,
        typer.Argument(help="Task id (`resolve TASK` takes the latest run's).", metavar="TASK"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Merge the current target into a task's branch in its worktree, for you to finish."""
    from genesis_par.commands import resolve

    if task is None:  # one name: the task, in the latest run
        run, task = None, run
    raise typer.Exit(resolve.run(Path.cwd(), run, task, as_json=as_json))


@app.command("rollback")
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


worktrees_app = typer.Typer(
    help="The worktrees genesis-par made: list, gc, rm.", no_args_is_help=True
)
app.add_typer(worktrees_app, name="worktrees")
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


def _as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Entry point: run the app, turn a GenesisError into one line and its exit code."""
    # SIGTERM (a cancelled CI job) ends like Ctrl-C wherever it lands: exit 130, agent trees
    # stopped (the executor handles it itself while agents run)
    signal.signal(signal.SIGTERM, _as_interrupt)
    try:
        app()
    except GenesisError as e:
        from genesis_par.fast_cli import report_error

        report_error(e, as_json="--json" in sys.argv[1:])
        raise SystemExit(e.exit_code) from None
