"""The Typer app: options in, one call out, exit code back.

app.py holds the app and the options commands share; each *_commands module a group of
commands, registered here in the order `--help` lists them. A command imports its module of
`commands/` when it runs, so each loads only what it needs."""

from __future__ import annotations

import signal
import sys

from genesis_par.cli import (
    land_commands,
    plan_commands,
    report_commands,
    run_commands,
    worktrees_commands,
)
from genesis_par.cli.app import app
from genesis_par.errors import GenesisError

for name, command in (
    ("init", plan_commands.init_cmd),
    ("validate", plan_commands.validate_cmd),
    ("graph", plan_commands.graph_cmd),
    ("run", run_commands.run_cmd),
    ("resume", run_commands.resume_cmd),
    ("status", run_commands.status_cmd),
    ("logs", run_commands.logs_cmd),
    ("conflicts", land_commands.conflicts_cmd),
    ("report", report_commands.report_cmd),
    ("agents", report_commands.agents_cmd),
    ("demo", report_commands.demo_cmd),
    ("merge", land_commands.merge_cmd),
    ("resolve", land_commands.resolve_cmd),
    ("rollback", land_commands.rollback_cmd),
):
    app.command(name)(command)
app.add_typer(run_commands.runs_app, name="runs")
app.add_typer(worktrees_commands.worktrees_app, name="worktrees")

__all__ = ["app", "main"]


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
