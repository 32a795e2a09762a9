"""How a run's work came home, as the store keeps it: the conflict probe's pairs and the merge
queue's pass (its order, what it merged and left out, the check, the resolutions, the batches,
and where `rollback` put the target back). Frozen records; report/ makes their JSON."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from genesis_par.model import RunStatus
from genesis_par.state.records import TaskRecord


@dataclass(frozen=True, slots=True)
class ConflictRecord:
    """One conflicting path of a pair of branches (land.conflicts.Conflict)."""

    path: str
    kind: str
    paths: tuple[str, ...]
    message: str
    git_type: str = ""  # git's own type string, for kind "other"


@dataclass(frozen=True, slots=True)
class PairRecord:
    """Two branches, and whether they merge cleanly together."""

    a: str
    b: str
    clean: bool
    conflicts: tuple[ConflictRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class UnmergedRecord:
    """A task the queue left out, and why."""

    task: str
    reason: str
    conflicts: tuple[tuple[str, str, str], ...] = ()  # (path, kind, with)
    log: str | None = None
    on_top_of: tuple[str, ...] = ()  # a failed merge check: the tasks merged under it then


@dataclass(frozen=True, slots=True)
class ResolutionRecord:
    """One resolution try of one task (land.resolve.Resolution)."""

    task: str
    strategy: str
    n: int
    outcome: str
    reason: str = ""
    commit: str | None = None
    log: str | None = None
    duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class CheckRunRecord:
    """One merge check of a tip (land.checks.CheckRun): the tasks new in it, what it was built
    on, how it went (passed, failed, cancelled), its tries and their logs."""

    members: tuple[str, ...]
    on_top_of: tuple[str, ...]
    commit: str
    outcome: str
    runs: int
    logs: tuple[str, ...]
    duration_s: float


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """One batch of the queue (land.batch.BatchRecord): its members, what of it landed."""

    batch: int
    members: tuple[str, ...]
    outcome: str  # published, partly published, not published
    merged: tuple[str, ...]
    check_runs: int
    duration_s: float
    checks: tuple[CheckRunRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class QueueRecord:
    """One pass of the merge queue over the run's target."""

    into: str  # a full ref
    before: str
    after: str
    order: tuple[tuple[str, str], ...] = ()  # (task, why it is there)
    merged: tuple[str, ...] = ()
    already_merged: tuple[str, ...] = ()  # of merged: in the target before the pass
    unmerged: tuple[UnmergedRecord, ...] = ()
    check: str | None = None  # the merge check's command, None when none is set
    dry_run: bool = False
    resolutions: tuple[ResolutionRecord, ...] = ()
    batches: tuple[BatchOutcome, ...] = ()
    rolled_back_to: str | None = None  # where `rollback` put the target back


@dataclass(frozen=True, slots=True)
class LandingRecord:
    """How a finished run's work came home: the conflict probe and the merge queue, each None
    when it did not run (interrupted, --fail-fast; --no-merge, nothing succeeded)."""

    pairs: tuple[PairRecord, ...] | None = None
    queue: QueueRecord | None = None


@dataclass(frozen=True, slots=True)
class FinishedRun:
    """A run that reached its end: its tasks as they ended and how its work came home."""

    name: str
    status: RunStatus
    base_commit: str
    isolation: str  # worktree or clone, as it started
    tasks: tuple[TaskRecord, ...]
    landing: LandingRecord


# The store's own encoding of these records (their field names, as JSON text in the landings
# and merges tables), read back only by the decoders below: never the --json form.


def encode_pairs(pairs: tuple[PairRecord, ...] | None) -> str | None:
    """The landings table's pairs column. A run of n tasks has n(n-1)/2 pairs, most of them
    clean: each is written field by field (dataclasses.asdict took 10 us a pair, deep-copying
    as it goes: over a second at 500 tasks)."""
    if pairs is None:
        return None
    return json.dumps(
        [
            {
                "a": p.a,
                "b": p.b,
                "clean": p.clean,
                "conflicts": [dataclasses.asdict(c) for c in p.conflicts],
            }
            for p in pairs
        ]
    )


def encode_queue(queue: QueueRecord | None) -> str | None:
    """The landings table's queue column, and the merges table's data."""
    return None if queue is None else json.dumps(dataclasses.asdict(queue))


def decode_pairs(text: str | None) -> tuple[PairRecord, ...] | None:
    """Back from encode_pairs."""
    return None if text is None else tuple(_pair(p) for p in json.loads(text))


def decode_queue(text: str | None) -> QueueRecord | None:
    """Back from encode_queue."""
    return None if text is None else _queue(json.loads(text))


def _pair(obj: Mapping[str, Any]) -> PairRecord:
    conflicts = tuple(
        ConflictRecord(c["path"], c["kind"], tuple(c["paths"]), c["message"], c["git_type"])
        for c in obj["conflicts"]
    )
    return PairRecord(obj["a"], obj["b"], bool(obj["clean"]), conflicts)


def _queue(obj: Mapping[str, Any]) -> QueueRecord:
    unmerged = tuple(
        UnmergedRecord(
            u["task"],
            u["reason"],
            tuple((p, k, w) for p, k, w in u["conflicts"]),
            u["log"],
            tuple(u["on_top_of"]),
        )
        for u in obj["unmerged"]
    )
    return QueueRecord(
        obj["into"],
        obj["before"],
        obj["after"],
        tuple((t, why) for t, why in obj["order"]),
        tuple(obj["merged"]),
        tuple(obj["already_merged"]),
        unmerged,
        obj["check"],
        bool(obj["dry_run"]),
        tuple(ResolutionRecord(**r) for r in obj["resolutions"]),
        tuple(batch_of(b) for b in obj["batches"]),
        obj["rolled_back_to"],
    )


def batch_of(obj: Mapping[str, Any]) -> BatchOutcome:
    """A batch back from its fields (the store's encoding and docs/json.md's are the same)."""
    checks = tuple(
        CheckRunRecord(
            tuple(c["members"]),
            tuple(c["on_top_of"]),
            c["commit"],
            c["outcome"],
            c["runs"],
            tuple(c["logs"]),
            c["duration_s"],
        )
        for c in obj.get("checks", ())
    )
    return BatchOutcome(
        obj["batch"],
        tuple(obj["members"]),
        obj["outcome"],
        tuple(obj["merged"]),
        obj["check_runs"],
        obj["duration_s"],
        checks,
    )
