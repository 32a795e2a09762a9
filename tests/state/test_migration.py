"""Schema 5 migrates the state.db files of schemas 3 and 4, built here with the SQL those
versions ran (real SQLite files): a finished run reports exactly what it reported before."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from genesis_par import state
from genesis_par.model import Failure
from genesis_par.report.run_json import queue_json, run_json
from genesis_par.state.records import CandidateRecord
from genesis_par.state.store import Store
from genesis_par.usage import Usage
from genesis_par.usage.model import UsageFields
from tests.helpers import gp

SCHEMA_1 = """
CREATE TABLE runs (
    name TEXT PRIMARY KEY, plan_path TEXT, plan_text TEXT, base_ref TEXT, base_commit TEXT,
    into_ref TEXT, status TEXT, supervisor_pid INTEGER, supervisor_create_time REAL,
    created_at REAL, finished_at REAL);
CREATE TABLE tasks (
    run TEXT, id TEXT, idx INTEGER, status TEXT, failure TEXT, reason TEXT, attempts INTEGER,
    exit_code INTEGER, branch TEXT, start_commit TEXT, "commit" TEXT, changed INTEGER,
    duration_s REAL, peak_rss_bytes INTEGER, log TEXT, PRIMARY KEY (run, id));
CREATE TABLE attempts (
    run TEXT, task TEXT, n INTEGER, pid INTEGER, create_time REAL, started_at REAL,
    finished_at REAL, exit_code INTEGER, failure TEXT, peak_rss_bytes INTEGER, log TEXT,
    PRIMARY KEY (run, task, n));
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run TEXT, task TEXT, at REAL, kind TEXT, data TEXT);
CREATE TABLE merges (
    run TEXT, seq INTEGER, into_ref TEXT, before_commit TEXT, after_commit TEXT, data TEXT,
    at REAL, PRIMARY KEY (run, seq));
ALTER TABLE runs ADD COLUMN result TEXT;
CREATE TABLE merge_steps (
    run TEXT, seq INTEGER, into_ref TEXT, before_commit TEXT, after_commit TEXT, task TEXT,
    published INTEGER, at REAL, rolled_back INTEGER DEFAULT 0, PRIMARY KEY (run, seq))
"""
SCHEMA_4 = """
ALTER TABLE attempts ADD COLUMN input_tokens INTEGER;
ALTER TABLE attempts ADD COLUMN output_tokens INTEGER;
ALTER TABLE attempts ADD COLUMN cost_usd REAL;
ALTER TABLE attempts ADD COLUMN turns INTEGER;
ALTER TABLE attempts ADD COLUMN model TEXT;
ALTER TABLE attempts ADD COLUMN cpu_s REAL;
ALTER TABLE attempts ADD COLUMN usage_notes TEXT;
ALTER TABLE tasks ADD COLUMN agent TEXT;
ALTER TABLE tasks ADD COLUMN candidates TEXT
"""

B, C = "b" * 40, "c" * 40


def usage(tokens_in: int = 0, out: int = 0, cost: float | None = None) -> UsageFields:
    return Usage(tokens_in, out, cost, 1 if tokens_in else 0, "m" if tokens_in else None).fields()


def task(id_: str, status: str, **kw: Any) -> dict[str, Any]:
    """A task object of `run --json` as schema 4's genesis-par printed and stored it."""
    obj: dict[str, Any] = {
        "id": id_,
        "status": status,
        "failure": None,
        "reason": None,
        "attempts": 1,
        "exit_code": 0,
        "branch": f"genesis/r/{id_}",
        "commit": C,
        "changed": True,
        "duration_s": 1.234,
        "peak_rss_bytes": 4096,
        "cpu_s": 0.5,
        "agent": None,
        "usage": usage(),
        "usage_notes": [],
        "candidates": None,
        "log": f"/logs/r/{id_}.1.log",
        "node": None,
    }
    return {**obj, **kw}


