"""Time to stop an agent's tree, and what escaped: the stop before issue 13 beside today's.

Two trees, each run below the shim as `proc.run` runs agents: 200 sleeping processes that
ignore SIGINT and SIGTERM, and an agent with re-forking chains (tests/agents/reforker.py).
The old stop signalled a listing of the tree once per signal (SIGINT, SIGTERM, SIGKILL); the
sweeps freeze the tree with SIGSTOP before they kill; with a cgroup v2 of the attempt's own
(where genesis-par may make one) the kernel freezes and kills it first. All get the same grace.

    python -m bench.stop_tree [--grace 0.1] [--rounds 1]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from genesis_par import cgroups, proc
from tests.reforking import Reforker, escaped

WIDE = textwrap.dedent("""\
    import os, signal, sys, time
    signal.signal(signal.SIGINT, signal.SIG_IGN); signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for _ in range(199):
        if os.fork() == 0:
            while True: time.sleep(1)
    open(sys.argv[1], "w").close()
    while True: time.sleep(1)
""")


def old_stop_tree(root: psutil.Process, grace_s: float) -> None:
    """The stop as it was (genesis_par/proc.py before issue 13)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        try:
            alive = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.send_signal(sig)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and _any_running(root):
            time.sleep(0.02)


def _any_running(root: psutil.Process) -> bool:
    try:
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return False
    return any(_running(p) for p in tree)


def _running(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def new_stop_tree(root: psutil.Process, grace_s: float, cgroup: Path | None = None) -> None:
    proc.stop_pid(root.pid, grace_s, cgroup)


Stop = Callable[..., None]


def one(
    tmp: Path,
    argv: list[str],
    ready: Path,
    stop: Stop,
    grace_s: float,
    cgroup: Path | None,
) -> float:
    """Seconds from the stop's start to the shim reaped."""
    env = dict(os.environ)
    shim = proc._spawn(argv, tmp, env, tmp / "log", False, tmp / "exit", cgroup)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"the tree did not start: {(tmp / 'log').read_text()[-500:]}")
        time.sleep(0.01)
    start = time.perf_counter()
    stop(psutil.Process(shim.pid), grace_s, *([cgroup] if cgroup else []))
    shim.kill()  # the old stop may leave it running after escapes; a no-op otherwise
    shim.wait()
    return time.perf_counter() - start


def wide(grace_s: float, stop: Stop, cgroup: Path | None) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        argv = [sys.executable, "-c", WIDE, str(tmp / "ready")]
        seconds = one(tmp, argv, tmp / "ready", stop, grace_s, cgroup)
        left = [
            p for p in psutil.process_iter(["cmdline"]) if str(tmp) in (p.info["cmdline"] or [])
        ]
        for p in left:
            with contextlib.suppress(psutil.Error):
                p.kill()
        return seconds, f"{len(left)} left running"


def reforking(grace_s: float, stop: Stop, cgroup: Path | None) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        agent = Reforker(tmp / "pids", tmp / "ready")
        try:
            seconds = one(tmp, agent.argv("--chains", "4"), agent.ready, stop, grace_s, cgroup)
            return seconds, escaped(agent, bound_s=3) or "none left running"
        finally:
            agent.kill_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grace", type=float, default=0.1, help="grace per gentle step")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    print(f"grace {args.grace:g}s per gentle step; seconds to stop, processes left running")
    for name, tree in (("200 processes", wide), ("4 re-forking chains", reforking)):
        for label, stop, in_cgroup in (
            ("old", old_stop_tree, False),
            ("sweeps", new_stop_tree, False),
            ("cgroup", new_stop_tree, True),
        ):
            if in_cgroup and cgroups.parent() is None:
                print(f"{name:>20}  {label}: no cgroup v2 genesis-par may make cgroups in here")
                continue
            for _ in range(args.rounds):
                cgroup = cgroups.new(cgroups.parent()) if in_cgroup else None
                try:
                    seconds, left = tree(args.grace, stop, cgroup)
                finally:
                    cgroups.remove(cgroup)
                print(f"{name:>20}  {label}: {seconds:6.2f} s, {left}", flush=True)


if __name__ == "__main__":
    main()
