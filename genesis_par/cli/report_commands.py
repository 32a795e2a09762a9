"""`report`, `agents`, `demo`: what a run produced, the agents, and the flow shown end to end."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from genesis_par.cli.app import JsonOpt, RunArg


class ReportFormat(enum.StrEnum):
    json = "json"
    junit = "junit"
    markdown = "markdown"
    html = "html"


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
