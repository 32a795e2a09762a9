"""A process tree read from /proc: its members (orphans that went to a subreaper of ours
too), each named by pid and start time so that a reused pid is never signalled, and stopped
for good by freezing it (SIGSTOP) before it is killed. Used by the shim, the warden and
proc.py; like the shim, it imports only a few standard modules, for the shim's start-up."""

from __future__ import annotations

import errno
import os
import signal
import time
from _collections_abc import Callable  # loaded at start-up already, unlike collections.abc


class _Proc:
    """One line of /proc/PID/stat (a plain class: typing would slow the shim's start)."""

    __slots__ = ("cpu_ticks", "exiting", "ppid", "rss_pages", "sid", "start", "state")

    def __init__(self, ppid: int, sid: int, state: str, start: int, exiting: bool) -> None:
        self.ppid, self.sid, self.state = ppid, sid, state
        self.start = start  # in clock ticks since boot: with the pid, names the process
        self.exiting = exiting
        self.cpu_ticks = self.rss_pages = 0  # user + system time; resident pages


TICKS = os.sysconf("SC_CLK_TCK")  # the unit of a process's start in /proc/PID/stat


def started_at(ticks: int) -> float:
    """A create time from a start in clock ticks since boot: what psutil computes on Linux
    (`create_time()`: ticks / CLK_TCK + the btime of /proc/stat), to the last bit, so that
    records made either way match. Read without psutil, whose import is 12 ms of every run."""
    with open("/proc/stat", "rb") as handle:
        for line in handle:
            if line.startswith(b"btime"):
                return ticks / TICKS + float(line.split()[1])
    raise OSError(errno.ENOENT, "no btime line in /proc/stat")


_CANNOT_FORK = frozenset("TtZXx")  # stopped, traced or dead
_PF_EXITING = 0x4


def _parse(stat: bytes) -> _Proc:
    fields = stat[stat.rindex(b")") + 2 :].split()
    exiting = bool(int(fields[6]) & _PF_EXITING)
    found = _Proc(int(fields[1]), int(fields[3]), fields[0].decode(), int(fields[19]), exiting)
    found.cpu_ticks, found.rss_pages = int(fields[11]) + int(fields[12]), int(fields[21])
    return found


def _read(pid: int) -> _Proc | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return _parse(handle.read())
    except (OSError, ValueError, IndexError):
        return None


def _scan() -> dict[int, _Proc]:
    """Every process on the machine, read from /proc in one pass."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (found := _read(int(entry))) is not None:
            table[int(entry)] = found
    return table


# Linux 3.5+ lists each thread's children (CONFIG_PROC_CHILDREN); else every process is read
_CHILDREN_LISTED = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def members(
    root: int, session_only: bool = False, visit: Callable[[int, _Proc], None] | None = None
) -> dict[int, _Proc]:
    """root's tree: root and its descendants, each read from /proc.

    Orphans re-parent to the shim (a subreaper) while it lives, so its descendants are all its
    agent's processes, found by following the kernel's children lists: the cost is the tree's,
    not the machine's. session_only: root is gone (its pid may name another process now); its
    orphans went to the nearest subreaper above it (pid 1, or one of our ancestors) but keep its
    session (the shim leads one) unless they left it with setsid(). visit: called on each
    member as it is read, before its children are listed."""
    if not _CHILDREN_LISTED:
        return _by_scan(root, session_only, visit)
    # (pid, whether its session must be root's); popped from the end: the newest first, as
    # the kernel lists children oldest first and a forking chain's live process is the newest
    todo = [(pid, True) for pid in _orphan_candidates()] if session_only else [(root, False)]
    tree: dict[int, _Proc] = {}
    while todo:
        pid, check = todo.pop()
        found = None if pid in tree else _read(pid)
        if found is None or (check and found.sid != root):
            continue
        tree[pid] = found
        if visit:
            visit(pid, found)
        todo += [(child, False) for child in _children(pid)]
    return tree


adopters: set[int] = set()  # subreapers of ours (the warden) that may hold such orphans


def _orphan_candidates() -> list[int]:
    """The children of this process, of its ancestors and of its adopters: where the orphans
    of a dead process below us went (the nearest subreaper above it, else pid 1)."""
    found: list[int] = []
    pid = os.getpid()
    while pid > 0:
        found = _children(pid) + found
        pid = getattr(_read(pid), "ppid", 0)
    for adopter in adopters:
        found += _children(adopter)
    return found


def _children(pid: int) -> list[int]:
    """The children of every thread of pid; [] if it is gone."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as handle:
                found += [int(child) for child in handle.read().split()]
        except OSError:  # the thread ended
            continue
    return found


