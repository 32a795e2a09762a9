"""Long-lived git processes that take one request after another: `update-ref --stdin`, one
transaction a request.

A task's branch is created, and later moved to its recorded work, by a compare-and-swap. Each
was a git process of its own, about 1.5 ms of CPU and 0.4 ms of ours to start (issue 19); here
each is a few lines through a pipe to a process started once a run. git does the work as it
always does (locks, packed refs, reflogs, fsync); only the start of a process is saved.

A process that dies, is killed (an agent may `pkill git`) or takes too long is replaced at
the next request; a request it did not answer is made again as a process of its own, so that
git's own verdict and words reach the caller. When genesis-par dies, the processes read the
end of their input and exit: none outlives the run.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from genesis_par.errors import GitError
from genesis_par.gitops.run import TIMEOUT_S, _run_git, failure_text, git_environment

_MOST_SESSIONS = 8  # by git dir and reflog message; the oldest beyond are closed


class _Unanswered(Exception):
    """The process ended or stopped answering before it answered the request."""


class _Session:
    """One long-lived git process, one request at a time."""

    def __init__(self, args: Sequence[str]) -> None:
        self.args = list(args)
        self.lock = threading.Lock()
        self._errors = tempfile.TemporaryFile(prefix="genesis-par-git-")  # noqa: SIM115
        self._child = subprocess.Popen(
            ["git", *args],
            # not in the repository: a process working in a clone would keep `worktrees gc`
            # from removing it after its task (the git dir is named; no work tree is needed)
            cwd="/",
            env=git_environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._errors,
        )
        self._pending = b""

    def ask(self, request: bytes, lines: int, limit_s: float) -> list[bytes]:
        """Send request; the next `lines` lines of the answer (without their newlines)."""
        assert self._child.stdin is not None and self._child.stdout is not None
        try:
            self._child.stdin.write(request)
            self._child.stdin.flush()
        except OSError:
            raise _Unanswered from None
        return self._read_lines(self._child.stdout.fileno(), lines, time.monotonic() + limit_s)

    def _read_lines(self, fd: int, lines: int, deadline: float) -> list[bytes]:
        while self._pending.count(b"\n") < lines:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self._child.kill()  # stuck: its verdict is unknown
                raise _Unanswered
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise _Unanswered
            self._pending += chunk
        *answered, self._pending = self._pending.split(b"\n", lines)
        return answered

    def said(self) -> subprocess.CompletedProcess[str] | None:
        """Once the process ended: its exit and what it wrote on stderr; None if it was
        killed by a signal or is still running (its verdict unknown)."""
        code = self._wait(1.0)
        if code is None or code < 0:
            return None
        self._errors.seek(0)
        stderr = self._errors.read().decode("utf-8", "surrogateescape")
        return subprocess.CompletedProcess(["git", *self.args], code, "", stderr)

    def close(self) -> None:
        """End the process: the end of its input, then a kill if it does not exit."""
        with contextlib.suppress(OSError):
            if self._child.stdin is not None:
                self._child.stdin.close()
        if self._wait(1.0) is None:
            self._child.kill()
            self._wait(5.0)
        for stream in (self._child.stdout, self._errors):
            if stream is not None:
                stream.close()

    def _wait(self, limit_s: float) -> int | None:
        try:
            return self._child.wait(limit_s)
        except subprocess.TimeoutExpired:
            return None


_Key = tuple[Path, tuple[int, int, int], tuple[str, ...]]  # git dir, its config, arguments


def _config_stamp(git_dir: Path) -> tuple[int, int, int]:
    """The config file's inode, modification time and size: a process reads the config once, so a
    changed config (or a repository made again at the path) gets a new one."""
    try:
        st = (git_dir / "config").stat()
    except OSError:
        return (0, 0, 0)
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class _Sessions:
    """The open sessions, by git dir and its config, and arguments."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[_Key, _Session] = {}

    def get(self, git_dir: Path, args: Sequence[str]) -> tuple[_Key, _Session]:
        """(its key, the session)."""
        key = (git_dir, _config_stamp(git_dir), tuple(args))
        closing = []
        with self._lock:
            session = self._open.pop(key, None)
            if session is None:
                session = _Session([f"--git-dir={git_dir}", *args])
            self._open[key] = session  # the most recently used last
            while len(self._open) > _MOST_SESSIONS:
                closing.append(self._open.pop(next(iter(self._open))))
        for old in closing:
            with old.lock:
                old.close()
        return key, session

    def drop(self, key: _Key, session: _Session) -> None:
        """Forget a session that failed (closing it), so that the next request starts anew."""
        with self._lock:
            if self._open.get(key) is session:
                del self._open[key]
        session.close()

    def close_all(self) -> None:
        with self._lock:
            sessions, self._open = list(self._open.values()), {}
        for session in sessions:
            session.close()

    def forget(self) -> None:
        """In a forked child: the parent's processes are not the child's to use."""
        self._lock = threading.Lock()
        self._open = {}


_sessions = _Sessions()
atexit.register(_sessions.close_all)
os.register_at_fork(after_in_child=_sessions.forget)


def update_ref(
    git_dir: Path,
    ref: str,
    new: str,
    old: str | None,
    message: str,
    create_reflog: bool = False,
    timeout_s: float = TIMEOUT_S,
) -> None:
    """`git --git-dir=<git_dir> update-ref --no-deref -m <message> <ref> <new> <old>` (old
    None: ref must not exist), as a transaction of a long-lived `update-ref --stdin`."""
    flags = ["--create-reflog"] if create_reflog else []
    expected = old or "0" * len(new)
    one_shot = ["update-ref", *flags, "--no-deref", "-m", message, ref, new, expected]
    args = ["update-ref", *flags, "-m", message, "--stdin"]
    request = f"start\noption no-deref\nupdate {ref} {new} {expected}\ncommit\n".encode()
    key, session = _sessions.get(git_dir, args)
    with session.lock:
        try:
            if session.ask(request, 2, timeout_s) == [b"start: ok", b"commit: ok"]:
                return
            session.close()  # an answer it should not give: let git say it on its own
        except _Unanswered:
            pass
        said = session.said()
    _sessions.drop(key, session)
    where = f"--git-dir={git_dir}"
    if said is not None and said.returncode != 0 and said.stderr.strip():  # git's verdict
        raise GitError(failure_text([where, *one_shot], git_dir, said))
    # killed or stuck before it answered: done already if ref holds new (it committed)
    now = _run_git([where, "rev-parse", "-q", "--verify", ref], git_dir, check=False)
    if now.returncode != 0 or now.stdout.strip() != new:
        _run_git([where, *one_shot], git_dir)
