"""Part of the process door (used by proc.py only): a cgroup v2 of its own for each attempt,
where genesis-par may make one (issue 13).

Each attempt's shim is in its cgroup (genesis-par-<pid>-<n>, beside genesis-par's own cgroup's
processes) before it starts the agent, so everything the agent starts is born in it, whatever
session or parent it takes: the warden forks it there (shim.fork_into), else it joins. A stop
freezes it (`cgroup.freeze`), then kills it (`cgroup.kill`, Linux 5.14): the kernel stops every
member at once, one forking or not, where signals sent to a list of pids can be outrun.
Elsewhere, or when that fails, proc's SIGSTOP sweeps alone do it.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import time
from pathlib import Path

PREFIX = "genesis-par-"
_count = itertools.count(1)


@functools.lru_cache(maxsize=1)
def parent() -> Path | None:
    """genesis-par's own cgroup v2 folder when it may make cgroups there (else None); empty
    ones a killed genesis-par left are removed."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
        own = [line[3:] for line in Path("/proc/self/cgroup").read_text().splitlines()]
    except OSError:
        return None
    unified = [f.split()[1] for f in mounts if f.split()[2:3] == ["cgroup2"]]
    lines = [line for line in own if line.startswith("/")]  # "0::/path": the v2 line
    if not unified or not lines:
        return None
    found = Path(unified[0], lines[-1].lstrip("/"))
    if not (found / "cgroup.procs").is_file() or not os.access(found, os.W_OK):
        return None
    # below the root, a cgroup with controllers on for its children may hold no process: the
    # shims could not join theirs (cgroup v2's "no internal processes" rule)
    if (found / "cgroup.type").exists() and _read(found / "cgroup.subtree_control").strip():
        return None
    for stale in _owner_gone(found):
        with contextlib.suppress(OSError):  # one that holds processes stays (left_by_the_dead)
            stale.rmdir()
    return found


def _owner_gone(under: Path) -> list[Path]:
    """Attempts' cgroups under `under` whose genesis-par (genesis-par-<pid>-<n>) is gone."""
    gone = []
    for found in under.glob(f"{PREFIX}*-*"):
        pid = found.name.removeprefix(PREFIX).split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            gone.append(found)
    return gone


def left_by_the_dead(under: Path | None) -> list[Path]:
    """Attempts' cgroups under `under` that still hold processes though the genesis-par named in
    them (genesis-par-<pid>-<n>) is gone: an attempt it started after it last recorded anything,
    so that no record names its processes."""
    return [] if under is None else [c for c in _owner_gone(under) if populated(c)]


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return "unreadable"


def new(under: Path | None) -> Path | None:
    """A new cgroup for one attempt under `under`, or None when none can be made there (or
    the kernel has no `cgroup.kill`)."""
    if under is None:
        return None
    path = under / f"{PREFIX}{os.getpid()}-{next(_count)}"
    try:
        path.mkdir()
    except OSError:
        return None
    if not (path / "cgroup.kill").exists():
        remove(path)
        return None
    return path


def kill(cgroup: Path, bound_s: float) -> bool:
    """Freeze the cgroup, kill every process in it, wait (bounded) until it is empty."""
    try:
        (cgroup / "cgroup.freeze").write_text("1")
        (cgroup / "cgroup.kill").write_text("1")
    except OSError:
        return False
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        if not populated(cgroup):
            return True
        time.sleep(0.005)
    return False


def members(cgroup: Path) -> set[int]:
    """The pids in cgroup now."""
    return {int(pid) for pid in _read(cgroup / "cgroup.procs").split() if pid.isdigit()}


def populated(cgroup: Path) -> bool:
    """Whether a process lives in cgroup (False once it is gone)."""
    try:
        return "populated 1" in (cgroup / "cgroup.events").read_text().splitlines()
    except OSError:
        return False


def remove(cgroup: Path | None, bound_s: float = 10.0) -> None:
    """Remove an attempt's cgroup (what still runs in it is killed first)."""
    if cgroup is None:
        return
    if populated(cgroup):
        kill(cgroup, bound_s)
    with contextlib.suppress(OSError):
        cgroup.rmdir()
