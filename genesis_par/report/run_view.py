"""How a run is shown: a live table in a terminal, plain lines in CI, one JSON object at the end."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.control import strip_control_codes
from rich.markup import escape

from genesis_par.land.landing import Landing, queue_record
from genesis_par.model import ACTIVE, FINISHED, RunStatus, TaskStatus
from genesis_par.report import amounts, queue_view
from genesis_par.report.console import console, err_console, name_column
from genesis_par.report.formats import printable
from genesis_par.report.run_json import batch_json, check_note
from genesis_par.report.words import plural
from genesis_par.run.executor import RunProgress
from genesis_par.run.progress import TaskProgress
from genesis_par.state.events import (
    AttemptBegun,
    Exited,
    ResolutionBegun,
    Resolved,
    ResolvedByHand,
    TaskEnded,
    TaskEvent,
)
from genesis_par.usage import Usage, total

if TYPE_CHECKING:  # the live view's parts are imported when a terminal shows it, not in CI
    from rich.live import Live
    from rich.progress_bar import ProgressBar

STATUS_STYLE = {
    TaskStatus.PENDING: "dim",
    TaskStatus.STARTING: "cyan",
    TaskStatus.RUNNING: "cyan",
    TaskStatus.SUCCEEDED: "green",
    TaskStatus.FAILED: "red",
    TaskStatus.SKIPPED: "yellow",
    TaskStatus.CANCELLED: "magenta",
    TaskStatus.INTERRUPTED: "magenta",  # status of a task whose supervisor died
}


def _size(n: int | float | None) -> str:
    if not n:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def last_line(log: Path | None, limit: int = 60) -> str:
    """The last non-empty line of a log, shortened."""
    if log is None or not log.is_file():  # a FIFO an agent put there would block the view
        return ""
    with log.open("rb") as handle:
        handle.seek(max(0, log.stat().st_size - 4096))
        lines = [line for line in handle.read().decode(errors="replace").splitlines() if line]
    # an agent's colours and control codes must not act on the user's terminal
    text = printable(lines[-1]).replace("\r", "").replace("\t", " ") if lines else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def task_table(
    run: str, rows: Iterable[TaskProgress], now: float, per_minute: float | None = None
) -> Group:
    """The live view: one row a task (CPU, memory and cost of the running ones) and a
    progress bar for the run, with its totals and tasks finished per minute."""
    from rich.table import Table

    rows = list(rows)
    table = Table(title=f"genesis-par run {escape(run)}", title_justify="left", expand=False)
    name_column(table, "task")
    for column in ("status", "try", "elapsed", "cpu", "memory", "cost"):
        table.add_column(column, no_wrap=True)
    table.add_column("last log line / why")
    for row in rows:
        style = STATUS_STYLE.get(row.status, "")
        if row.status in ACTIVE:
            note = last_line(row.log)
        elif row.status in FINISHED:  # why it ended; what it waited for no longer matters
            note = row.reason or ""
        else:
            note = row.waiting or ""
        running = row.status in ACTIVE
        table.add_row(
            escape(row.id),
            f"[{style}]{row.status}[/]",
            str(row.attempts or ""),
            f"{row.elapsed(now):.1f}s" if row.attempts else "",
            f"{row.cpu_percent():.0f}%" if running else "",
            _size(row.rss_bytes) if running else "",
            amounts.dollars(row.total_usage().cost_usd),
            escape(note),
        )
    return Group(table, *_footer(rows, per_minute))


def _footer(rows: list[TaskProgress], per_minute: float | None) -> tuple[ProgressBar, str]:
    """The bar and its line: tasks that ran to an end, apart from those a Ctrl-C cancelled;
    the run's tokens and cost, and its pace."""
    from rich.progress_bar import ProgressBar

    cancelled = sum(row.status == TaskStatus.CANCELLED for row in rows)
    done = sum(row.status in FINISHED for row in rows) - cancelled
    bar = ProgressBar(total=max(len(rows), 1), completed=done + cancelled, width=40)
    line = f"{done} of {plural(len(rows), 'task')} finished"
    line += f", {cancelled} cancelled" if cancelled else ""
    spent = total(row.total_usage() for row in rows)
    if spent.known:
        line += f" · {amounts.tokens(spent.input_tokens)} tokens in, "
        line += f"{amounts.tokens(spent.output_tokens)} out"
        line += f", {amounts.dollars(spent.cost_usd)}" if spent.cost_usd is not None else ""
    if per_minute is not None:
        line += f" · {per_minute:.1f} tasks/min"
    return bar, line


