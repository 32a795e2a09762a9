"""The posix_spawn runner under every git call: what Popen gave git is kept (output whole on
both pipes at once, text mode's newlines, bytes that are not UTF-8, default signals), and it
never deadlocks or leaves a child unreaped."""

from __future__ import annotations

import shutil
import signal
import threading
from pathlib import Path

import pytest

from genesis_par.gitops.run import _run_git, git_environment
from genesis_par.gitops.spawned import Spawned
from tests.conftest import wait_for

SH = shutil.which("sh") or "/bin/sh"


def spawned(script: str, stdin: bool = False) -> Spawned:
    return Spawned(SH, ["sh", "-c", script], git_environment(), stdin=stdin)


def test_both_pipes_are_read_whole_at_once() -> None:
    """300 KiB on each of stdout and stderr, interleaved: more than a pipe holds, so reading
    one to its end before the other would deadlock."""
    line = "x" * 1023
    script = f"i=0; while [ $i -lt 300 ]; do echo {line}; echo {line} >&2; i=$((i+1)); done"
    out, err = spawned(script).communicate()
    assert out == err == f"{line}\n" * 300


def test_input_larger_than_a_pipe_is_written_while_output_is_read(repo: Path) -> None:
    lines = "HEAD\n" * 20000  # 100 KB in, about 1 MB out
    done = _run_git(["cat-file", "--batch-check"], repo, input=lines)
    assert len(done.stdout.splitlines()) == 20000
    assert done.returncode == 0


def test_a_child_that_stops_reading_its_input_is_no_error() -> None:
    child = spawned("head -c 10 >/dev/null; echo done", stdin=True)
    out, _ = child.communicate("y" * 1_000_000)
    assert out == "done\n"
    assert child.wait() == 0


def test_text_is_read_as_popen_reads_it() -> None:
    out, _ = spawned(r"printf 'a\r\nb\rc\n\377\n'").communicate()
    assert out == "a\nb\nc\n\udcff\n"


def test_signals_are_back_to_their_defaults_in_the_child() -> None:
    """Python ignores SIGPIPE, and a thread may block signals: neither reaches git."""
    blocked = {signal.SIGUSR1}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        out, _ = spawned("grep -E '^Sig(Ign|Blk):' /proc/self/status").communicate()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    masks = {k: int(v, 16) for k, v in (line.split(":\t") for line in out.splitlines())}
    assert not masks["SigIgn"] & (1 << (signal.SIGPIPE - 1))
    assert masks["SigBlk"] == 0


def test_exit_codes_and_a_kill_read_as_popen_gives_them() -> None:
    assert spawned("exit 3").wait() == 3
    child = spawned("sleep 30")
    child.kill()
    assert child.wait() == -signal.SIGKILL
    child.kill()  # reaped: nothing is signalled
    assert child.returncode == -signal.SIGKILL


def test_a_waiting_thread_is_freed_by_a_kill_from_another() -> None:
    child = spawned("exec sleep 30")  # one process: its pipes end with it
    result: list[tuple[str, str]] = []
    reader = threading.Thread(target=lambda: result.append(child.communicate()))
    reader.start()
    child.kill()
    reader.join(timeout=10)
    assert not reader.is_alive() and result == [("", "")]
    assert child.returncode == -signal.SIGKILL


def test_no_descriptor_is_left_open(tmp_path: Path) -> None:
    fds = Path("/proc/self/fd")
    before = len(list(fds.iterdir()))
    for _ in range(50):
        spawned("echo x", stdin=True).communicate("in")
    wait_for(lambda: len(list(fds.iterdir())) <= before, "the pipes closed", 5)


def test_a_missing_git_is_named(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from genesis_par.errors import EnvironmentProblem

    monkeypatch.setenv("PATH", str(repo))
    with pytest.raises(EnvironmentProblem, match="git is not installed or not on PATH"):
        _run_git(["rev-parse", "HEAD"], repo)
