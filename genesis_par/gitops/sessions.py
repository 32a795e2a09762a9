"""Long-lived git processes that take one request after another: `update-ref --stdin` (one
transaction a request) and `cat-file --batch-check` (which of some objects exist).

A task's branch is created, and later moved to its recorded work, by a compare-and-swap. Each
was a git process of its own, about 1.5 ms of CPU and 0.4 ms of ours to start (issue 19); here
each is a few lines through a pipe to a process started once. git does the work as it always
does (locks, packed refs, reflogs, fsync); only the start of a process is saved.

What a long-lived git holds for its whole life is kept from mattering: an update-ref process
stamps every reflog entry with the time of its first (git caches it), so one serves only
within the second it started in; it trusts an object it parsed once to exist for good, so the
new value of every update is first looked up by cat-file, which asks the object store each time.

A process that dies, is killed (an agent may `pkill git`), takes too long or answers what it
should not is replaced; the request it did not answer is made again as a process of its own,
so that git's own verdict and words reach the caller. A process is only ever used under its
lock, and marked dead under it. When genesis-par dies, the processes read the end of their
input and exit: none outlives the run.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from genesis_par.gitops.run import TIMEOUT_S, _run_git, config_stamp, git_environment

_MOST_SESSIONS = 8  # by git dir, config and arguments; the least recently used beyond close


class _Unanswered(Exception):
    """The process ended, stopped answering or answered wrong: its verdict is unknown."""


class _Session:
    """One long-lived git process, one request at a time (under `lock`)."""

    def __init__(self, args: Sequence[str]) -> None:
        self.lock = threading.Lock()
        self.started = time.time()
        self.dead = False
        self._child = subprocess.Popen(
            ["git", *args],
            # not in the repository: a process working in a clone would keep `worktrees gc`
            # from removing it after its task (the git dir is named; no work tree is needed)
            cwd="/",
            env=git_environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # its verdicts are asked of a process of their own
        )
        self._pending = b""

    def ask(self, request: bytes, lines: int, limit_s: float) -> bytes:
        """Send request; the next `lines` lines of the answer, as they came. Call with `lock`
        held; a session that fails is dead from then on."""
        if self.dead:
            raise _Unanswered
        try:
            assert self._child.stdin is not None and self._child.stdout is not None
            self._child.stdin.write(request)
            self._child.stdin.flush()
            return self._read_lines(self._child.stdout.fileno(), lines, limit_s)
        except (OSError, ValueError, _Unanswered):
            self.close()
            raise _Unanswered from None

    def _read_lines(self, fd: int, lines: int, limit_s: float) -> bytes:
        deadline = time.monotonic() + limit_s
        poller = select.poll()  # not select(): a run may hold more than 1,024 descriptors
        poller.register(fd, select.POLLIN)
        have = self._pending.count(b"\n")
        while have < lines:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                raise _Unanswered
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise _Unanswered
            have += chunk.count(b"\n")
            self._pending += chunk
        end = len(self._pending)
        if have > lines or not self._pending.endswith(b"\n"):  # more than asked for: never so far
            end = 0
            for _ in range(lines):
                end = self._pending.index(b"\n", end) + 1
        answer, self._pending = self._pending[:end], self._pending[end:]
        return answer

    def end_input(self) -> None:
        """The end of its input (with `lock` held): git finishes and exits on its own."""
        self.dead = True
        with contextlib.suppress(OSError, ValueError):
            if self._child.stdin is not None:
                self._child.stdin.close()

    def close(self) -> None:
        """End the process (with `lock` held, or once no one else can use it): the end of its
        input; then SIGTERM, so that git removes its lock files, and SIGKILL."""
        self.end_input()
        for stop in (None, signal.SIGTERM, signal.SIGKILL):
            if stop is not None:
                with contextlib.suppress(OSError):
                    self._child.send_signal(stop)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._child.wait(1.0)
                break
        if self._child.stdout is not None:
            self._child.stdout.close()


# git dir, its config file (a process reads the config once: a changed config, or a
# repository made again at the path, gets a new one), arguments
_Key = tuple[Path, tuple[int, int, int] | None, tuple[str, ...]]


class _Sessions:
    """The open sessions, by git dir, its config and arguments."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[_Key, _Session] = {}

    def get(
        self, git_dir: Path, args: Sequence[str], usable: Callable[[_Session], bool]
    ) -> _Session:
        """The session for these arguments, a new one if there is none or it is not usable
        (dead, or too old for what it does)."""
        key = (git_dir, config_stamp(git_dir), tuple(args))
        closing = []
        with self._lock:
            session = self._open.pop(key, None)
            if session is not None and (session.dead or not usable(session)):
                closing.append(session)
                session = None
            if session is None:
                session = _Session([f"--git-dir={git_dir}", *args])
            self._open[key] = session  # the most recently used last
            while len(self._open) > _MOST_SESSIONS:
                closing.append(self._open.pop(next(iter(self._open))))
        for old in closing:
            with old.lock:  # a request of another thread's finishes first
                old.close()
        return session

    def close_all(self) -> None:
        with self._lock:
            sessions, self._open = list(self._open.values()), {}
        for session in sessions:  # every process ends at once, then each is waited for
            with session.lock:
                session.end_input()
        for session in sessions:
            with session.lock:
                session.close()

    def forget(self) -> None:
        """In a forked child: the parent's processes are not the child's to use."""
        self._lock = threading.Lock()
        self._open = {}


