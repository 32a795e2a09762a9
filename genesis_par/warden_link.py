"""genesis-par's side of the warden (`warden.py`): start it once, ask it to start attempts,
learn their exits. Used by `proc` only; safe from many threads at once."""

from __future__ import annotations

import contextlib
import marshal
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from genesis_par import proc_tree

READY_S = 30.0  # the warden's start: a Python start on a machine that may be very busy
ANSWER_S = 30.0
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from genesis_par.warden import main; raise SystemExit(main(sys.argv[1:]))"
)
_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


class Gone(Exception):
    """The warden is not there (it could not start, or it died)."""


class Attempt:
    """One attempt's fork under the warden, as proc.run waits on it (like a Popen)."""

    def __init__(self, link: Link, pid: int, start_ticks: int) -> None:
        self.link, self.pid = link, pid
        self.start_ticks = start_ticks  # read by the warden before it could reap the fork
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        """Its exit code; subprocess.TimeoutExpired after timeout seconds."""
        if self.returncode is None:
            self.returncode = self.link.exit_of(self.pid, timeout)
        return self.returncode

    def kill(self) -> None:
        """SIGKILL the fork if it still runs (its pid is not reaped, so not reused, before
        the warden reports its exit)."""
        if self.returncode is None and not self.link.exited(self.pid):
            try:
                handle = os.pidfd_open(self.pid)
            except OSError:
                return
            try:
                signal.pidfd_send_signal(handle, signal.SIGKILL)
            except OSError:
                pass
            finally:
                os.close(handle)


class Link:
    """One warden process and the reader of its answers."""

    def __init__(self) -> None:
        command = [sys.executable, "-I", "-S", "-c", _BOOT, _PACKAGE_PARENT, str(os.getpid())]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal is genesis-par's to handle
        )
        self.pid = self.process.pid
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.started: dict[int, tuple[int, int] | str] = {}  # id -> (pid, start), or why not
        self.exits: dict[int, int] = {}
        self.alive = True
        self.ready = False
        self.next_id = 0
        threading.Thread(target=self._read, name="warden-link", daemon=True).start()
        with self.lock:
            if not self.changed.wait_for(lambda: self.ready or not self.alive, READY_S):
                self.alive = False
        if not self.ready:
            self.close()
            raise Gone("the warden did not start")

    def start(
        self, argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path, exit_file: Path
    ) -> Attempt:
        """Have the warden start one attempt; Gone if it cannot, OSError if the fork failed."""
        with self.lock:
            if not self.alive:
                raise Gone("the warden is gone")
            ident, self.next_id = self.next_id, self.next_id + 1
            payload = marshal.dumps(
                (ident, list(argv), str(cwd), dict(env), str(log), str(exit_file))
            )
            try:
                assert self.process.stdin is not None
                self.process.stdin.write(len(payload).to_bytes(4, "big") + payload)
                self.process.stdin.flush()
            except OSError:
                self.alive = False
                raise Gone("the warden is gone") from None
            if not self.changed.wait_for(lambda: ident in self.started or not self.alive, ANSWER_S):
                raise Gone("the warden did not answer")
            answer = self.started.pop(ident, None)
        if answer is None:
            raise Gone("the warden is gone")
        if isinstance(answer, str):
            raise OSError(0, answer)
        return Attempt(self, *answer)

    def exited(self, pid: int) -> bool:
        """Whether the warden reported this attempt's exit."""
        with self.lock:
            return pid in self.exits

    def exit_of(self, pid: int, timeout: float | None) -> int:
        """The attempt's exit code, as the warden reports it; TimeoutExpired after timeout.
        If the warden died first, its fork stopped its tree itself: it counts as killed once
        it is gone."""
        with self.lock:
            done = self.changed.wait_for(lambda: pid in self.exits or not self.alive, timeout)
            if not done:
                raise subprocess.TimeoutExpired(str(pid), timeout or 0.0)
            if pid in self.exits:
                return self.exits.pop(pid)
        return _when_gone(pid, timeout)

    def close(self) -> None:
        """End the warden: it stops whatever it still holds."""
        with self.lock:
            self.alive = False
            self.changed.notify_all()
            if self.process.stdin:
                with contextlib.suppress(OSError):
                    self.process.stdin.close()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            kind, *rest = raw.decode(errors="replace").strip().split(maxsplit=2)
            with self.lock:
                if kind == "R":
                    self.ready = True
                elif kind == "S":
                    pid, start = rest[1].split()
                    self.started[int(rest[0])] = (int(pid), int(start))
                elif kind == "E":
                    self.started[int(rest[0])] = rest[1] if len(rest) > 1 else "fork failed"
                elif kind == "X":
                    self.exits[int(rest[0])] = int(rest[1])
                self.changed.notify_all()
        with self.lock:
            self.alive = False
            self.changed.notify_all()
            if self.process.stdin:
                with contextlib.suppress(OSError):  # a dead warden's pipe: nothing to flush to
                    self.process.stdin.close()
        self.process.stdout.close()
        self.process.wait()


def _when_gone(pid: int, timeout: float | None) -> int:
    """An orphaned fork (the warden died): SIGKILL's exit code once it has ended."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while _running(pid):
        if deadline is not None and time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(str(pid), timeout or 0.0)
        time.sleep(0.02)
    return -signal.SIGKILL


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


_link: Link | None = None
_link_lock = threading.Lock()


def start_ahead() -> None:
    """Start this process's warden in the background where it will be used, so that the
    first attempt does not wait for its Python to start (about 20 ms; the first one to need
    it waits for whatever is left). If it cannot start, attempts fall back as they would."""
    if usable():
        threading.Thread(target=_start, name="warden-start", daemon=True).start()


def _start() -> None:
    with contextlib.suppress(Gone):
        link()


def usable() -> bool:
    """Whether this system can run the warden (Linux: subreapers, pidfds, children lists)."""
    return (
        sys.platform == "linux"
        and hasattr(os, "pidfd_open")
        and os.environ.get("GENESIS_PAR_SUPERVISOR", "warden") != "shim"
    )


def link() -> Link:
    """This process's warden, started on first use (again if the last one died)."""
    global _link
    with _link_lock:
        if _link is None or not _link.alive:
            _link = Link()
            proc_tree.adopters.add(_link.pid)  # orphans of a killed attempt fork go to it
        return _link
