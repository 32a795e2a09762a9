"""`init`, `validate`, `graph`: the commands that read or write a plan, and no run."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from genesis_par.cli.app import JsonOpt, PlanArg


def init_cmd(
    path: Annotated[Path, typer.Argument(help="Where to write the plan.", metavar="PATH")] = Path(
        "plan.toml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter plan.toml."""
    from genesis_par.commands import init

    raise typer.Exit(init.run(path, force=force))


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


def graph_cmd(
    plan: PlanArg,
    fmt: Annotated[GraphFormat, typer.Option("--format", "-f", help="Output format.")] = (
        GraphFormat.text
    ),
) -> None:
    """Show the task graph: levels, dependencies, the critical path."""
    from genesis_par.commands import graph

    raise typer.Exit(graph.run(plan, fmt=fmt.value))
