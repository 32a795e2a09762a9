"""Renderers for `status`, `runs` and `logs`."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from genesis_par.model import RunStatus
from genesis_par.report import amounts, queue_view
from genesis_par.report.console import console, name_column, print_table
from genesis_par.report.formats import conflicts_text
from genesis_par.report.run_json import queue_json, spend_json, task_json
from genesis_par.report.run_view import STATUS_STYLE
from genesis_par.state.landings import QueueRecord
from genesis_par.state.records import RunRecord, TaskRecord


def status_json(
    record: RunRecord,
    status: str,
    tasks: Sequence[TaskRecord],
    kept: Sequence[str],
    queue: QueueRecord | None = None,
    nodes: Mapping[str, str] | None = None,
    isolation: str = "worktree",
) -> dict[str, Any]:
    """The object of `status --json`: the run and the same task objects as `run --json`
    (nodes: the Ray node of each task's last attempt)."""
    task_objects = [{**task_json(t), "node": (nodes or {}).get(t.id)} for t in tasks]
    return {
        "run": record.name,
        "status": status,
        "isolation": isolation,  # where its agents work: "worktree" or "clone"
        "base": record.base_commit,
        "into": record.into_ref.removeprefix("refs/heads/"),  # as `merge.into` names it
        "created_at": record.created_at,
        "finished_at": record.finished_at,
        "tasks": task_objects,
        **spend_json(tasks),
        # work kept aside: failed or interrupted attempts, losing best_of candidates
        "kept": [{"task": ref.split("/")[3], "ref": ref} for ref in kept],
        # what the merge queue did, as in `run --json`; null before it ran
        "merge": None if queue is None else queue_json(queue),
    }


def run_row(record: RunRecord, status: str, tasks: Sequence[TaskRecord]) -> dict[str, Any]:
    """One line of `runs`."""
    counts = Counter(str(t.status) for t in tasks)
    return {
        "run": record.name,
        "status": status,
        "created_at": record.created_at,
        "tasks": len(tasks),
        "counts": dict(sorted(counts.items())),
    }


def print_json(obj: object) -> None:
    """One JSON object on stdout."""
    print(json.dumps(obj, indent=2))


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else ""


def print_status(obj: dict[str, Any]) -> None:
    """A table of the run's tasks."""
    clones = ", each task in a clone" if obj.get("isolation") == "clone" else ""
    console.print(f"run {escape(obj['run'])}: {obj['status']} (base {obj['base'][:12]}{clones})")
    table = Table(expand=False)
    name_column(table, "task")
    on_nodes = any(t.get("node") for t in obj["tasks"])  # a run on a cluster
    node = ("node",) if on_nodes else ()
    columns = ("status", "tries", "time", "tokens in/out", "cost", "changed", "commit", *node)
    for column in (*columns, "why"):
        table.add_column(column)
    for t in obj["tasks"]:
        style = STATUS_STYLE.get(t["status"], "")
        duration = f"{t['duration_s']:.1f}s" if t["duration_s"] is not None else ""
        why = t["reason"] or ""
        table.add_row(
            escape(t["id"]),
            f"[{style}]{t['status']}[/]",
            str(t["attempts"] or ""),
            duration,
            amounts.in_out(t.get("usage")),
            amounts.dollars((t.get("usage") or {}).get("cost_usd")),
            {True: "yes", False: "no", None: ""}[t["changed"]],
            (t["commit"] or "")[:12],
            *((escape(t.get("node") or ""),) if on_nodes else ()),
            escape(why),
        )
    print_table(table)
    _print_spent(obj)
    merge = obj["merge"]
    if merge:
        merged = ", ".join(merge["merged"]) or "nothing"
        console.print(f"merged into {escape(merge['into'])}: {escape(merged)}")
        if merge.get("rolled_back_to"):
            console.print(
                f"  [yellow]rolled back[/]: the target is at {merge['rolled_back_to'][:12]}"
            )
        for line in queue_view.batch_lines(merge.get("batches") or []):
            console.print(f"  {escape(line)}")
        for r in merge.get("resolutions") or []:
            said = f": {r['reason']}" if r.get("reason") else ""
            log = f" (log {r['log']})" if r.get("log") else ""
            console.print(
                f"  resolution {escape(r['task'])} ({escape(r['strategy'])}, try {r['n']}): "
                f"{escape(r['outcome'] + said + log)}"
            )
        for u in merge["unmerged"]:
            detail = conflicts_text(u)
            extra = f": {detail}" if detail else (f": log {u['log']}" if u.get("log") else "")
            extra = queue_view.under(u) + extra
            console.print(
                f"  [yellow]unmerged[/] {escape(u['task'])}: {escape(u['reason'] + extra)}"
            )
    for kept in obj["kept"]:
        console.print(f"  kept: {escape(kept['ref'])}")
    if obj["status"] == RunStatus.INTERRUPTED:
        console.print(f"continue it with `genesis-par resume {escape(obj['run'])}`")
    if obj["status"] == "budget":
        console.print(amounts.budget_hint(obj["run"]))


def _print_spent(obj: dict[str, Any]) -> None:
    """The run's usage in one line, and the notes of tasks whose usage could not be read."""
    usage = obj.get("usage") or {}
    if usage.get("input_tokens") or usage.get("output_tokens") or usage.get("cost_usd"):
        cost = amounts.dollars(usage.get("cost_usd"))
        console.print(
            f"spent: {amounts.tokens(usage['input_tokens'])} tokens in, "
            f"{amounts.tokens(usage['output_tokens'])} out"
            + (f", {cost}" if cost else "")
            + f"; cpu {usage.get('cpu_s') or 0:.1f}s"
        )
    for t in obj["tasks"]:
        for note in t.get("usage_notes") or []:
            console.print(f"  [yellow]note[/] {escape(t['id'])}: {escape(note)}")


def print_runs(rows: list[dict[str, Any]]) -> None:
    """A table of runs."""
    if not rows:
        console.print("no runs yet: start one with `genesis-par run PLAN`")
        return
    table = Table(expand=False)
    name_column(table, "run")
    for column in ("status", "started", "tasks"):
        table.add_column(column)
    for row in rows:
        counts = ", ".join(f"{n} {s}" for s, n in row["counts"].items())
        table.add_row(escape(row["run"]), row["status"], _when(row["created_at"]), counts)
    print_table(table)


def print_log(log: Path, offset: int) -> int:
    """Write the log from offset to stdout; the new offset."""
    if not log.is_file():  # not there yet, or a FIFO an agent put there, which would block
        return offset
    with log.open("rb") as handle:
        handle.seek(offset)
        while data := handle.read(2**20):  # a chunk at a time: a log can be bigger than memory
            sys.stdout.buffer.write(data)
            offset += len(data)
    sys.stdout.flush()
    return offset
