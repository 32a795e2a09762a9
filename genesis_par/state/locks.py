"""A run's lock: held by the process supervising it; the kernel drops it if that process dies."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from genesis_par.errors import UsageError


@contextmanager
def run_lock(state_dir: Path, run: str) -> Iterator[None]:
    """Hold the run's lock while supervising it; the kernel drops it if this process dies."""
    path = state_dir / "locks" / f"{run}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            raise UsageError(
                f'run "{run}" is already being supervised by genesis-par (pid {owner}): '
                f"wait for it to finish, or stop it (kill -INT {owner})"
            ) from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_supervised(state_dir: Path, run: str) -> bool:
    """Whether a process holds the run's lock now (it works even when state.db is gone)."""
    path = state_dir / "locks" / f"{run}.lock"
    if not path.exists():
        return False
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False
