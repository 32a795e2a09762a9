"""Events and log lines from the nodes, applied here as if the attempt ran locally.

A node sends (key, kind, data) through a Ray queue while its attempt runs; one pump thread
drains the queue and hands each event to the watcher of its placement, which records it in
the state store (pids of remote processes left out: they mean nothing on this machine, and
`resume` must never signal them here) and appends log bytes to the local log, so `status`,
`logs --follow` and the live view see a remote attempt like a local one.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from genesis_par.model import Failure, TaskStatus
from genesis_par.plan.model import Task
from genesis_par.run.progress import Recorder, TaskProgress
from genesis_par.run.spec import RunSpec
from genesis_par.state import events
from genesis_par.state.events import AttemptBegun, Placed, ProcessStarted

PUMP_TICK_S = 0.05
RESULT_FIELDS = ("status", "failure", "reason", "exit_code", "commit", "changed", "attempts")


class Applier:
    """Applies one placement's events to its task's progress, store and log."""

    def __init__(self, spec: RunSpec, task: Task, progress: TaskProgress, record: Recorder) -> None:
        self.spec, self.task, self.progress, self.record = spec, task, progress, record
        self.node: str | None = None
        self.attempt: int | None = None

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        task, progress = self.task.id, self.progress
        if kind == "placed":
            self.node = progress.node = str(data["node"])
            self.record(task, Placed(self.node, str(data["node_id"])))
        elif kind == "attempt":
            n = int(data["n"])
            log = self.spec.log_path(task, n)
            log.parent.mkdir(parents=True, exist_ok=True)
            log.touch()  # its lines follow as the node sends them
            self.attempt, progress.attempts, progress.log = n, n, log
            progress.status = TaskStatus.RUNNING
            self.record(task, AttemptBegun(n, str(log), self.node))
        elif kind == "started":  # not a pid of this machine: the node's, beside its node
            self.record(task, ProcessStarted(int(data["n"]), None, None, self.node, data["pid"]))
        elif kind == "log":
            path = self.spec.log_path(task, int(data["n"]))
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as handle:
                handle.write(data["data"])
        else:
            if kind == "exited":
                progress.exit_code = data.get("exit_code")
            self.record(task, events.decode(kind, data))


class Watcher:
    """One placement's events as they arrive: how many, its node, its attempt number."""

    def __init__(self, key: str, applier: Applier) -> None:
        self.key, self.applier = key, applier
        self.seen = 0
        self.changed = threading.Condition()

    @property
    def node(self) -> str | None:
        return self.applier.node

    @property
    def attempt_seen(self) -> int | None:
        return self.applier.attempt

    def apply(self, kind: str, data: dict[str, Any]) -> None:
        self.applier(kind, data)
        with self.changed:
            self.seen += 1
            self.changed.notify_all()

    def wait_for(self, count: int, timeout_s: float) -> bool:
        """Wait until count events were applied (bounded); whether they were."""
        with self.changed:
            return self.changed.wait_for(lambda: self.seen >= count, timeout_s)


class EventPump:
    """One thread that drains the queue and dispatches each event to its watcher."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue
        self.watchers: dict[str, Watcher] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="ray-events", daemon=True)
        self.thread.start()

    def watch(self, key: str, applier: Applier) -> Watcher:
        """Start dispatching the events of placement key."""
        watcher = Watcher(key, applier)
        with self.lock:
            self.watchers[key] = watcher
        return watcher

    def forget(self, key: str) -> None:
        """Stop dispatching placement key (its late events are dropped)."""
        with self.lock:
            self.watchers.pop(key, None)

    def close(self) -> None:
        """Stop the pump thread."""
        self.stopped.set()
        self.thread.join()

    def _loop(self) -> None:
        from ray.exceptions import RayError  # Ray is optional: imported once a Ray run runs

        while not self.stopped.wait(PUMP_TICK_S):
            try:
                self.drain()
            except RayError:  # the queue is unreachable for now: results still come home
                continue

    def drain(self) -> None:
        """Apply every event waiting in the queue."""
        from ray.util.queue import Empty  # Ray is optional: imported once a Ray run runs

        with contextlib.suppress(Empty):
            size = self.queue.size()
            items = self.queue.get_nowait_batch(size) if size else []
            for key, kind, data in items:
                with self.lock:
                    watcher = self.watchers.get(key)
                if watcher is not None:
                    watcher.apply(kind, data)


def apply_fields(progress: TaskProgress, fields: dict[str, object], node: str) -> None:
    """The node's final word on the task."""
    for name in RESULT_FIELDS:
        setattr(progress, name, fields.get(name))
    progress.status = TaskStatus(str(fields["status"]))
    failure = fields.get("failure")
    progress.failure = Failure(str(failure)) if failure else None
    progress.attempts = int(fields.get("attempts") or progress.attempts)  # type: ignore[call-overload]
    progress.peak_rss_bytes = int(fields.get("peak_rss_bytes") or 0)  # type: ignore[call-overload]
    progress.node = node
