"""Which processes work in which folders (their working directory is there): one walk of the
process table for all folders, read from /proc where there is one. Nothing is started or
signalled here."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple


def git_running_in(path: Path) -> bool:
    """Whether a git process works in path (its cwd is there): its locks are not stale."""
    return any(seen.name.startswith("git") for seen in processes_in([path])[path])


class Seen(NamedTuple):
    pid: int
    name: str


def processes_in(paths: Sequence[Path]) -> dict[Path, list[Seen]]:
    """The processes (this one aside) whose working directory is inside each path: one walk
    of the process table for all paths. Other users' processes, which we may not inspect,
    are not seen."""
    import psutil

    real = {os.path.realpath(p): p for p in paths}
    found: dict[Path, list[Seen]] = {p: [] for p in paths}
    for pid, cwd in _working_directories() if paths else ():
        for resolved, path in real.items():
            if pid != os.getpid() and (cwd == resolved or cwd.startswith(resolved + os.sep)):
                with contextlib.suppress(psutil.Error):
                    found[path].append(Seen(pid, psutil.Process(pid).name()))
    return found


def _working_directories() -> Iterator[tuple[int, str]]:
    # /proc read directly: 14 times faster than psutil.process_iter on a busy Linux machine,
    # which builds a Process (reading its stat) for each of hundreds of processes
    if os.path.isdir("/proc/self/cwd"):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    yield int(entry), os.readlink(f"/proc/{entry}/cwd")
        return
    import psutil

    for p in psutil.process_iter(["cwd"]):
        if p.info.get("cwd"):
            yield p.pid, p.info["cwd"]
