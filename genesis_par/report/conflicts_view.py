"""Renderers for `conflicts`: a pair matrix and a list by file, or one JSON object."""

from __future__ import annotations

import json

from genesis_par.land.conflicts import MergeResult, Report
from genesis_par.plan.on_conflict import strategies_for
from genesis_par.report.words import plural


def _result_json(result: MergeResult) -> dict[str, object]:
    return {"clean": result.clean, "conflicts": [c.as_json() for c in result.conflicts]}


def report_json(report: Report) -> dict[str, object]:
    """The object of `conflicts --json`."""
    return {
        "target": report.target,
        "target_commit": report.target_commit,
        "branches": [
            {
                "name": b.name,
                "commit": b.commit,
                "uncommitted": b.uncommitted,
                "broken": b.broken,
                "against_target": _result_json(b.against_target),
            }
            for b in report.branches
        ],
        "pairs": [{"a": a, "b": b, **_result_json(r)} for (a, b), r in report.pairs.items()],
        "files": [
            {
                "path": path,
                "branches": branches,
                "kinds": kinds,
                "strategies": strategies_for(kinds),
            }
            for path, branches, kinds in report.files()
        ],
    }


def print_json(report: Report) -> None:
    """`conflicts --json`; a path that is not UTF-8 keeps each odd byte as an escaped lone
    surrogate (`\\udcXX`, as os.fsdecode gives it): the output stays ASCII and exact."""
    print(json.dumps(report_json(report), indent=2))


def printable_path(path: str) -> str:
    """A path for a person: bytes that are not UTF-8 as `\\xNN` (printing them would fail)."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _cell(result: MergeResult) -> str:
    from rich.markup import escape

    if result.clean:
        return "[green]clean[/]"
    kinds = sorted({c.kind.value for c in result.conflicts})
    return f"[red]{plural(len(result.conflicts), 'conflict')}[/] {escape(', '.join(kinds))}"


def common_run_prefix(names: list[str]) -> str:
    """`genesis/<run>/` when every name is a branch of that one run, else ''."""
    parts = [name.split("/") for name in names]
    if not parts or any(len(p) < 3 or p[0] != "genesis" for p in parts):
        return ""
    runs = {p[1] for p in parts}
    return f"genesis/{runs.pop()}/" if len(runs) == 1 else ""


def print_report(report: Report) -> None:
    """The pair matrix (each branch against the target first) and the conflicted files."""
    # rich is imported here, not above: `conflicts --json` in CI never needs it
    from rich.markup import escape
    from rich.table import Table

    from genesis_par.report.console import console, in_terminal, name_column, print_table

    names = [b.name for b in report.branches]
    # a terminal has room for what tells the branches apart, not for their shared prefix
    prefix = common_run_prefix(names) if in_terminal() else ""
    shown = report.target.removeprefix("refs/heads/")  # as a person names the branch
    # a line of its own, not the table's title, which rich pads with spaces to the table's width
    console.print(f"conflicts against {escape(shown)} ({report.target_commit[:12]})")
    table = Table()
    name_column(table, f"branch ({escape(prefix)}…)" if prefix else "branch")
    target = report.target_commit[:12] if report.target == report.target_commit else shown
    name_column(table, f"vs {escape(target)}")
    for i, _ in enumerate(names[1:], start=1):
        table.add_column(str(i + 1))
    for i, branch in enumerate(report.branches):
        label = f"{i + 1}. {escape(branch.name.removeprefix(prefix))}" + (
            " [yellow](uncommitted)[/]" if branch.uncommitted else ""
        )
        cells = []
        for other in names[1:]:
            key = (branch.name, other)
            cells.append(_cell(report.pairs[key]) if key in report.pairs else "")
        against = "[red]cannot merge[/]" if branch.broken else _cell(branch.against_target)
        table.add_row(label, against, *cells)
    print_table(table)
    for name, why in report.broken.items():
        console.print(f"[red]{escape(name)} cannot be merged[/]: {escape(why)}")
    files = report.files()
    if not files and not report.broken:
        console.print(
            "[green]no conflicts[/]: every branch merges cleanly with every other "
            "and with the target"
        )
        return
    if files:
        console.print(f"[red]{plural(len(files), 'conflicted file')}[/]:")
    for path, branches, kinds in files:
        console.print(
            f"  {escape(printable_path(path))}: {escape(', '.join(kinds))} "
            f"between {escape(', '.join(branches))}; "
            f"on_conflict can resolve it by {escape(', '.join(strategies_for(kinds)))}"
        )
