"""Renderer for `genesis-par agents`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.markup import escape
from rich.table import Table

from genesis_par.report import amounts, comparison
from genesis_par.report.console import console, name_column, print_table
from genesis_par.report.run_json import spend_json, task_json
from genesis_par.state.records import RunRecord, TaskRecord


@dataclass(frozen=True, slots=True)
class AgentRow:
    """One built-in agent preset and whether it is installed here."""

    name: str
    command: tuple[str, ...]
    path: str | None  # None: not installed
    version: str | None
    install: str  # how to install it

    def as_json(self) -> dict[str, object]:
        """One object of `agents --json`."""
        return {
            "name": self.name,
            "command": list(self.command),
            "installed": self.path is not None,
            "path": self.path,
            "version": self.version,
            "install": self.install,
        }


def comparison_json(
    record: RunRecord, status: str, tasks: Sequence[TaskRecord]
) -> dict[str, object]:
    """The object of `agents --run RUN --json`."""
    return {
        "run": record.name,
        "status": status,
        **spend_json(tasks),
        "best_of": [
            {"task": t.id, "candidates": task_json(t)["candidates"]} for t in tasks if t.candidates
        ],
    }


def show(rows: list[AgentRow], as_json: bool) -> None:
    """A table of presets, or one JSON object."""
    if as_json:
        print(json.dumps({"agents": [r.as_json() for r in rows]}, indent=2))
        return
    table = Table(expand=False)
    name_column(table, "agent")
    for column in ("installed", "command / how to install"):
        table.add_column(column)
    for row in rows:
        installed = row.path is not None
        state = f"[green]yes[/] {escape(row.version or '')}" if installed else "[red]no[/]"
        how = " ".join(row.command) if installed else row.install
        table.add_row(escape(row.name), state, escape(how))
    print_table(table)
    console.print("A plan's [agents.NAME] table overrides a preset of the same name.", markup=False)


def show_comparison(obj: Mapping[str, Any], as_json: bool) -> None:
    """`agents --run`: the agents side by side, then each best_of task's candidates."""
    if as_json:
        print(json.dumps(obj, indent=2))
        return
    usage = obj["usage"]
    cost = amounts.dollars(usage["cost_usd"])
    console.print(
        f"run {escape(obj['run'])}: {obj['status']}; spent {amounts.tokens(usage['input_tokens'])}"
        f" tokens in, {amounts.tokens(usage['output_tokens'])} out"
        + (f", {escape(cost)}" if cost else "")
    )
    table = Table(expand=False)
    name_column(table, comparison.AGENT_COLUMNS[0])
    for column in comparison.AGENT_COLUMNS[1:]:
        table.add_column(column, justify="right")
    for row in obj["agents"]:
        table.add_row(*(escape(c) for c in comparison.agent_cells(row)))
    print_table(table)
    for entry in obj["best_of"]:
        console.print(f"best_of {escape(entry['task'])}:")
        candidates = Table(expand=False)
        for column in comparison.CANDIDATE_COLUMNS:
            candidates.add_column(column)
        for c in entry["candidates"]:
            style = "bold green" if c.get("winner") else ""
            candidates.add_row(*(escape(v) for v in comparison.candidate_cells(c)), style=style)
        print_table(candidates)
