"""The merge queue's steps (land/batch.py): plain lines in CI, a board under the live table."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence

from rich.console import Console, ConsoleOptions, RenderResult
from rich.markup import escape
from rich.text import Text


def _names(tasks: object, limit: int = 6) -> str:
    names = [str(t) for t in tasks] if isinstance(tasks, Sequence) else [str(tasks)]
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def describe_step(kind: str, data: Mapping[str, object]) -> str | None:
    """One plain line for a step of the merge queue, or None."""
    members = data.get("members", ())
    under = data.get("on_top_of") or ()
    on_top = f" on top of {_names(under)}" if under else ""
    if kind == "batch":
        return f"merge queue: batch {data['batch']}: {_names(members, 12)}"
    if kind == "check-started":
        ahead = ", speculatively" if data.get("speculative") else ""
        return f"merge check running: batch {data['batch']}, {_names(members)}{on_top}{ahead}"
    if kind == "check-finished":
        runs = int(str(data.get("runs", 1)))
        again = f", {runs} runs" if runs > 1 else ""
        return (
            f"merge check {data['outcome']}: batch {data['batch']}, {_names(members)} "
            f"({data['duration_s']} s{again}; log {data.get('log')})"
        )
    if kind == "bisect":
        checking = data.get("checking") or []
        first = [_names(c) for c in checking] if isinstance(checking, list) else []
        return f"bisecting: {_names(data.get('suspects', ()))} fail together; checking " + (
            " | ".join(first)
        )
    if kind == "published":
        into = str(data.get("into", "")).removeprefix("refs/heads/")
        return f"published onto {into}: {_names(members, 12)} ({str(data.get('commit'))[:12]})"
    if kind == "convicted":
        return f"{data['task']}: merge check failed{on_top}: not merged (log {data.get('log')})"
    if kind == "target-moved":
        return f"the target moved (now {str(data.get('tip'))[:12]}): rebuilding on it"
    if kind == "left-out":
        return f"{data['task']}: not merged: {data.get('reason')}"
    return None


class QueueBoard:
    """The queue's last steps and its running checks with their elapsed time, drawn when the
    live view refreshes."""

    def __init__(self, now: Callable[[], float] = time.monotonic, keep: int = 6) -> None:
        self.now, self.keep = now, keep
        self.lines: list[str] = []
        self.running: dict[tuple[str, ...], tuple[str, float]] = {}

    def step(self, kind: str, data: Mapping[str, object]) -> None:
        """Take in one step."""
        members = tuple(str(m) for m in data.get("members", ()) or ())  # type: ignore[attr-defined]
        if kind == "check-started":
            self.running[members] = (describe_step(kind, data) or "", self.now())
            return
        if kind == "check-finished":
            self.running.pop(members, None)
        line = describe_step(kind, data)
        if line:
            self.lines = [*self.lines, line][-self.keep :]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text("merge queue", style="bold")
        for line in self.lines:
            yield Text("  " + line)
        for line, began in self.running.values():
            yield Text(f"  {line} ({self.now() - began:.0f}s)", style="cyan")


class Ticker:
    """Calls redraw every period seconds until stopped (so elapsed times move)."""

    def __init__(self, redraw: Callable[[], None], period: float = 0.5) -> None:
        self.redraw, self.period = redraw, period
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        """Start once."""
        if self.thread is None:
            self.thread = threading.Thread(target=self._loop, daemon=True, name="queue-view")
            self.thread.start()

    def _loop(self) -> None:
        while not self.stopped.wait(self.period):
            self.redraw()

    def stop(self) -> None:
        """Stop and wait for the thread."""
        self.stopped.set()
        if self.thread is not None:
            self.thread.join()


def plain_line(out: Console) -> Callable[[str, Mapping[str, object]], None]:
    """A step observer printing timestamped lines."""

    def show(kind: str, data: Mapping[str, object]) -> None:
        line = describe_step(kind, data)
        if line:
            out.print(escape(f"{time.strftime('%H:%M:%S')} {line}"))

    return show


def batch_lines(batches: Sequence[Mapping[str, object]]) -> list[str]:
    """One line per batch of the queue: members, outcome, checks run, time."""
    out = []
    for b in batches:
        runs = int(str(b.get("check_runs", 0)))
        out.append(
            f"batch {b['batch']} ({_names(b.get('members', ()), 8)}): {b['outcome']}; "
            f"{runs} check run{'s' if runs != 1 else ''}, {b['duration_s']} s"
        )
    return out


def under(unmerged: Mapping[str, object]) -> str:
    """` on top of a, b` for an unmerged task whose merge check failed over earlier merges."""
    tasks = unmerged.get("on_top_of") or ()
    return f" on top of {_names(tasks)}" if tasks else ""
