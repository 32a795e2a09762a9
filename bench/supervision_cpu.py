"""genesis-par's own CPU while agents sleep: N sleeping agents under proc.run, one thread each
(as a run has them), on both supervision paths: the run's warden and a shim per attempt.

Counted: the supervising process's CPU, and for the warden path the warden's with its forks
(each attempt's shim, reaped by it); as a share of one core over the agents' life."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from bench.common import env

PROBE = """
import os, resource, sys, tempfile, threading, time
from pathlib import Path
from genesis_par import proc, warden_link
agents, seconds = int(sys.argv[1]), float(sys.argv[2])
tmp = Path(tempfile.mkdtemp())
def one(i):
    proc.run(["sleep", str(seconds)], cwd=tmp, env=dict(os.environ), log_path=tmp / f"{i}.log",
             limits=proc.Limits(timeout_s=3600), cancel=threading.Event())
def warden():
    link = warden_link._link
    if link is None:
        return 0.0
    fields = open(f"/proc/{link.pid}/stat").read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
def mine():
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
one(-1)  # the warden, if any, started before the measure
w0, m0, t0 = warden(), mine(), time.monotonic()
threads = [threading.Thread(target=one, args=(i,)) for i in range(agents)]
for t in threads: t.start()
for t in threads: t.join()
wall = time.monotonic() - t0
print(f"{100 * (mine() - m0 + warden() - w0) / wall:.2f}")
"""


def share(path: str, agents: int, seconds: float) -> float:
    """Percent of one core genesis-par's supervision used, on one path."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(agents), str(seconds)],
        env={**env(), "GENESIS_PAR_SUPERVISOR": path},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(f"{args.agents} agents sleeping {args.seconds:g} s; load {os.getloadavg()[0]:.1f}")
    for path in ("warden", "shim"):
        print(f"  {path:7} {share(path, args.agents, args.seconds):5.2f} % of a core")


if __name__ == "__main__":
    main()
