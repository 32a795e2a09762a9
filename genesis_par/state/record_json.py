"""A task's and a resolution's record as the JSON object docs/json.md documents: the data of
their events in the run store (and on the Ray wire) and the objects report/ prints are one."""

from __future__ import annotations

from genesis_par.state.landings import ResolutionRecord
from genesis_par.state.records import CandidateRecord, TaskRecord


def task_json(task: TaskRecord) -> dict[str, object]:
    """One task object of `run --json` and `status --json`, and a `task-ended` event's data."""
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
        "log": None if task.log is None else str(task.log),
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


def resolution_json(r: ResolutionRecord) -> dict[str, object]:
    """One resolution try, in `merge.resolutions` and as a `resolved` event's data."""
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
