"""Schema 5: what schemas 3 and 4 kept as `run --json`'s object (runs.result, merges.data,
tasks.candidates) read once, by the migration, into the store's own records. The only reader
of that JSON form in the store: a run reported after the migration shows what it showed."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from genesis_par.state.landings import (
    ConflictRecord,
    LandingRecord,
    PairRecord,
    QueueRecord,
    ResolutionRecord,
    UnmergedRecord,
    batch_of,
    encode_pairs,
    encode_queue,
)
from genesis_par.state.records import CandidateRecord, failure_of
from genesis_par.usage import Usage

# the task keys of `run --json` kept as columns of the same name
_TASK_KEYS = (
    "status",
    "failure",
    "reason",
    "attempts",
    "exit_code",
    "branch",
    "commit",
    "changed",
    "duration_s",
    "peak_rss_bytes",
    "log",
    "agent",
    "node",
    "cpu_s",
)


def migrate(db: sqlite3.Connection) -> None:
    """Read the runs' results, task candidates and merge passes into records; clear them."""
    rows = db.execute("SELECT name, result FROM runs WHERE result IS NOT NULL").fetchall()
    for run, text in rows:
        result = json.loads(text)
        landing = landing_from_json(result)
        db.execute(
            "INSERT INTO landings VALUES (?,?,?)",
            (run, encode_pairs(landing.pairs), encode_queue(landing.queue)),
        )
        for task in result.get("tasks") or []:
            _task_from_json(db, run, task)
    unfinished = db.execute(
        "SELECT run, id, candidates FROM tasks WHERE candidates IS NOT NULL AND run NOT IN "
        "(SELECT run FROM landings)"
    ).fetchall()
    for run, task, text in unfinished:
        _candidates_from_json(db, run, task, json.loads(text))
    passes = db.execute("SELECT run, seq, data FROM merges").fetchall()
    for run, seq, text in passes:
        merge = json.loads(text or "{}").get("merge")
        data = None if merge is None else encode_queue(queue_from_json(merge))
        db.execute("UPDATE merges SET data=? WHERE run=? AND seq=?", (data, run, seq))
    db.execute("UPDATE runs SET result=NULL")
    db.execute("UPDATE tasks SET candidates=NULL")


def _task_from_json(db: sqlite3.Connection, run: str, task: Mapping[str, Any]) -> None:
    """The task as the run's result showed it (what was printed) becomes its ended record."""
    values = {k: task[k] for k in _TASK_KEYS if k in task}
    values.setdefault("cpu_s", 0.0)  # ended: its spend is what the result says
    usage = Usage.from_fields(task.get("usage"))
    values.update(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cost_usd=usage.cost_usd,
        turns=usage.turns,
        model=usage.model,
        usage_notes=json.dumps(list(task.get("usage_notes") or [])),
    )
    assignments = ", ".join(f'"{k}"=?' for k in values)
    db.execute(
        f"UPDATE tasks SET {assignments} WHERE run=? AND id=?", (*values.values(), run, task["id"])
    )
    if task.get("candidates") is not None:
        _candidates_from_json(db, run, task["id"], task["candidates"])


def _candidates_from_json(
    db: sqlite3.Connection, run: str, task: str, candidates: list[Mapping[str, Any]]
) -> None:
    for c in candidates:
        record = CandidateRecord(
            c["k"],
            c.get("agent"),
            c.get("exit_code"),
            failure_of(c.get("failure")),
            c.get("check"),
            c.get("diff_lines"),
            Usage.from_fields(c.get("usage")),
            bool(c.get("winner")),
        )
        db.execute(
            f"INSERT OR REPLACE INTO candidates VALUES (?,?,{','.join('?' * 12)})",
            (run, task, *record.row()),
        )


def landing_from_json(result: Mapping[str, Any]) -> LandingRecord:
    """The landing record of a run result (docs/json.md)."""
    conflicts, merge = result.get("conflicts"), result.get("merge")
    pairs = None if conflicts is None else tuple(_pair(p) for p in conflicts.get("pairs", []))
    return LandingRecord(pairs, None if merge is None else queue_from_json(merge))


def _pair(obj: Mapping[str, Any]) -> PairRecord:
    conflicts = tuple(
        ConflictRecord(
            c["path"],
            c["kind"],
            tuple(c.get("paths", ())),
            c.get("message", ""),
            c.get("git_type", ""),
        )
        for c in obj.get("conflicts", [])
    )
    return PairRecord(obj["a"], obj["b"], bool(obj["clean"]), conflicts)


def queue_from_json(merge: Mapping[str, Any]) -> QueueRecord:
    """The queue record of a `merge` object (its `into` a short branch name)."""
    into = merge["into"]
    unmerged = tuple(
        UnmergedRecord(
            u["task"],
            u["reason"],
            tuple((c["path"], c["kind"], c["with"]) for c in u.get("conflicts", [])),
            u.get("log"),
            tuple(u.get("on_top_of", ())),
        )
        for u in merge.get("unmerged", [])
    )
    resolutions = tuple(
        ResolutionRecord(
            r["task"],
            r["strategy"],
            r["n"],
            r["outcome"],
            r.get("reason") or "",
            r.get("commit"),
            r.get("log"),
            float(r.get("duration_s") or 0.0),
        )
        for r in merge.get("resolutions", [])
    )
    return QueueRecord(
        into if into.startswith("refs/") else f"refs/heads/{into}",
        merge["before"],
        merge["after"],
        tuple((o["task"], o["why"]) for o in merge.get("order", [])),
        tuple(merge.get("merged", [])),
        tuple(merge.get("already_merged", [])),
        unmerged,
        (merge.get("check") or {}).get("command"),
        False,  # a dry run is never recorded
        resolutions,
        tuple(batch_of(b) for b in merge.get("batches", ())),
        merge.get("rolled_back_to"),
    )