_sessions = _Sessions()
atexit.register(_sessions.close_all)
os.register_at_fork(after_in_child=_sessions.forget)


def _same_second(session: _Session) -> bool:
    """An update-ref process stamps every reflog entry with the time of its first one."""
    return int(session.started) == int(time.time())


def _always(session: _Session) -> bool:
    return True


def missing(git_dir: Path, oids: Sequence[str], timeout_s: float = TIMEOUT_S) -> list[str] | None:
    """Those of oids (full hex ids) the repository's object store lacks, asked of a long-lived
    `cat-file --batch-check` (which looks each one up again every time); None when it could
    not tell (the caller asks git some other way)."""
    if not oids:
        return []
    session = _sessions.get(git_dir, ["cat-file", "--batch-check=%(objectname)"], _always)
    request = "".join(f"{oid}\n" for oid in oids).encode()
    with session.lock:
        try:
            answer = session.ask(request, len(oids), timeout_s)
        except _Unanswered:
            return None
    if answer == request:  # each id named back as it was asked: all there
        return []
    said = [line.decode(errors="replace").split(" ") for line in answer.splitlines()]
    if [s[0] for s in said] != list(oids) or any(s[1:] not in ([], ["missing"]) for s in said):
        with session.lock:
            session.close()  # out of step with what was asked: never read from again
        return None
    return [s[0] for s in said if s[1:] == ["missing"]]


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
    None: ref must not exist), as a transaction of a long-lived `update-ref --stdin`; as a
    process of its own when that process cannot be used or does not answer, or new is not
    in the object store (that process then says so in git's words)."""
    flags = ["--create-reflog"] if create_reflog else []
    expected = old or "0" * len(new)
    if _plain(ref, new, expected, message) and missing(git_dir, [new], timeout_s) == []:
        args = ["update-ref", *flags, "-m", message, "--stdin"]
        session = _sessions.get(git_dir, args, _same_second)
        request = f"start\noption no-deref\nupdate {ref} {new} {expected}\ncommit\n".encode()
        with session.lock, contextlib.suppress(_Unanswered):
            if session.ask(request, 2, timeout_s) == b"start: ok\ncommit: ok\n":
                return
            session.close()  # an answer it should not give: never read from again
        # unanswered (killed, stuck, refused): done already if ref holds new, else git says
        where = f"--git-dir={git_dir}"
        now = _run_git([where, "rev-parse", "-q", "--verify", ref], git_dir, check=False)
        if now.returncode == 0 and now.stdout.strip() == new:
            return
    one_shot = ["update-ref", *flags, "--no-deref", "-m", message, ref, new, expected]
    _run_git([f"--git-dir={git_dir}", *one_shot], git_dir)


def _plain(*words: str) -> bool:
    """Whether each word fits on a line of update-ref's --stdin (no line break, no NUL; a
    ref name or an id has no space either): else a process of its own takes them as
    arguments."""
    return all("\n" not in w and "\0" not in w for w in words) and " " not in "".join(words[:3])
