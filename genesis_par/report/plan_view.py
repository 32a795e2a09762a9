"""Renderers for `validate` and `graph`: text, JSON, Graphviz dot and Mermaid."""

from __future__ import annotations

import json

from rich.markup import escape

from genesis_par.plan import graph
from genesis_par.report.console import console
from genesis_par.report.words import plural


class PlanSummary:
    """What validate and graph show of a plan."""

    def __init__(
        self,
        run: str,
        levels: list[list[str]],
        critical_path: list[str],
        depends_on: dict[str, list[str]],
        priority: dict[str, str],
        cost: dict[str, float],
    ) -> None:
        self.run, self.levels, self.critical_path = run, levels, critical_path
        self.depends_on, self.priority, self.cost = depends_on, priority, cost

    @property
    def level_of(self) -> dict[str, int]:
        """Task id -> its level (0 first)."""
        return {t: i for i, level in enumerate(self.levels) for t in level}


def validate_json(summary: PlanSummary) -> str:
    """`validate --json` on a good plan."""
    return json.dumps(
        {
            "ok": True,
            "run": summary.run,
            "tasks": len(summary.level_of),
            "levels": summary.levels,
            "critical_path": summary.critical_path,
        }
    )


def error_json(message: str) -> str:
    """`validate --json` on a bad plan."""
    return json.dumps({"ok": False, "error": message})


def print_validate(summary: PlanSummary) -> None:
    """The short summary of a valid plan."""
    console.print(f"ok: run {escape(summary.run)}")
    console.print(f"  tasks: {len(summary.level_of)}")
    console.print(f"  levels: {len(summary.levels)}")
    console.print(f"  critical path: {escape(graph.path_text(summary.critical_path))}")


def graph_text(summary: PlanSummary) -> str:
    """Levels, each task with its dependencies; the critical path marked with *."""
    on_path = set(summary.critical_path)
    tasks, levels = plural(len(summary.level_of), "task"), plural(len(summary.levels), "level")
    lines = [f"run {summary.run}: {tasks} in {levels}"]
    for i, level in enumerate(summary.levels):
        lines.append(f"level {i}:")
        for task in level:
            mark = "*" if task in on_path else " "
            deps = summary.depends_on[task]
            after = f"  <- {', '.join(deps)}" if deps else ""
            lines.append(
                f"  {mark} {task} [{summary.priority[task]}, cost {summary.cost[task]:g}]{after}"
            )
    lines.append(f"critical path (*): {graph.path_text(summary.critical_path)}")
    return "\n".join(lines)


def graph_json(summary: PlanSummary) -> str:
    """`graph --format json`."""
    level = summary.level_of
    nodes = [
        {
            "id": task,
            "depends_on": summary.depends_on[task],
            "level": level[task],
            "priority": summary.priority[task],
            "cost": summary.cost[task],
        }
        for task in summary.depends_on
    ]
    return json.dumps({"nodes": nodes, "critical_path": summary.critical_path}, indent=2)


def graph_dot(summary: PlanSummary) -> str:
    """Graphviz dot; the critical path in bold red."""
    on_path = set(summary.critical_path)
    path_edges = set(zip(summary.critical_path, summary.critical_path[1:], strict=False))
    lines = [f"digraph {json.dumps(summary.run)} {{", "  rankdir=LR;"]
    for task in summary.depends_on:
        style = " color=red penwidth=2" if task in on_path else ""
        lines.append(f"  {json.dumps(task)} [label={json.dumps(task)}{style}];")
    for task, deps in summary.depends_on.items():
        for dep in deps:
            style = " [color=red penwidth=2]" if (dep, task) in path_edges else ""
            lines.append(f"  {json.dumps(dep)} -> {json.dumps(task)}{style};")
    lines.append("}")
    return "\n".join(lines)


def graph_mermaid(summary: PlanSummary) -> str:
    """A Mermaid flowchart; the critical path's nodes styled."""
    ids = {task: f"t{i}" for i, task in enumerate(summary.depends_on)}
    lines = ["flowchart LR"]
    for task, node in ids.items():
        lines.append(f'  {node}["{task}"]')
    for task, deps in summary.depends_on.items():
        lines.extend(f"  {ids[dep]} --> {ids[task]}" for dep in deps)
    lines.append("  classDef critical stroke:#d00,stroke-width:3px")
    if summary.critical_path:
        lines.append(f"  class {','.join(ids[t] for t in summary.critical_path)} critical")
    return "\n".join(lines)


def print_raw(text: str) -> None:
    """Machine-readable output, exactly as given."""
    print(text)