def _by_scan(
    root: int, session_only: bool, visit: Callable[[int, _Proc], None] | None
) -> dict[int, _Proc]:
    """members() on a kernel without children lists: read every process."""
    table = _scan()
    seeds = [pid for pid, found in table.items() if found.sid == root]
    if not session_only and root in table:
        seeds.append(root)
    tree = _closure(table, seeds)
    for pid, member in tree.items():
        if visit:
            visit(pid, member)
    return tree


def _closure(table: dict[int, _Proc], seeds: list[int]) -> dict[int, _Proc]:
    children: dict[int, list[int]] = {}
    for pid, found in table.items():
        children.setdefault(found.ppid, []).append(pid)
    tree: dict[int, _Proc] = {}
    while seeds:
        pid = seeds.pop()
        if pid not in tree:
            tree[pid] = table[pid]
            seeds += children.get(pid, [])
    return tree


def send(pid: int, start: int, sig: int) -> bool:
    """Signal that very process (not a reuse of its pid); False if it is gone or not ours."""
    try:
        handle = os.pidfd_open(pid)
    except OSError:
        return False
    try:
        now = _read(pid)  # the pidfd holds the process: checked once, it cannot change
        if now is None or now.start != start:
            return False
        signal.pidfd_send_signal(handle, sig)
        return True
    except OSError:
        return False
    finally:
        os.close(handle)


def live(tree: dict[int, _Proc]) -> dict[int, _Proc]:
    """The members that are not zombies."""
    return {pid: p for pid, p in tree.items() if p.state not in "ZX"}


def _freeze(root: int, session_only: bool, deadline: float) -> dict[int, _Proc]:
    """SIGSTOP the tree, walked again each pass, until a pass finds no member still able to
    fork: a child born while its parent was being stopped is found on the next pass. Each
    process is stopped the moment the walk reads it, before its children are listed, so a
    chain of forks has the least time to move on. The caller (os.getpid()) runs on."""
    sent: set[tuple[int, int]] = set()
    while True:
        fresh = busy = 0

        def stop(pid: int, p: _Proc) -> None:
            nonlocal fresh, busy
            if pid == os.getpid() or p.state in _CANNOT_FORK or p.exiting:
                return
            if p.state == "D" and (pid, p.start) in sent:
                return  # in the kernel with SIGSTOP pending: it stops before it runs again
            busy += 1
            if (pid, p.start) not in sent:
                fresh += 1
                sent.add((pid, p.start))
            send(pid, p.start, signal.SIGSTOP)

        tree = members(root, session_only, stop)
        if not busy or time.monotonic() > deadline:
            return tree
        if not fresh:
            time.sleep(0.001)  # only slow ones left: give them the CPU to stop


def _wait_gone(tree: dict[int, _Proc], deadline: float, reap: bool) -> None:
    """Until every process of tree is gone or a zombie, or the deadline. reap: reap this
    process's children meanwhile (only the shim may: genesis-par's belong to subprocess)."""
    while time.monotonic() < deadline:
        if reap:
            reap_children()
        if all(_gone(pid, p) for pid, p in tree.items()):
            return
        time.sleep(0.005)


def _gone(pid: int, was: _Proc) -> bool:
    now = _read(pid)
    return now is None or now.start != was.start or now.state in "ZX"


def stop_forcibly(root: int, bound_s: float = 10.0, session_only: bool = False) -> list[int]:
    """Freeze root's tree, kill it, and again until it is empty, root last; the pids left.

    Root outlives its descendants, so that an orphan re-parents to it (a subreaper), not to
    pid 1, where no walk would find it. Bounded: after bound_s the pids still alive are
    returned, never silently dropped."""
    deadline = time.monotonic() + bound_s
    reap = root == os.getpid()
    while True:
        tree = _freeze(root, session_only, deadline)
        others = {pid: p for pid, p in live(tree).items() if pid not in (root, os.getpid())}
        if not others:
            break
        if time.monotonic() > deadline:
            return sorted(others)
        for pid, p in others.items():
            send(pid, p.start, signal.SIGKILL)
        _wait_gone(others, deadline, reap)
    if root != os.getpid() and not session_only and root in live(tree):
        send(root, tree[root].start, signal.SIGKILL)
        _wait_gone({root: tree[root]}, deadline, reap)
    left = live(members(root, session_only=not reap))
    return sorted(pid for pid in left if pid != os.getpid())


def reap_children() -> None:
    """Reap every child of this process that has ended, waiting for none."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
