"""Renderer for `genesis-par agents`."""

from __future__ import annotations

import json
from typing import Any

from rich.markup import escape
from rich.table import Table

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
