"""Renderer for `genesis-par agents`."""

from __future__ import annotations

import json
from typing import Any

from rich.markup import escape
from rich.table import Table

from genesis_par.report import amounts, comparison
from genesis_par.report.console import console, name_column, print_table


def show(rows: list[dict[str, Any]], as_json: bool) -> None:
    """A table of presets, or one JSON object."""
    if as_json:
        print(json.dumps({"agents": rows}, indent=2))
        return
    table = Table(expand=False)
    name_column(table, "agent")
    for column in ("installed", "command / how to install"):
        table.add_column(column)
    for row in rows:
        state = (
            f"[green]yes[/] {escape(row['version'] or '')}" if row["installed"] else "[red]no[/]"
        )
        how = " ".join(row["command"]) if row["installed"] else row["install"]
        table.add_row(escape(row["name"]), state, escape(how))
    print_table(table)
    console.print("A plan's [agents.NAME] table overrides a preset of the same name.", markup=False)


def show_comparison(obj: dict[str, Any], as_json: bool) -> None:
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
