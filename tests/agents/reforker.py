"""A test agent that tries to outrun its supervisor (issue 13).

usage: reforker.py PIDS_FILE READY_FILE [--daemon] [--chains N] [--lifetime S] [--kill-parent]

It ignores SIGINT and SIGTERM and re-forks forever: fork, the parent exits, the child does the
same, so the live process is never the one a listing saw a moment ago. Every generation
appends its pid and start time to PIDS_FILE; the first writes READY_FILE. A chain ends when
READY_FILE.stop exists (the test's cleanup: no listing can catch a chain, a file can). --chains N runs N such chains side
by side. --daemon first leaves the session (setsid) and double-forks, and the agent itself
exits 0 once the chains run: what is left is a daemon the supervisor must still find.
--kill-parent first SIGKILLs its parent (the supervisor's shim). A chain that escaped gives up after --lifetime seconds (30 by default), so that a failing test
does not leave a machine forking forever.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def chain(pids_fd: int, ready: str, first: bool, until: float) -> None:
    stop = ready + ".stop"
    while time.monotonic() < until and not os.path.exists(stop):
        with open("/proc/self/stat", "rb") as handle:
            start = handle.read().rsplit(b")", 1)[1].split()[19]  # names it beyond pid reuse
        os.write(pids_fd, b"%d %s\n" % (os.getpid(), start))
        if first:
            os.close(os.open(ready, os.O_WRONLY | os.O_CREAT, 0o644))
            first = False
        if os.fork() != 0:
            os._exit(0)
    os._exit(3)


def main() -> None:
    pids, ready = sys.argv[1], sys.argv[2]
    chains = int(option("--chains", "1"))
    until = time.monotonic() + float(option("--lifetime", "30"))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pids_fd = os.open(pids, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    if "--kill-parent" in sys.argv:
        os.kill(os.getppid(), signal.SIGKILL)
    if "--daemon" in sys.argv:
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                start(pids_fd, ready, chains, until)
            os._exit(0)
        while not os.path.exists(ready):
            time.sleep(0.001)
        os._exit(0)
    start(pids_fd, ready, chains, until)


def start(pids_fd: int, ready: str, chains: int, until: float) -> None:
    """Fork the chains; stay, like an agent whose tools misbehave, until the lifetime ends."""
    for n in range(chains):
        if os.fork() == 0:
            chain(pids_fd, ready, n == 0, until)
    while time.monotonic() < until:
        time.sleep(0.1)
    os._exit(3)


def option(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


if __name__ == "__main__":
    main()
