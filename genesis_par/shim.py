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

import errno
import os
import signal
import sys
import time
from types import FrameType

from genesis_par.proc_tree import live, members, reap_children, send, stop_forcibly

TYPE_CHECKING = False  # typing and collections would slow every shim's start
if TYPE_CHECKING:
    from collections.abc import MutableMapping

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> None:
    import ctypes  # here: the run's own process imports this module and never calls this

    try:  # noqa: SIM105 (contextlib is not imported: it would slow every agent's start)
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the tree walk still applies
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
        reap_children()
        time.sleep(0.02)
    left = stop_forcibly(me)
    reap_children()
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
SYS_CLONE3 = 435  # the same number on every architecture
CLONE_INTO_CGROUP = 0x200000000


def fork_into(cgroup: str) -> int | None:
    """os.fork(), the child born in cgroup (clone3 with CLONE_INTO_CGROUP): the child's pid,
    0 in the child, None where the kernel refuses (older than 5.7, a seccomp filter, not a
    cgroup v2 folder). Moving a process into a cgroup waits for the kernel's RCU grace
    period, 7-30 ms each time (issue 19); a process born there waits for nothing.

    For the warden only, which has one thread: Python's own fork bookkeeping (its locks, its
    other threads) has nothing to do there."""
    import ctypes

    try:
        folder = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        args = (ctypes.c_uint64 * 11)(CLONE_INTO_CGROUP, 0, 0, 0, signal.SIGCHLD)
        args[10] = folder  # struct clone_args: flags, pidfd, tids, exit_signal, ..., cgroup
        syscall = ctypes.CDLL(None, use_errno=True).syscall
        syscall.restype = ctypes.c_long
        pid = int(syscall(ctypes.c_long(SYS_CLONE3), ctypes.byref(args), ctypes.sizeof(args)))
    finally:
        os.close(folder)
    return None if pid < 0 else pid


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
    return supervise(parent, exit_file, argv[argv.index("--") + 1 :], os.environ)


def supervise(
    parent: int,
    exit_file: str,
    command: list[str],
    env: MutableMapping[str, str],
    born_in: bool = False,
) -> int:
    """Be the subreaper of one agent run with env: start it, wait for it, write its exit code,
    stop what it left; if parent dies first, stop the whole tree. The exit code. born_in: the
    shim was born in the attempt's cgroup (fork_into), which it need not join. The program is
    looked up on the PATH of this process's own environment."""
    cgroup = env.pop(CGROUP_VARIABLE, None)  # never the agent's to see
    if cgroup and not born_in:  # the attempt's cgroup: the agent and all it starts are born in it
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
        agent = os.posix_spawnp(command[0], command, env, setsigmask=(), setsigdef=_DEFAULTS)
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
