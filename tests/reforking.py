"""The re-forking test agent (tests/agents/reforker.py): its command, and who of it survived.

Processes are read from /proc directly: a process blocked mid-fork or mid-write must still
count, and a pid reused by another process must not (the pid file's path in argv marks ours).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "agents" / "reforker.py"


@dataclass(frozen=True)
class Reforker:
    """One re-forking agent's files; its pid file's path, in its argv, marks its processes."""

    pids_file: Path
    ready: Path

    def argv(self, *options: str) -> list[str]:
        return [sys.executable, str(SCRIPT), str(self.pids_file), str(self.ready), *options]

    def written(self) -> set[int]:
        """Every pid any generation ever wrote, read now (so later ones count too)."""
        if not self.pids_file.exists():
            return set()
        return {int(line) for line in self.pids_file.read_text().split()}

    def _state(self, pid: int) -> str | None:
        """The process's state letter if it is one of this agent's, else None."""
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if os.fsencode(self.pids_file) not in handle.read().split(b"\0"):
                    return None
            with open(f"/proc/{pid}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            return None
        return stat[stat.rindex(b")") + 2 :].split()[0].decode()

    def survivors(self) -> set[int]:
        """This agent's live processes: every pid ever written, and any not written yet."""
        pids = self.written() | {int(e) for e in os.listdir("/proc") if e.isdigit()}
        return {pid for pid in pids if self._state(pid) not in (None, "Z", "X")}

    def kill_all(self, bound_s: float = 30.0) -> None:
        """Test cleanup, so that a failing test leaves no runaway: stop them all, then kill."""
        deadline = time.monotonic() + bound_s
        while time.monotonic() < deadline:
            states = {pid: self._state(pid) for pid in self.survivors()}
            if not states:
                return
            unstopped = [pid for pid, state in states.items() if state != "T"]
            for pid in unstopped or states:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGSTOP if unstopped else signal.SIGKILL)
            time.sleep(0.01)
        raise AssertionError(f"could not kill the test agent of {self.pids_file}")


@contextlib.contextmanager
def reforker(folder: Path) -> Iterator[Reforker]:
    """A re-forking agent's files; whatever of it still runs afterwards is killed."""
    agent = Reforker(folder / "reforker.pids", folder / "reforker.ready")
    try:
        yield agent
    finally:
        agent.kill_all()


def survivors_after(agent: Reforker, bound_s: float = 3.0) -> set[int]:
    """Survivors after a bounded wait for the kernel to finish the kills (empty when none)."""
    deadline = time.monotonic() + bound_s
    while (left := agent.survivors()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left
