"""The JSON of a run, made from its records (docs/json.md): `run --json`, `resume --json`,
`report`, the task objects of `status --json`, and the `merge` object of `merge --json`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from genesis_par.land.queue import CHECK_FAILED
from genesis_par.state.landings import (
    BatchOutcome,
    FinishedRun,
    LandingRecord,
    PairRecord,
    QueueRecord,
    ResolutionRecord,
    UnmergedRecord,
)
from genesis_par.state.records import CandidateRecord, TaskRecord
from genesis_par.usage import compare

JSON_VERSION = 1  # of the `run --json` object; docs/json.md


def run_json(finished: FinishedRun) -> dict[str, object]:
    """The object of `run --json` (and of `report` for the same run)."""
    return {
        "version": JSON_VERSION,
        "run": finished.name,
        "status": finished.status,
        "base": finished.base_commit,
        "tasks": [task_json(t) for t in finished.tasks],
        **spend_json(finished.tasks),
        **landing_json(finished.landing),
        "isolation": finished.isolation,
    }


def spend_json(tasks: Sequence[TaskRecord]) -> dict[str, object]:
    """The `usage` and `agents` of the run's JSON: its totals, its agents side by side."""
    spent = compare.totals(tasks)
    return {
        "usage": {**spent.usage.fields(), "cpu_s": spent.cpu_s},
        "agents": [dataclasses.asdict(row) for row in compare.agents(tasks)],
    }


def task_json(task: TaskRecord) -> dict[str, object]:
    """One task object of `run --json` and `status --json`."""
    candidates = None if task.candidates is None else [_candidate(c) for c in task.candidates]
    return {
        "id": task.id,
        "status": task.status,
        "failure": task.failure,
        "reason": task.reason,
        "attempts": task.attempts,
        "exit_code": task.exit_code,
        "branch": task.branch,
        "commit": task.commit,
        "changed": task.changed,
        "duration_s": task.duration_s,
        "peak_rss_bytes": task.peak_rss_bytes,
        "cpu_s": task.cpu_s,
        "agent": task.agent,
        "usage": task.usage.fields(),
        "usage_notes": list(task.usage_notes),
        "candidates": candidates,
        "log": str(task.log) if task.log else None,
        "node": task.node,
    }


def _candidate(c: CandidateRecord) -> dict[str, object]:
    return {
        "k": c.k,
        "agent": c.agent,
        "exit_code": c.exit_code,
        "failure": c.failure,
        "check": c.check,
        "diff_lines": c.diff_lines,
        "usage": c.usage.fields(),
        "winner": c.winner,
    }


def landing_json(landing: LandingRecord) -> dict[str, object]:
    """The `conflicts` and `merge` parts of the run's JSON: null when the probe did not run
    (interrupted, --fail-fast), and when the queue did not (--no-merge, nothing succeeded)."""
    pairs = None if landing.pairs is None else [_pair(p) for p in landing.pairs]
    return {
        "conflicts": None if pairs is None else {"pairs": pairs},
        "merge": None if landing.queue is None else queue_json(landing.queue),
    }


def _pair(pair: PairRecord) -> dict[str, object]:
    """One pair, as `conflicts --json` shows it."""
    conflicts = []
    for c in pair.conflicts:
        obj: dict[str, object] = {
            "path": c.path,
            "kind": c.kind,
            "paths": list(c.paths),
            "message": c.message,
        }
        if c.kind == "other":  # `other` keeps git's own type string
            obj["git_type"] = c.git_type
        conflicts.append(obj)
    return {"a": pair.a, "b": pair.b, "clean": pair.clean, "conflicts": conflicts}


def queue_json(q: QueueRecord) -> dict[str, object]:
    """The `merge` object of `run --json`, `merge --json` and `status --json`."""
    obj: dict[str, object] = {
        "into": q.into.removeprefix("refs/heads/"),
        "before": q.before,
        "after": None if q.dry_run and q.after != q.before else q.after,
        "order": [{"task": t, "why": why} for t, why in q.order],
        "merged": list(q.merged),
        "already_merged": list(q.already_merged),
        "unmerged": [_unmerged(u) for u in q.unmerged],
        "check": {"command": q.check, "ran": check_note(q) is None, "note": check_note(q)},
        "resolutions": [_resolution(r) for r in q.resolutions],
        "batches": [batch_json(b) for b in q.batches],
    }
    if q.rolled_back_to is not None:
        obj["rolled_back_to"] = q.rolled_back_to
    return obj


def batch_json(b: BatchOutcome) -> dict[str, object]:
    checks = [
        {
            "members": list(c.members),
            "on_top_of": list(c.on_top_of),
            "commit": c.commit,
            "outcome": c.outcome,
            "runs": c.runs,
            "logs": list(c.logs),
            "duration_s": c.duration_s,
        }
        for c in b.checks
    ]
    return {
        "batch": b.batch,
        "members": list(b.members),
        "outcome": b.outcome,
        "merged": list(b.merged),
        "check_runs": b.check_runs,
        "duration_s": b.duration_s,
        "checks": checks,
    }


def check_note(q: QueueRecord) -> str | None:
    """Why no merge check ran on the queue's steps; None when one did."""
    if q.dry_run:
        return "a dry run runs no check: a step shown as merged may still fail its check"
    if q.check is None:
        return "no merge check is set: nothing was tested (set [merge] check, or --check CMD)"
    return None


def _unmerged(u: UnmergedRecord) -> dict[str, object]:
    obj: dict[str, object] = {
        "task": u.task,
        "reason": u.reason,
        "conflicts": [{"path": p, "kind": k, "with": w} for p, k, w in u.conflicts],
    }
    if u.reason == CHECK_FAILED:  # what was under it: it may fail only on top of them
        obj["on_top_of"] = list(u.on_top_of)
    if u.log:
        obj["log"] = u.log
    return obj


def _resolution(r: ResolutionRecord) -> dict[str, object]:
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
