from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

from genesis_par import state
from genesis_par.model import RunStatus, TaskStatus
from genesis_par.state.landings import (
    ConflictRecord,
    LandingRecord,
    PairRecord,
    QueueRecord,
    decode_pairs,
    encode_pairs,
)
from genesis_par.state.merges import MergeStep, RunSteps
from genesis_par.state.records import CandidateRecord
from genesis_par.state.store import Store
from genesis_par.usage import Usage


def schema_2_db(path: Path) -> None:
    """A state.db as genesis-par wrote it before schema 3, with one run's two merge passes."""
    path.mkdir(parents=True)
    db = sqlite3.connect(path / "state.db", isolation_level=None)
    for statement in state.SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute("ALTER TABLE runs ADD COLUMN result TEXT")
    db.execute("PRAGMA user_version=2")
    passes = [
        ("r", 0, "refs/heads/t", "b0", "b2", json.dumps({"steps": [["b0", "b1"], ["b1", "b2"]]})),
        ("r", 1, "refs/heads/t", "b2", "b2", json.dumps({"steps": []})),
        ("old", 0, "refs/heads/t", "c0", "c1", json.dumps({})),  # before steps were kept
    ]
    db.executemany("INSERT INTO merges VALUES (?,?,?,?,?,?,0)", passes)
    db.close()


def test_schema_2_is_migrated_with_the_steps_of_its_merge_passes(tmp_path: Path) -> None:
    schema_2_db(tmp_path / "s")
    with Store.open(tmp_path / "s") as store:
        assert store.merge_steps("r") == [
            MergeStep("refs/heads/t", "b0", "b1", None, True),
            MergeStep("refs/heads/t", "b1", "b2", None, True),
        ]
        assert store.merge_steps("old") == [MergeStep("refs/heads/t", "c0", "c1", None, True)]
        seq = store.intend_step("r", "refs/heads/t", "b2", "b3", "x")
        assert seq == 2
        store.settle_step("r", seq, published=False)
        assert len(store.merge_steps("r")) == 2
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == state.SCHEMA_VERSION
    with Store.open(tmp_path / "s") as store:  # opening again migrates nothing twice
        assert len(store.merge_steps("r")) == 2


def test_forgetting_a_run_forgets_its_merge_steps(tmp_path: Path) -> None:
    """`runs rm` then a new run of the same name: rollback must not see the old run's moves."""
    with Store.open(tmp_path) as store:
        store.create_run(
            "r",
            plan_path="p.toml",
            plan_text="",
            base_ref="main",
            base_commit="a" * 40,
            into_ref="refs/heads/x",
            pid=1,
            create_time=0.0,
            tasks={"t": "genesis/r/t"},
        )
        steps = RunSteps(store, "r")
        steps.settle(steps.intend("refs/heads/x", "a" * 40, "b" * 40, "t"), True)
        assert [s.after for s in store.merge_steps("r")] == ["b" * 40]
        (task,) = store.tasks("r")
        candidate = CandidateRecord(1, None, 0, None, "passed", 3, Usage(), True)
        ended = dataclasses.replace(task, status=TaskStatus.SUCCEEDED, candidates=(candidate,))
        queue = QueueRecord("refs/heads/x", "a" * 40, "b" * 40, merged=("t",))
        store.finish_run("r", RunStatus.SUCCEEDED, LandingRecord((), queue), [ended])
        finished = store.finished("r")
        assert finished is not None and finished.tasks[0].candidates == (candidate,)
        assert finished.landing.queue == queue
        store.forget_run("r")
        assert store.merge_steps("r") == [] and store.finished("r") is None
        assert store.db.execute("SELECT COUNT(*) FROM candidates").fetchone()[0] == 0


def test_conflict_pairs_are_stored_as_their_fields_and_read_back_whole() -> None:
    """The landings table's pairs column: the records' field names (what older stores hold
    and state/legacy.py reads), every field kept."""
    conflict = ConflictRecord("a.txt", "content", ("a.txt",), "both changed a.txt")
    pairs = (PairRecord("t1", "t2", True), PairRecord("t1", "t3", False, (conflict,)))
    text = encode_pairs(pairs)
    assert text is not None
    assert json.loads(text) == [
        {"a": "t1", "b": "t2", "clean": True, "conflicts": []},
        {
            "a": "t1",
            "b": "t3",
            "clean": False,
            "conflicts": [
                {
                    "path": "a.txt",
                    "kind": "content",
                    "paths": ["a.txt"],
                    "message": "both changed a.txt",
                    "git_type": "",
                }
            ],
        },
    ]
    assert decode_pairs(text) == pairs
