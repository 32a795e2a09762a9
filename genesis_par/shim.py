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
import os
import signal
import sys
import time
from types import FrameType

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> None:
    try:  # noqa: SIM105 (contextlib is not imported: it would slow every agent's start)
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the tree walk still applies
        pass


def _descendants() -> list[int]:
    """This process's descendants, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    stat = handle.read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _kill_descendants(grace_s: float = 1.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _descendants():
            try:  # noqa: SIM105
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            _reap()
            if not _descendants():
                return
            time.sleep(0.02)


FINISHING_GRACE_S = 2.5  # on genesis-par's death, an agent about to exit on its own may
SHIM_POLL_S = 0.05
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
            got = signal.sigtimedwait(_SHIM_SIGNALS, SHIM_POLL_S)  # SIGCHLD wakes us at once
            if got is not None and got.si_signo == signal.SIGUSR1:
                return None
        if deadline is not None:
            time.sleep(SHIM_POLL_S)
    return None


def _let_agents_answer(signum: int, frame: FrameType | None) -> None:
    """The supervisor signals the whole tree; the shim outlives the agent to report its status."""


def main(argv: list[str]) -> int:
    """Run the agent below this subreaper; its exit code, also written to the exit file."""
    parent, exit_file = int(argv[0]), argv[1]
    command = argv[argv.index("--") + 1 :]
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
        agent = os.posix_spawnp(command[0], command, os.environ, setsigmask=())
    except OSError as e:
        sys.stderr.write(f"genesis-par: cannot start {command[0]!r}: {e.strerror}\n")
        return 127
    ended = _reap_until(agent, None)
    if ended is None:  # genesis-par died: let a finishing agent finish, then stop the tree
        ended = _reap_until(agent, time.monotonic() + FINISHING_GRACE_S)
        if ended is not None:
            _write_exit(exit_file, ended)
        _kill_descendants()
        return 137
    # Written before anything else: if genesis-par dies now, resume still knows the agent ended.
    _write_exit(exit_file, ended)
    if _descendants():
        _kill_descendants()  # what the agent left running does not outlive it
    return ended[0]


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
