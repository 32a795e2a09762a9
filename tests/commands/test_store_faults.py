"""The state store on a full disk, read-only, locked by another process, or damaged (issue 20):
reading commands still work, the others say in one line what is wrong and how to fix it."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from genesis_par.commands import merge as merge_cmd
from genesis_par.commands import run as run_cmd
from genesis_par.commands import status as status_cmd
from genesis_par.commands import worktrees as worktrees_cmd
from genesis_par.errors import StoreProblem
from genesis_par.model import RunStatus
from genesis_par.state.store import Store
from tests.conftest import commit, git, wait_for
from tests.helpers import gp
from tests.plans import write_plan, writer


def state_of(repo: Path) -> Path:
    return repo / ".git" / "genesis-par"


def finished_run(repo: Path, name: str, capsys: pytest.CaptureFixture[str]) -> Path:
    plan = write_plan(
        repo,
        f'[[tasks]]\nid = "a"\ncommand = {writer("a.txt", "a")}\n',
        name=f"{name}.toml",
        header=f'[run]\nname = "{name}"\n',
    )
    assert run_cmd.run(repo, plan, as_json=True) == 0
    capsys.readouterr()
    return plan


def reads_work(repo: Path, run: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert status_cmd.status(repo, run, as_json=True) == 0
    assert status_cmd.runs(repo, as_json=True) == 0
    assert status_cmd.logs(repo, run, "a") == 0
    assert worktrees_cmd.list_(repo, as_json=True) == 0
    assert f'"{run}"' in capsys.readouterr().out


def one_line_error(done: subprocess.CompletedProcess[str], code: int, words: str) -> None:
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], done.stderr


def test_a_damaged_store_is_reported_by_readers_and_moved_aside_by_a_writer(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    finished_run(repo, "d1", capsys)
    db = state_of(repo) / "state.db"
    db.write_bytes(b"not a database, whatever wrote this\n" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    one_line_error(gp(repo, "status"), 4, "is damaged")
    one_line_error(gp(repo, "runs"), 4, "is damaged")
    assert db.read_bytes().startswith(b"not a database")  # readers leave it as it is
    plan = write_plan(repo, f'[[tasks]]\nid = "a"\ncommand = {writer("b.txt", "b")}\n')
    done = gp(repo, "run", str(plan), "--name", "d2")
    assert done.returncode == 0, done.stderr
    assert "was damaged" in done.stderr and "moved it to state.db.damaged-" in done.stderr
    (aside,) = state_of(repo).glob("state.db.damaged-*")
    assert aside.read_bytes().startswith(b"not a database")
    assert git(repo, "show", "genesis/d1/a:a.txt") == "a"  # the work is kept
    assert [
        r["run"] for r in __import__("json").loads(gp(repo, "runs", "--json").stdout)["runs"]
    ] == ["d2"]


@contextlib.contextmanager
def held_lock(db: Path, tmp: Path) -> Iterator[None]:
    """Another process holding an exclusive transaction on the store."""
    ready = tmp / "locked"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time; db = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "db.execute('BEGIN EXCLUSIVE'); open(sys.argv[2], 'w').write('x'); time.sleep(600)",
            str(db),
            str(ready),
        ]
    )
    try:
        wait_for(lambda: ready.exists() or holder.poll() is not None, "the lock to be taken")
        assert holder.poll() is None
        yield
    finally:
        holder.kill()
        holder.wait()


def test_a_locked_store_still_answers_readers_and_writers_say_it_is_locked(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    finished_run(repo, "l1", capsys)
    with held_lock(state_of(repo) / "state.db", tmp_path):
        reads_work(repo, "l1", capsys)
        with (
            pytest.raises(StoreProblem, match="is locked by another process"),
            Store.open(state_of(repo), timeout_s=0.2) as store,
        ):
            store.finish_run("l1", RunStatus.FAILED)
    with Store.open(state_of(repo)) as store:
        assert store.get_run("l1").status == "succeeded"  # type: ignore[union-attr]


def test_a_read_only_store_file_is_read_and_never_written(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    finished_run(repo, "r1", capsys)
    state = state_of(repo)
    (state / "state.db").chmod(0o444)
    reads_work(repo, "r1", capsys)
    # a -shm made with the database's read-only mode would stop every later writer
    assert not (state / "state.db-shm").exists()
    with pytest.raises(StoreProblem, match=r"cannot be written .*chmod -R u\+w"):
        merge_cmd.rollback(repo, "r1")
    assert not (state / "state.db-shm").exists() and not (state / "state.db-wal").exists()
    (state / "state.db").chmod(0o644)
    assert merge_cmd.rollback(repo, "r1") == 0


def mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here (needs root): {done.stderr.strip()}")


def test_a_store_in_a_read_only_folder_is_read_and_writers_say_how_to_fix_it(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    finished_run(repo, "o1", capsys)
    state = state_of(repo)
    before = sorted(p.name for p in state.iterdir())
    # root writes through chmod: a read-only bind mount is what stops it
    mount("--bind", str(state), str(state))
    try:
        mount("-o", "remount,bind,ro", str(state))
        reads_work(repo, "o1", capsys)
        one_line_error(gp(repo, "rollback", "o1"), 4, "cannot be written")
        assert sorted(p.name for p in state.iterdir()) == before
    finally:
        subprocess.run(["umount", "-l", str(state)], check=True)
    assert merge_cmd.rollback(repo, "o1") == 0


def test_on_a_full_disk_readers_work_and_writers_say_no_space(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk))
    try:
        repo = disk / "repo"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        commit(repo, {"README.md": "hello\n"}, "initial")
        finished_run(repo, "f1", capsys)
        plan = write_plan(repo, f'[[tasks]]\nid = "a"\ncommand = {writer("b.txt", "b")}\n')
        with (disk / "filler").open("wb", buffering=0) as filler, contextlib.suppress(OSError):
            while True:
                filler.write(b"\0" * 65536)
        reads_work(repo, "f1", capsys)
        one_line_error(gp(repo, "run", str(plan), "--name", "f2"), 4, "no space left")
        (disk / "filler").unlink()
        with Store.open(state_of(repo)) as store:  # space again: the store works as before
            assert [r.name for r in store.runs()] == ["f1"]
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)
