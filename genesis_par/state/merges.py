"""What the merge queue did to a run's target, in the run store: each pass, each move, and how
the run's work came home (its landing)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Mapping
from typing import NamedTuple

from genesis_par.model import EventKind
from genesis_par.state.landings import (
    LandingRecord,
    QueueRecord,
    decode_pairs,
    decode_queue,
    encode_pairs,
    encode_queue,
)

# 3: each move of a target, written before its compare-and-swap (published 0) and settled after
# (1, or the row is dropped when the swap lost), so a killed queue still leaves what it moved;
# rolled_back 1 once `rollback` undid it.
MERGE_STEPS = """
CREATE TABLE merge_steps (
    run TEXT, seq INTEGER, into_ref TEXT, before_commit TEXT, after_commit TEXT, task TEXT,
    published INTEGER, at REAL, rolled_back INTEGER DEFAULT 0, PRIMARY KEY (run, seq))
"""


class MergeStep(NamedTuple):
    into: str
    before: str
    after: str
    task: str | None
    published: bool  # False: written before its compare-and-swap, which may not have happened


class MergeRecords:
    """The store's merge records (a part of state.Store)."""

    db: sqlite3.Connection
    now: Callable[[], float]

    def _tx(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def record_merge(self, run: str, queue: QueueRecord) -> None:
        """Record one pass of the merge queue over a target."""
        with self._tx() as db:
            seq = db.execute("SELECT COUNT(*) FROM merges WHERE run=?", (run,)).fetchone()[0]
            db.execute(
                "INSERT INTO merges VALUES (?,?,?,?,?,?,?)",
                (run, seq, queue.into, queue.before, queue.after, encode_queue(queue), self.now()),
            )

    def merges(self, run: str) -> list[QueueRecord]:
        """Each merge pass of a run, in order."""
        rows = self.db.execute(
            "SELECT data FROM merges WHERE run=? AND data IS NOT NULL ORDER BY seq", (run,)
        ).fetchall()
        return [q for (data,) in rows if (q := decode_queue(data)) is not None]

    def set_landing(self, run: str, landing: LandingRecord) -> None:
        """Keep how the run's work came home (a later `merge` or `rollback` changes it)."""
        with self._tx() as db:
            self.write_landing(db, run, landing)

    @staticmethod
    def write_landing(db: sqlite3.Connection, run: str, landing: LandingRecord) -> None:
        """set_landing inside a transaction already open."""
        db.execute(
            "INSERT OR REPLACE INTO landings VALUES (?,?,?)",
            (run, encode_pairs(landing.pairs), encode_queue(landing.queue)),
        )

    def landing(self, run: str) -> LandingRecord | None:
        """How the run's work came home; None until the run finished."""
        row = self.db.execute("SELECT pairs, queue FROM landings WHERE run=?", (run,)).fetchone()
        return LandingRecord(decode_pairs(row[0]), decode_queue(row[1])) if row else None

    def record_merge_step(self, run: str, step: str, data: Mapping[str, object]) -> None:
        """Record a step of the merge queue (land/batch.py's account of it) as a run event,
        `merge-<step>`."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO events (run, task, at, kind, data) VALUES (?,NULL,?,?,?)",
                (run, self.now(), EventKind(f"merge-{step}"), json.dumps(data, default=str)),
            )

    def intend_step(self, run: str, into_ref: str, before: str, after: str, task: str) -> int:
        """Record a move of the target before it is made; its number, to settle it after."""
        with self._tx() as db:
            seq = db.execute(
                "SELECT COALESCE(MAX(seq) + 1, 0) FROM merge_steps WHERE run=?", (run,)
            ).fetchone()[0]
            db.execute(
                "INSERT INTO merge_steps VALUES (?,?,?,?,?,?,0,?,0)",
                (run, seq, into_ref, before, after, task, self.now()),
            )
        return int(seq)

    def settle_step(self, run: str, seq: int, published: bool) -> None:
        """The move was made (kept as published) or lost its compare-and-swap (dropped)."""
        with self._tx() as db:
            if published:
                db.execute("UPDATE merge_steps SET published=1 WHERE run=? AND seq=?", (run, seq))
            else:
                db.execute("DELETE FROM merge_steps WHERE run=? AND seq=?", (run, seq))

    def merge_steps(self, run: str) -> list[MergeStep]:
        """Every move the run's merges made (or were about to make) and no rollback undid,
        oldest first."""
        rows = self.db.execute(
            "SELECT into_ref, before_commit, after_commit, task, published FROM merge_steps "
            "WHERE run=? AND rolled_back=0 ORDER BY seq",
            (run,),
        ).fetchall()
        return [MergeStep(i, b, a, t, bool(p)) for i, b, a, t, p in rows]

    def roll_back_steps(self, run: str, into_ref: str, current: str, to: str) -> None:
        """`rollback` moved into_ref from current to `to`, undoing the run's moves of it:
        record it, and that they are undone."""
        data = {"into": into_ref, "from": current, "to": to}
        with self._tx() as db:
            db.execute(
                "UPDATE merge_steps SET rolled_back=1 WHERE run=? AND into_ref=?", (run, into_ref)
            )
            db.execute(
                "INSERT INTO events (run, task, at, kind, data) VALUES (?,NULL,?,?,?)",
                (run, self.now(), EventKind.ROLLBACK, json.dumps(data)),
            )


def steps_from_passes(db: sqlite3.Connection) -> None:
    """Schema 3: the steps of merge passes recorded before it (in their `data`)."""
    rows = db.execute(
        "SELECT run, into_ref, before_commit, after_commit, data, at FROM merges ORDER BY run, seq"
    ).fetchall()
    seqs: dict[str, int] = {}
    for run, into, before, after, data, at in rows:
        recorded = json.loads(data or "{}").get("steps")
        steps = recorded if recorded is not None else [(before, after)]
        for old, new in steps:
            if old == new:
                continue
            seq = seqs.get(run, 0)
            seqs[run] = seq + 1
            db.execute(
                "INSERT INTO merge_steps VALUES (?,?,?,?,?,NULL,1,?,0)",
                (run, seq, into, old, new, at),
            )


class RunSteps(NamedTuple):
    """The merge queue's step journal (merge.StepJournal) for one run, in the store."""

    store: MergeRecords
    run: str

    def intend(self, into_ref: str, before: str, after: str, task: str) -> int:
        """Record the move before it is made."""
        return self.store.intend_step(self.run, into_ref, before, after, task)

    def settle(self, token: int, published: bool) -> None:
        """Record whether the move was made."""
        self.store.settle_step(self.run, token, published)
