"""`run --metrics FILE`: the run as Prometheus metrics in a text file, rewritten at each tick
of the run loop, atomically (prometheus_client writes a temporary file and renames it), for
node_exporter's textfile collector or anything that reads the format."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from genesis_par.errors import UsageError
from genesis_par.model import TaskStatus
from genesis_par.run.executor import RunProgress

MIN_INTERVAL_S = 1.0
if TYPE_CHECKING:
    from prometheus_client import Gauge

STATES = ("pending", "starting", "running", "succeeded", "failed", "skipped", "cancelled")


class MetricsFile:
    """The gauges of one run, and the file they are written to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.failed_write: str | None = None  # the last write's error, said once
        self.counts: Counter[TaskStatus] = Counter()
        self.written_at = 0.0
        # late: its import (23 ms, an HTTP server's included) is paid only with --metrics
        from prometheus_client import CollectorRegistry, Gauge

        self.registry = CollectorRegistry()
        r = self.registry

        def gauge(name: str, doc: str, *labels: str) -> Gauge:
            return Gauge(f"genesis_par_{name}", doc, ["run", *labels], registry=r)

        self.tasks = gauge("tasks", "Tasks of the run in each state.", "state")
        self.running = gauge("running_agents", "Agents (attempts and candidates) running now.")
        self.cpu = gauge(
            "agent_cpu_percent", "CPU of a running task's agents; 100 is one core.", "task"
        )
        self.memory = gauge(
            "agent_memory_bytes", "Resident memory of a running task's agents.", "task"
        )
        self.queue = gauge(
            "merge_queue_length", "Succeeded tasks whose branches have not been merged yet."
        )
        self.tokens = gauge("tokens", "Tokens the run's agents reported so far.", "direction")
        self.cost = gauge("cost_usd", "US dollars the run's agents reported so far.")
        self.cpu_seconds = gauge("cpu_seconds", "CPU seconds of the run's agents so far.")
        self.pace = gauge("tasks_finished_per_minute", "Tasks that ran to an end, per minute.")
        self.updated = gauge("updated_timestamp_seconds", "When this file was written.")

    @classmethod
    def checked(cls, path: Path) -> MetricsFile:
        """A metrics file at path, refused (exit 2) before the run when it cannot be written."""
        folder = path.parent if str(path.parent) else Path(".")
        if path.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK):
            raise UsageError(
                f"--metrics {path}: cannot write there (name a file in an existing, writable "
                "folder, e.g. node_exporter's textfile directory)"
            )
        return cls(path)

    def update(self, progress: RunProgress, merged: bool = False) -> str | None:
        """Write the file from the run as it is now (at most once a second while no task
        changes state); a note when the write failed (once)."""
        now, run = time.time(), progress.run
        tasks = list(progress.tasks.values())
        counts = Counter(t.status for t in tasks)
        if not merged and counts == self.counts and now - self.written_at < MIN_INTERVAL_S:
            return None
        self.counts, self.written_at = counts, now
        for state in STATES:
            self.tasks.labels(run, state).set(counts.get(TaskStatus(state), 0))
        self.cpu.clear()
        self.memory.clear()
        running = [t for t in tasks if t.status in ("starting", "running")]
        for t in running:
            self.cpu.labels(run, t.id).set(round(t.cpu_percent(), 1))
            self.memory.labels(run, t.id).set(t.rss_bytes)
        self.running.labels(run).set(sum(len(t.metering) for t in tasks))
        self.queue.labels(run).set(0 if merged else counts.get(TaskStatus.SUCCEEDED, 0))
        spent = progress.total_usage()
        self.tokens.labels(run, "input").set(spent.input_tokens)
        self.tokens.labels(run, "output").set(spent.output_tokens)
        self.cost.labels(run).set(spent.cost_usd or 0.0)
        self.cpu_seconds.labels(run).set(round(sum(t.total_cpu_s() for t in tasks), 3))
        self.pace.labels(run).set(round(progress.tasks_per_minute(now), 3))
        self.updated.labels(run).set(round(now, 3))
        return self._write()

    def _write(self) -> str | None:
        from prometheus_client import write_to_textfile  # imported by __init__ already

        try:
            write_to_textfile(str(self.path), self.registry)
        except OSError as e:
            note = f"could not write the metrics file {self.path}: {e.strerror}"
            first = self.failed_write != note
            self.failed_write = note
            return note if first else None
        self.failed_write = None
        return None