CANDIDATES = [
    {
        "k": 1,
        "agent": "claude",
        "exit_code": 0,
        "failure": None,
        "check": "passed",
        "diff_lines": 12,
        "usage": usage(100, 20, 0.25),
        "winner": True,
    },
    {
        "k": 2,
        "agent": "claude",
        "exit_code": 1,
        "failure": "exit",
        "check": None,
        "diff_lines": None,
        "usage": usage(50, 5, 0.125),
        "winner": False,
    },
]
TASKS = [
    task(
        "a",
        "succeeded",
        agent="claude",
        usage=usage(150, 25, 0.375),
        usage_notes=["an attempt wrote no usage"],
        cpu_s=2.125,
        candidates=CANDIDATES,
        node="10.0.3.7",
        reason="candidate 1 of 2 won (12 lines)",
    ),
    task("b", "failed", failure="exit", exit_code=3, reason="exited with code 3", commit=None),
    task(
        "c",
        "skipped",
        attempts=0,
        exit_code=None,
        branch=None,
        commit=None,
        changed=None,
        duration_s=None,
        peak_rss_bytes=0,
        cpu_s=0.0,
        log=None,
        reason='dependency "b" failed',
    ),
]
CONFLICTS = {
    "pairs": [
        {
            "a": "genesis/r/a",
            "b": "genesis/r/b",
            "clean": False,
            "conflicts": [
                {
                    "path": "x.txt",
                    "kind": "content",
                    "paths": ["x.txt"],
                    "message": "CONFLICT (content): Merge conflict in x.txt",
                },
                {
                    "path": "y",
                    "kind": "other",
                    "paths": ["y", "z"],
                    "message": "CONFLICT (new kind): y",
                    "git_type": "new kind",
                },
            ],
        }
    ]
}
MERGE = {
    "into": "genesis/r/integration",
    "before": B,
    "after": C,
    "order": [{"task": "a", "why": "priority normal; conflicts with b"}],
    "merged": ["a"],
    "already_merged": [],
    "unmerged": [
        {"task": "d", "reason": "conflicts", "conflicts": [{"path": "x", "kind": "content", "with": "a"}]},
        {"task": "e", "reason": "merge check failed", "conflicts": [], "on_top_of": ["a"], "log": "/l/e.log"},
    ],
    "check": {"command": "pytest -q", "ran": True, "note": None},
    "resolutions": [
        {
            "task": "d",
            "strategy": "prefer-task",
            "n": 1,
            "outcome": "unresolved",
            "reason": "a modify/delete conflict",
            "commit": None,
            "log": None,
            "duration_s": 0.157,
        }
    ],
    "batches": [
        {
            "batch": 1,
            "members": ["a", "e"],
            "outcome": "partly published",
            "merged": ["a"],
            "check_runs": 2,
            "duration_s": 3.5,
            "checks": [
                {
                    "members": ["a", "e"],
                    "on_top_of": [],
                    "commit": C,
                    "outcome": "failed",
                    "runs": 1,
                    "logs": ["/l/0001.log"],
                    "duration_s": 1.5,
                }
            ],
        }
    ],
    "rolled_back_to": B,
}  # fmt: skip
RESULT_4 = {
    "version": 1,
    "run": "r",
    "status": "conflicts",
    "base": B,
    "tasks": TASKS,
    # as schema 4's genesis-par summed them (usage.compare on these task objects)
    "usage": {**usage(150, 25, 0.375), "cpu_s": 2.625},
    "agents": [
        {
            "agent": "claude",
            "tasks": 1,
            "succeeded": 1,
            "success_rate": 1.0,
            "input_tokens": 150,
            "output_tokens": 25,
            "cost_usd": 0.375,
            "cost_per_succeeded_task_usd": 0.375,
            "cost_per_1k_tokens_usd": 2.142857,
            "turns": 1,
            "duration_s": 1.234,
            "cpu_s": 2.125,
        },
        {
            "agent": "(command)",
            "tasks": 1,
            "succeeded": 0,
            "success_rate": 0.0,
            "input_tokens": 0,
            "output_tokens": 0,
            "cost_usd": None,
            "cost_per_succeeded_task_usd": None,
            "cost_per_1k_tokens_usd": None,
            "turns": 0,
            "duration_s": 1.234,
            "cpu_s": 0.5,
        },
    ],
    "conflicts": CONFLICTS,
    "merge": MERGE,
    "isolation": "worktree",
}
# what schema 3's genesis-par stored: no spend, agents, candidates or nodes; no check,
# resolutions or already_merged in its merge (its batches and on_top_of it had)
OLD_KEYS = ("cpu_s", "agent", "usage", "usage_notes", "candidates", "node")
TASKS_3 = [{k: v for k, v in t.items() if k not in OLD_KEYS} for t in TASKS]
MERGE_3 = {k: v for k, v in MERGE.items() if k not in ("already_merged", "check", "resolutions")}
RESULT_3 = {
    "version": 1,
    "run": "r",
    "status": "conflicts",
    "base": B,
    "tasks": TASKS_3,
    "conflicts": CONFLICTS,
    "merge": MERGE_3,
}


