"""The shim each agent runs under: a child subreaper that dies with genesis-par.

Run as the agent's parent by `proc.run` (`genesis-par`'s Python, `PARENT_PID EXIT_FILE -- ARGV`).
Every descendant of the agent, even one that called setsid() or double-forked, stays below the
shim (Linux PR_SET_CHILD_SUBREAPER), where the supervisor finds it with one tree walk. If
genesis-par dies, even by SIGKILL, the kernel sends the shim SIGUSR1 (PR_SET_PDEATHSIG): an
agent about to finish gets a moment to, then the shim kills the whole tree. It imports nothing
but a few standard modules (not pathlib or contextlib, which cost more than the rest of its
start), so it starts fast: it runs once per attempt.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import sys
import time
from _collections_abc import Callable  # loaded at start-up already, unlike collections.abc
from types import FrameType

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> None:
    try:  # noqa: SIM105 (contextlib is not imported: it would slow every agent's start)
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the tree walk still applies
        pass


class _Proc:
    """One line of /proc/PID/stat (a plain class: typing would slow the shim's start)."""

    __slots__ = ("cpu_ticks", "exiting", "ppid", "rss_pages", "sid", "start", "state")

    def __init__(self, ppid: int, sid: int, state: str, start: int, exiting: bool) -> None:
        self.ppid, self.sid, self.state = ppid, sid, state
        self.start = start  # in clock ticks since boot: with the pid, names the process
        self.exiting = exiting
        self.cpu_ticks = self.rss_pages = 0  # user + system time; resident pages


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
            _reap()
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


def _reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _kill_descendants(grace_s: float = 1.0) -> None:
    """SIGTERM the shim's tree, then after grace_s freeze and kill what is left; say so if any
    process survives (in the attempt's log, the shim's stderr)."""
    me = os.getpid()
    for pid, p in live(members(me)).items():
        if pid != me:
            send(pid, p.start, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and set(live(members(me))) - {me}:
        _reap()
        time.sleep(0.02)
    left = stop_forcibly(me)
    _reap()
    if left:
        sys.stderr.write(
            f"genesis-par: could not stop {len(left)} processes the agent left: pids "
            f"{' '.join(map(str, left))} still run; stop them with `kill -9`\n"
        )


FINISHING_GRACE_S = 2.5  # on genesis-par's death, an agent about to exit on its own may
SHIM_POLL_S = 0.05
IDLE_WAIT_S = 1.0
_DEFAULTS = (signal.SIGPIPE, signal.SIGXFSZ)
_SHIM_SIGNALS = {signal.SIGUSR1, signal.SIGCHLD}  # blocked, and taken with sigtimedwait


def _write_exit(exit_file: str, ended: tuple[int, int]) -> None:
    """`<exit code> <peak resident bytes>`, replaced atomically."""
    with open(exit_file + ".tmp", "w") as handle:
        handle.write(f"{ended[0]} {ended[1]}")
    os.replace(exit_file + ".tmp", exit_file)


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _reap_until(agent: int, deadline: float | None) -> tuple[int, int] | None:
    """Reap children (re-parented orphans too) until the agent exits or the deadline passes;
    the agent's exit code and peak resident memory (the kernel's count, right even for an
    agent too short for the supervisor to sample).

    SIGUSR1 (genesis-par died) is blocked and taken with sigtimedwait, never by a handler,
    so no exit status can be lost between a wait and a signal."""
    while deadline is None or time.monotonic() < deadline:
        try:
            while (found := os.wait4(-1, os.WNOHANG))[0] > 0:
                if found[0] == agent:
                    return _exit_code(found[1]), found[2].ru_maxrss * 1024  # KiB on Linux
        except ChildProcessError:
            # cannot happen before the agent is reaped: never call a lost status success
            sys.stderr.write("genesis-par: the agent's exit status was lost\n")
            return 255, 0
        if deadline is None:
            # SIGCHLD and SIGUSR1 wake us at once (blocked, they wait for this call if they
            # come before it): the timeout is only a safety net, long so that a shim of a
            # sleeping agent costs no CPU
            got = signal.sigtimedwait(_SHIM_SIGNALS, IDLE_WAIT_S)
            if got is not None and got.si_signo == signal.SIGUSR1:
                return None
        if deadline is not None:
            time.sleep(SHIM_POLL_S)
    return None


CGROUP_VARIABLE = "GENESIS_PAR_CGROUP"  # set by proc for the shim only


def _join(cgroup: str) -> None:
    """Move this process into cgroup (its children are born there); if it cannot, the
    supervisor's SIGSTOP sweeps still stop the tree."""
    try:
        with open(cgroup + "/cgroup.procs", "w") as procs:
            procs.write(str(os.getpid()))
    except OSError as e:
        sys.stderr.write(f"genesis-par: could not join cgroup {cgroup}: {e.strerror}\n")


def _let_agents_answer(signum: int, frame: FrameType | None) -> None:
    """The supervisor signals the whole tree; the shim outlives the agent to report its status."""


def main(argv: list[str]) -> int:
    """Run the agent below this subreaper; its exit code, also written to the exit file."""
    parent, exit_file = int(argv[0]), argv[1]
    return supervise(parent, exit_file, argv[argv.index("--") + 1 :])


def supervise(parent: int, exit_file: str, command: list[str]) -> int:
    """Be the subreaper of one agent run with os.environ: start it, wait for it, write its exit
    code, stop what it left; if parent dies first, stop the whole tree. The exit code."""
    cgroup = os.environ.pop(CGROUP_VARIABLE, None)  # never the agent's to see
    if cgroup:  # the attempt's cgroup: the agent and all it starts are born in it
        _join(cgroup)
    signal.pthread_sigmask(signal.SIG_BLOCK, _SHIM_SIGNALS)
    signal.signal(signal.SIGINT, _let_agents_answer)
    signal.signal(signal.SIGTERM, _let_agents_answer)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGUSR1)
    if os.getppid() != parent:  # the supervisor died before the death signal was armed
        return 137
    try:
        # posix_spawn, not Popen: a dropped Popen reaps its child when collected, and the exit
        # status the loop below waits for would be lost. The agent starts with no signal blocked.
        # Python ignores SIGPIPE and SIGXFSZ; the agent gets them back as any program expects
        agent = os.posix_spawnp(command[0], command, os.environ, setsigmask=(), setsigdef=_DEFAULTS)
    except OSError as e:  # 127: not found, 126: found but not runnable (as a shell says)
        sys.stderr.write(f"genesis-par: cannot start {command[0]!r}: {e.strerror}\n")
        return 127 if e.errno == errno.ENOENT else 126
    ended = _reap_until(agent, None)
    if ended is None:  # genesis-par died: let a finishing agent finish, then stop the tree
        ended = _reap_until(agent, time.monotonic() + FINISHING_GRACE_S)
        if ended is not None:
            _write_exit(exit_file, ended)
        _kill_descendants()
        return 137
    # Written before anything else: if genesis-par dies now, resume still knows the agent ended.
    _write_exit(exit_file, ended)
    if set(live(members(os.getpid()))) - {os.getpid()}:
        _kill_descendants()  # what the agent left running does not outlive it
    return ended[0]


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
