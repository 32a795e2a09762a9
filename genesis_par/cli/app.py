"""The Typer app itself: its name, `--version`, and the options several commands share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genesis_par import __version__

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
RunArg = Annotated[
    str | None, typer.Argument(help="Run name (default: the latest run).", metavar="RUN")
]
# the first of `CMD [RUN] TASK` (logs, resolve): see run_and_task
RunBeforeTaskArg = Annotated[
    str | None,
    typer.Argument(help="Run name (default: the latest run).", metavar="RUN", show_default=False),
]


def run_and_task(first: str | None, second: str | None) -> tuple[str | None, str | None]:
    """`CMD TASK` names a task of the latest run, `CMD RUN TASK` a task of RUN."""
    return (None, first) if second is None else (first, second)


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