def old_store(folder: Path, version: int, result: dict[str, Any]) -> Path:
    """A state.db as genesis-par wrote it at schema 3 or 4: a finished run "r" (its result,
    one merge pass with its steps) and, at 4, a run "live" still running a best_of task."""
    folder.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(folder / "state.db", isolation_level=None)
    script = SCHEMA_1 + (";" + SCHEMA_4 if version == 4 else "")
    for statement in script.split(";"):
        db.execute(statement)
    db.execute(f"PRAGMA user_version={version}")
    run = ("p.toml", "version = 1", "main", B, "refs/heads/genesis/r/integration")
    db.execute(
        "INSERT INTO runs VALUES (?,?,?,?,?,?,?,1,1.0,10.0,20.0,?)",
        ("r", *run, result["status"], json.dumps(result)),
    )
    for i, t in enumerate(TASKS):
        db.execute(
            "INSERT INTO tasks (run, id, idx, status, failure, reason, attempts, exit_code, "
            'branch, start_commit, "commit", changed, duration_s, peak_rss_bytes, log) '
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            ("r", t["id"], i, t["status"], t["failure"], t["reason"], t["attempts"],
             t["exit_code"], t["branch"], B, t["commit"], t["changed"], t["duration_s"],
             t["peak_rss_bytes"], t["log"]),
        )  # fmt: skip
    data = {"conflicts": CONFLICTS, "merge": result["merge"], "steps": [[B, C]]}
    db.execute(
        "INSERT INTO merges VALUES ('r',0,'refs/heads/genesis/r/integration',?,?,?,30.0)",
        (B, C, json.dumps(data)),
    )
    db.execute(
        "INSERT INTO merge_steps VALUES ('r',0,'refs/heads/genesis/r/integration',?,?,'a',1,30.0,1)",
        (B, C),
    )
    if version == 4:
        db.execute("INSERT INTO runs VALUES ('live',?,?,?,?,?,'running',1,1.0,40.0,NULL,NULL)", run)
        db.execute(
            "INSERT INTO tasks (run, id, idx, status, attempts, branch, agent, candidates) "
            "VALUES ('live','a',0,'succeeded',2,'genesis/live/a','claude',?)",
            (json.dumps(CANDIDATES),),
        )
    db.close()
    return folder


def test_a_schema_4_store_reports_every_run_exactly_as_before(tmp_path: Path) -> None:
    folder = old_store(tmp_path / "s", 4, RESULT_4)
    with Store.open(folder) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == state.SCHEMA_VERSION == 5
        finished = store.finished("r")
        assert finished is not None
        assert json.dumps(run_json(finished), indent=2) == json.dumps(RESULT_4, indent=2)
        (best,) = [t for t in store.tasks("live")]
        assert best.candidates is not None and best.candidates[1] == CandidateRecord(
            2, "claude", 1, Failure.EXIT, None, None, Usage(50, 5, 0.125, 1, "m"), False
        )
        (queue,) = store.merges("r")
        assert queue_json(queue) == MERGE
        assert store.db.execute("SELECT COUNT(*) FROM runs WHERE result IS NOT NULL").fetchone()[
            0
        ] == 0  # fmt: skip
    with Store.open(folder, read_only=True) as store:  # opened again: nothing migrates twice
        again = store.finished("r")
        assert again is not None and run_json(again) == RESULT_4


def test_a_schema_3_store_keeps_what_it_recorded(tmp_path: Path) -> None:
    folder = old_store(tmp_path / "s", 3, RESULT_3)
    with Store.open(folder, read_only=True) as store:  # a reader migrates it as well
        finished = store.finished("r")
        assert finished is not None
        obj = run_json(finished)
    for key, value in RESULT_3.items():
        if key not in ("tasks", "merge"):
            assert obj[key] == value, key
    tasks: list[dict[str, Any]] = obj["tasks"]  # type: ignore[assignment]
    for old, new in zip(TASKS_3, tasks, strict=True):
        assert {k: new[k] for k in old} == old
        assert (new["usage"], new["candidates"], new["node"]) == (usage(), None, None)
    merge: dict[str, Any] = obj["merge"]  # type: ignore[assignment]
    assert {k: merge[k] for k in MERGE_3} == MERGE_3
    assert (merge["already_merged"], merge["resolutions"]) == ([], [])
    assert merge["check"] == {
        "command": None,
        "ran": False,
        "note": "no merge check is set: nothing was tested (set [merge] check, or --check CMD)",
    }


def test_an_old_store_that_cannot_be_upgraded_is_one_line_not_a_traceback(repo: Path) -> None:
    """A reader of a schema 4 store it may not write (a read-only file: even root leaves
    it alone) cannot read it: it says why, and how to fix it, in one line, exit code 4."""
    folder = old_store(repo / ".git" / "genesis-par", 4, RESULT_4)
    db_file = folder / "state.db"
    before = db_file.read_bytes()
    db_file.chmod(0o444)
    for args in (("status", "r", "--json"), ("report", "r"), ("runs",)):
        done = gp(repo, *args)
        assert done.returncode == 4, done.stderr
        assert "Traceback" not in done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert "written by an older genesis-par (schema 4)" in line, line
        assert f"chmod -R u+w {folder}" in line
    assert db_file.read_bytes() == before
    db_file.chmod(0o644)
    done = gp(repo, "report", "r")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == RESULT_4