class LiveView:
    """A rich Live table, refreshed by the run loop's ticks."""

    def __init__(self, out: Console = console) -> None:
        from rich.live import Live

        self.live: Live = Live(console=out, auto_refresh=False, transient=False)
        self.table: Group | None = None
        self.queue = queue_view.QueueBoard()
        self.ticker = queue_view.Ticker(self.live.refresh)

    def __enter__(self) -> LiveView:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.ticker.stop()
        self.live.__exit__(None, None, None)

    def tick(self, progress: RunProgress) -> None:
        """Redraw."""
        rows, now = progress.tasks.values(), time.time()
        self.table = task_table(progress.run, rows, now, progress.tasks_per_minute(now))
        self.live.update(self.table, refresh=True)

    def merge_step(self, kind: str, data: Mapping[str, object]) -> None:
        """A step of the merge queue: shown under the table, its checks' time running."""
        self.queue.step(kind, data)
        parts = [self.table, self.queue] if self.table is not None else [self.queue]
        self.live.update(Group(*parts), refresh=True)
        self.ticker.start()


def describe_event(task: str, event: TaskEvent) -> str | None:
    """One plain line for an event, or None for events not worth a line."""
    stamp = time.strftime("%H:%M:%S")
    match event:
        case AttemptBegun(n, log):
            return f"{stamp} {task}: attempt {n} started (log {log})"
        case Exited(n, code, failure, _, usage):
            what = f"failed ({failure})" if failure else "exited 0"
            said = f", exit code {code}" if failure and code is not None else ""
            return f"{stamp} {task}: attempt {n} {what}{said}{_spent(usage)}"
        case ResolutionBegun(strategy, n):  # the queue resolving a conflicted task (issue 15)
            return f"{stamp} {task}: resolution started ({strategy}, try {n})"
        case ResolvedByHand():
            return f"{stamp} {task}: resolution started (manual, try 1)"
        case Resolved(r):
            said = f": {r.reason}" if r.reason else ""
            return f"{stamp} {task}: resolution {r.strategy} try {r.n} {r.outcome}{said}"
        case TaskEnded(ended):
            reason = ended.reason
            return f"{stamp} {task}: {event.kind}" + (f": {reason}" if reason else "")
    return None


def _spent(usage: Usage | None) -> str:
    """` (26k / 300 tokens, $0.0421)` for an attempt that reported usage, else nothing."""
    if usage is None:
        return ""
    tokens = amounts.in_out(usage.fields())
    cost = amounts.dollars(usage.fields()["cost_usd"])
    parts = [f"{tokens} tokens" if tokens else "", cost]
    return f" ({', '.join(p for p in parts if p)})" if any(parts) else ""


class PlainLines:
    """Timestamped lines, one per event, for CI logs (stdout) or beside --json (stderr)."""

    def __init__(self, out: Console) -> None:
        self.out = out

    def event(self, task: str, event: TaskEvent) -> None:
        """Print the event's line. Written as it is, less the control characters rich would
        strip: rich's rendering of a line with no markup cost 0.3 ms of the run's CPU a line
        (issue 19), and it read `:name:` in a task's log path as an emoji code."""
        line = describe_event(task, event)
        if line:
            out = self.out.file
            out.write(strip_control_codes(line) + "\n")
            out.flush()

    def merge_step(self, kind: str, data: Mapping[str, object]) -> None:
        """Print the merge queue step's line."""
        queue_view.plain_line(self.out)(kind, data)


def plain_lines(to_stderr: bool) -> PlainLines:
    """Plain lines on stdout, or on stderr when stdout is kept for JSON."""
    return PlainLines(err_console if to_stderr else console)


