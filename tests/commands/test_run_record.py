"""How a run records its transitions (issue 19): a scheduler tick's in one transaction."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from genesis_par.run.flow import Observers, _Recorder
from genesis_par.state.events import AttemptBegun, Starting
from genesis_par.state.store import Store


def test_a_ticks_transitions_are_written_together_and_a_workers_at_once(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        store.create_run(
            "r",
            plan_path="p",
            plan_text="",
            base_ref="main",
            base_commit="0" * 40,
            into_ref="i",
            pid=1,
            create_time=0.0,
            tasks={"a": "genesis/r/a", "b": "genesis/r/b"},
        )
        recorder = _Recorder(store, "r", Observers())
        reader = sqlite3.connect(tmp_path / "state.db")

        def seen() -> list[tuple[str, str]]:
            return reader.execute("SELECT task, kind FROM events ORDER BY id").fetchall()

        try:
            with recorder.held():
                recorder("a", Starting("c1"))
                recorder("b", Starting("c2"))
                worker = threading.Thread(target=lambda: recorder("a", AttemptBegun(1, "a.1.log")))
                worker.start()
                worker.join()
                assert seen() == [("a", "attempt")], "a worker's event waits for no tick"
            assert seen() == [("a", "attempt"), ("a", "starting"), ("b", "starting")]
            statuses = {t.id: t.status for t in store.tasks("r")}
            assert statuses == {"a": "running", "b": "running"}
        finally:
            reader.close()


def test_the_store_commits_without_an_fsync_per_transition(tmp_path: Path) -> None:
    """WAL with synchronous=NORMAL: durable against a crash of genesis-par (docs/benchmarks.md)."""
    with Store.open(tmp_path) as store:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
