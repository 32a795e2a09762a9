"""The re-forking test agent (tests/agents/reforker.py): its command, and whether it survived.

A chain forks faster than /proc can be read on a busy machine, so no listing is trusted here:
each generation writes its pid and start time, and a chain still running shows as a pid file
that keeps growing. Cleanup is a stop file every generation looks for.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "agents" / "reforker.py"
QUIET_S = 1.0  # a running chain writes every few milliseconds


@dataclass(frozen=True)
class Reforker:
    """One re-forking agent's files."""

    pids_file: Path
    ready: Path

    def argv(self, *options: str) -> list[str]:
        return [sys.executable, str(SCRIPT), str(self.pids_file), str(self.ready), *options]

    def written(self) -> dict[int, int]:
        """Every process any generation ever wrote (pid: start time), read now."""
        if not self.pids_file.exists():
            return {}
        lines = (line.split() for line in self.pids_file.read_text().splitlines())
        return {int(pid): int(start) for pid, start in (x for x in lines if len(x) == 2)}

    def alive(self) -> set[int]:
        """Written processes that still run (the same process: its pid and start time)."""
        return {pid for pid, start in self.written().items() if _running(pid, start)}

    def size(self) -> int:
        return self.pids_file.stat().st_size if self.pids_file.exists() else 0

    def kill_all(self, bound_s: float = 60.0) -> None:
        """Test cleanup, so a failing test leaves no runaway: every chain ends at the stop file."""
        Path(str(self.ready) + ".stop").touch()
        assert escaped(self, bound_s) == "", f"the test agent of {self.pids_file} would not end"


def _running(pid: int, start: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except OSError:
        return False
    exiting = int(fields[6]) & 0x4  # PF_EXITING: on its way out, it forks no more
    return int(fields[19]) == start and fields[0] not in (b"Z", b"X") and not exiting


def escaped(agent: Reforker, bound_s: float = 10.0) -> str:
    """'' once no written process runs and the pid file has been still for QUIET_S; else what
    still runs after bound_s."""
    deadline = time.monotonic() + bound_s
    size, since = agent.size(), time.monotonic()
    while True:
        now = time.monotonic()
        if agent.size() != size:
            size, since = agent.size(), now
        alive = agent.alive()
        if not alive and now - since >= QUIET_S:
            return ""
        if now > deadline:
            grew = f"; its pid file grew {now - since:.1f} s ago" if now - since < QUIET_S else ""
            return f"{len(alive)} processes still run: {sorted(alive)[:10]}{grew}"
        time.sleep(0.05)


@contextlib.contextmanager
def reforker(folder: Path) -> Iterator[Reforker]:
    """A re-forking agent's files; whatever of it still runs afterwards is ended."""
    agent = Reforker(folder / "reforker.pids", folder / "reforker.ready")
    try:
        yield agent
    finally:
        agent.kill_all()