def print_json(obj: object) -> None:
    """One JSON object on stdout."""
    print(json.dumps(obj, indent=2, sort_keys=False))


def print_summary(progress: RunProgress, home: Landing | None, status: RunStatus) -> None:
    """The closing lines of a run in a terminal or a CI log."""
    by_status: dict[str, list[str]] = {}
    for task in progress.tasks.values():
        by_status.setdefault(task.status, []).append(task.id)
    console.print(f"run {escape(progress.run)}: {status}")
    for state in FINISHED:
        ids = by_status.get(state, [])
        if ids:
            console.print(
                f"  [{STATUS_STYLE[state]}]{state}[/] ({len(ids)}): {escape(', '.join(ids))}"
            )
    spent = progress.total_usage()
    if spent.known:
        cost = amounts.dollars(spent.cost_usd)
        console.print(
            f"  spent: {amounts.tokens(spent.input_tokens)} tokens in, "
            f"{amounts.tokens(spent.output_tokens)} out" + (f", {escape(cost)}" if cost else "")
        )
    for task in progress.tasks.values():
        if (
            task.status in (TaskStatus.FAILED, TaskStatus.SKIPPED, TaskStatus.CANCELLED)
            and task.reason
        ):
            console.print(f"  {escape(task.id)}: {escape(task.reason)}")
            if task.log and task.status == TaskStatus.FAILED:
                console.print(f"    log: {escape(str(task.log))}")
    if home is not None:
        print_landing(home)
    if status == RunStatus.INTERRUPTED:
        console.print(f"continue it with `genesis-par resume {escape(progress.run)}`")
    if status == "budget":
        console.print(amounts.budget_hint(progress.run))


def print_landing(home: Landing) -> None:
    """What the merge queue did, or the conflicts when it did not run."""
    q = home.queue
    if q is None:
        files = home.report.files()
        if files:
            console.print(
                f"[red]{plural(len(files), 'conflicted file')}[/] (not merged: --no-merge):"
            )
            for path, branches, kinds in files:
                console.print(
                    f"  {escape(path)}: {', '.join(kinds)} between {escape(', '.join(branches))}"
                )
        return
    into = q.into.removeprefix("refs/heads/")
    # a dry run's merges are made in a throwaway object store: their ids name nothing
    after = "(new commits, not made: dry run)" if home.dry_run else q.after[:12]
    after = q.after[:12] if q.after == q.before else after
    console.print(f"merge into {escape(into)}: {q.before[:12]} -> {escape(after)}")
    for task, why in q.order:
        console.print(f"  order: {escape(task)} ({escape(why)})")
    new = [t for t in q.merged if t not in q.already]
    verb = "would merge" if home.dry_run else "merged"
    if new:
        console.print(f"  [green]{verb}[/] ({len(new)}): {escape(', '.join(new))}")
    if q.already:
        console.print(f"  already merged ({len(q.already)}): {escape(', '.join(q.already))}")
    note = check_note(queue_record(home))
    if note:
        console.print(f"  [yellow]note[/]: {escape(str(note))}")
    for line in queue_view.batch_lines([batch_json(b) for b in q.batches]):
        console.print(f"  {escape(line)}")
    for r in home.resolutions:
        said = f": {r.reason}" if r.reason else ""
        console.print(
            f"  resolution {escape(r.task)} ({escape(r.strategy)}, try {r.n}): "
            f"{escape(r.outcome)}{escape(said)}"
        )
    for u in q.unmerged:
        detail = "; ".join(f"{p} ({k}) with {w}" for p, k, w in u.conflicts)
        under = f" on top of {', '.join(u.on_top_of)}" if u.on_top_of else ""
        extra = f": {detail}" if detail else (f"{under}: log {u.log}" if u.log else under)
        console.print(f"  [yellow]unmerged[/] {escape(u.task)}: {escape(u.reason)}{escape(extra)}")


def note(text: str) -> None:
    """A one-line note on stderr (stdout may be JSON)."""
    err_console.print(f"[yellow]note:[/] {escape(text)}")
