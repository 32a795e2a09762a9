"""`genesis-par graph PLAN`: the DAG as text, dot, mermaid or JSON."""

from __future__ import annotations

from pathlib import Path

from genesis_par import plan as plan_mod
from genesis_par.commands.validate import summarize
from genesis_par.errors import UsageError
from genesis_par.report import plan_view

RENDERERS = {
    "text": plan_view.graph_text,
    "json": plan_view.graph_json,
    "dot": plan_view.graph_dot,
    "mermaid": plan_view.graph_mermaid,
}


def run(plan_path: Path, *, fmt: str = "text") -> int:
    """Print the plan's task graph in the chosen format."""
    if fmt not in RENDERERS:
        raise UsageError(f'unknown format "{fmt}": use one of {", ".join(RENDERERS)}')
    plan_view.print_raw(RENDERERS[fmt](summarize(plan_mod.load(plan_path))))
    return 0
