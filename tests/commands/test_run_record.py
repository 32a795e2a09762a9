"""How a run records its transitions (issue 19): a scheduler tick's in one transaction."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from genesis_par.commands import report as report_cmd
from genesis_par.commands import resume as resume_cmd
from genesis_par.commands import status as status_cmd
from genesis_par.run.flow import Observers, _Recorder
from genesis_par.state.events import AttemptBegun, Starting
from genesis_par.state.store import Store
from tests.plans import py, run_json, tasks_by_id, write_plan, writer


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


def test_a_resumed_run_reports_what_its_json_printed_and_keeps_its_kept_tasks_agent(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The stored record is made from the store's records, not kept as printed: `report`
    prints what `resume --json` printed, and a task kept from the first go keeps its agent
    and best_of candidates (they were null once resumed)."""
    flag = tmp_path / "fixed"
    plan = write_plan(
        repo,
        f"""
        [agents.w]
        command = {writer("w.txt", "w")}

        [[tasks]]
        id = "a"
        agent = "w"
        prompt = "write"
        best_of = 2

        [[tasks]]
        id = "b"
        command = {py(f"import pathlib, sys; sys.exit(0 if pathlib.Path({str(flag)!r}).exists() else 3)")}
        """,
        header='[run]\nname = "rr"\n',
    )
    code, first = run_json(repo, plan, capsys)
    assert code == 1 and tasks_by_id(first)["a"]["agent"] == "w"
    flag.touch()
    assert resume_cmd.resume(repo, "rr", retry_failed=True, as_json=True) == 0
    printed = capsys.readouterr().out
    kept = tasks_by_id(json.loads(printed))["a"]
    assert kept["agent"] == "w" and kept["status"] == "succeeded"
    assert [c["k"] for c in kept["candidates"]] == [1, 2]
    assert report_cmd.run(repo, "rr") == 0
    assert capsys.readouterr().out == printed
    assert status_cmd.status(repo, "rr", as_json=True) == 0
    status = tasks_by_id(json.loads(capsys.readouterr().out))
    assert status["a"]["agent"] == "w" and status["a"]["candidates"] == kept["candidates"]
