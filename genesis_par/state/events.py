"""The events of a task, typed: recorded in the run store (each with the transition it stands
for) before they are acted on, and shown to observers. The events table keeps each one's
data as JSON (event_data: the same keys as ever, docs/json.md); decode reads it back (the
ray backend's events cross the network in that form)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from genesis_par.model import EventKind, Failure
from genesis_par.state.landings import ResolutionRecord
from genesis_par.state.records import TaskRecord, failure_of
from genesis_par.usage import Usage


@dataclass(frozen=True, slots=True)
class Starting:
    """The task is about to start from this commit (its dependencies' results on base)."""

    kind: ClassVar[EventKind] = EventKind.STARTING
    start_commit: str
    agent: str | None = None


@dataclass(frozen=True, slots=True)
class AttemptBegun:
    """Attempt (or best_of candidate) n begins; its output goes to log."""

    kind: ClassVar[EventKind] = EventKind.ATTEMPT
    n: int
    log: str
    node: str | None = None  # backend "ray": the node it runs on


@dataclass(frozen=True, slots=True)
class ProcessStarted:
    """Attempt n's process runs (its pid for the orphan sweep; None on a remote node)."""

    kind: ClassVar[EventKind] = EventKind.STARTED
    n: int
    pid: int | None
    create_time: float | None
    node: str | None = None  # backend "ray": the node, and the pid there
    node_pid: int | None = None


@dataclass(frozen=True, slots=True)
class Exited:
    """Attempt n ended; what it spent (None: nothing was metered, a resumed agent)."""

    kind: ClassVar[EventKind] = EventKind.EXITED
    n: int
    exit_code: int | None
    failure: Failure | None
    peak_rss_bytes: int
    usage: Usage | None = None
    cpu_s: float | None = None
    usage_notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Placed:
    """Backend "ray": the task's attempts reached a node."""

    kind: ClassVar[EventKind] = EventKind.PLACED
    node: str
    node_id: str


@dataclass(frozen=True, slots=True)
class TaskEnded:
    """The task ended (its status is the event's kind): the task as it ended."""

    task: TaskRecord

    @property
    def kind(self) -> EventKind:
        """The task's final status."""
        return EventKind(self.task.status)


@dataclass(frozen=True, slots=True)
class BranchMoved:
    """The task's branch holds commits added after the run (a resolution)."""

    kind: ClassVar[EventKind] = EventKind.BRANCH_MOVED
    commit: str
    was: str | None = None


@dataclass(frozen=True, slots=True)
class ResolutionBegun:
    """A resolution try of a conflicted task starts (issue 15)."""

    kind: ClassVar[EventKind] = EventKind.RESOLUTION
    strategy: str
    n: int
    tip: str


@dataclass(frozen=True, slots=True)
class ResolvedByHand:
    """`genesis-par resolve` merged the target into the task's branch for a person."""

    kind: ClassVar[EventKind] = EventKind.RESOLUTION
    outcome: str
    paths: tuple[str, ...]  # left conflicted, for the person


@dataclass(frozen=True, slots=True)
class Resolved:
    """... and how it ended."""

    kind: ClassVar[EventKind] = EventKind.RESOLVED
    resolution: ResolutionRecord


TaskEvent = (
    Starting
    | AttemptBegun
    | ProcessStarted
    | Exited
    | Placed
    | TaskEnded
    | BranchMoved
    | ResolutionBegun
    | ResolvedByHand
    | Resolved
)


def event_data(event: TaskEvent) -> dict[str, object]:
    """The event's data as the events table keeps it."""
    match event:
        case Starting(start_commit, agent):
            return {"start_commit": start_commit, "agent": agent}
        case AttemptBegun(n, log, node):
            return {"n": n, "log": log, **({"node": node} if node is not None else {})}
        case ProcessStarted(n, pid, create_time, node, node_pid):
            remote = {"node": node, "node_pid": node_pid} if node_pid is not None else {}
            return {"n": n, "pid": pid, "create_time": create_time, **remote}
        case Exited(n, exit_code, failure, peak, usage, cpu_s, notes):
            spent = (
                {"usage": usage.fields(), "cpu_s": cpu_s, "usage_notes": list(notes)}
                if usage is not None
                else {}
            )
            ended = {"n": n, "exit_code": exit_code, "failure": failure, "peak_rss_bytes": peak}
            return {**ended, **spent}
        case Placed(node, node_id):
            return {"node": node, "node_id": node_id}
        case TaskEnded(task):
            return _task_data(task)
        case BranchMoved(commit, was):
            return {"commit": commit, "was": was}
        case ResolutionBegun(strategy, n, tip):
            return {"strategy": strategy, "n": n, "tip": tip}
        case ResolvedByHand(outcome, paths):
            return {"strategy": "manual", "outcome": outcome, "paths": list(paths)}
        case Resolved(r):
            return {
                "task": r.task,
                "strategy": r.strategy,
                "n": r.n,
                "outcome": r.outcome,
                "reason": r.reason or None,
                "commit": r.commit,
                "log": r.log,
                "duration_s": round(r.duration_s, 3),
            }


def _task_data(t: TaskRecord) -> dict[str, object]:
    candidates = None
    if t.candidates is not None:
        candidates = [
            {
                "k": c.k,
                "agent": c.agent,
                "exit_code": c.exit_code,
                "failure": c.failure,
                "check": c.check,
                "diff_lines": c.diff_lines,
                "usage": c.usage.fields(),
                "winner": c.winner,
            }
            for c in t.candidates
        ]
    return {
        "id": t.id,
        "status": t.status,
        "failure": t.failure,
        "reason": t.reason,
        "attempts": t.attempts,
        "exit_code": t.exit_code,
        "branch": t.branch,
        "commit": t.commit,
        "changed": t.changed,
        "duration_s": t.duration_s,
        "peak_rss_bytes": t.peak_rss_bytes,
        "cpu_s": t.cpu_s,
        "agent": t.agent,
        "usage": t.usage.fields(),
        "usage_notes": list(t.usage_notes),
        "candidates": candidates,
        "log": None if t.log is None else str(t.log),
        "node": t.node,
    }


def decode(kind: str, data: Mapping[str, Any]) -> TaskEvent:
    """An attempt's event back from its kind and data (the ray backend's wire form)."""
    match EventKind(kind):
        case EventKind.ATTEMPT:
            return AttemptBegun(int(data["n"]), str(data["log"]), data.get("node"))
        case EventKind.STARTED:
            return ProcessStarted(
                int(data["n"]),
                data.get("pid"),
                data.get("create_time"),
                data.get("node"),
                data.get("node_pid"),
            )
        case EventKind.EXITED:
            usage = data.get("usage")
            return Exited(
                int(data["n"]),
                data.get("exit_code"),
                failure_of(data.get("failure")),
                int(data.get("peak_rss_bytes") or 0),
                None if usage is None else Usage.from_fields(usage),
                data.get("cpu_s"),
                tuple(data.get("usage_notes") or ()),
            )
        case EventKind.PLACED:
            return Placed(str(data["node"]), str(data["node_id"]))
    raise ValueError(f"not an attempt's event: {kind}")
