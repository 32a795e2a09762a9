"""N tasks of `sleep S` on a local Ray cluster (3 nodes x 2 slots): genesis-par's ray backend
against Ray alone doing the same sleeps (the floor), and against the local backend.

The floor: a fresh Python driver that joins the cluster with the same runtime_env as
genesis-par and runs one Ray task per sleep, each holding one `genesis_agent` slot; timed
from its start to its end, like genesis-par's whole `run --backend ray --no-merge` command
(Python start, joining the cluster, bundles out and home, state, conflict probe). Each Ray
job starts its own worker processes (a runtime_env keeps it from borrowing idle ones): both
pay that. Overhead per task = (genesis-par - floor) x slots / tasks: the slot-seconds each
task adds. A second pair of figures repeats the sleeps in the same driver (workers warm).

    python -m bench.distributed [--tasks 40] [--sleep 2] [--address HOST:PORT]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.common import GENESIS, env, init_repo

NODES = ("127.0.0.3", "127.0.0.4", "127.0.0.5")
SLOTS = 2


def plan_text(tasks: int, sleep: float, parallel: int) -> str:
    body = "".join(
        f'[[tasks]]\nid = "t{i}"\ncommand = "sleep {sleep:g}; echo t{i} > out-t{i}.txt"\n'
        for i in range(tasks)
    )
    return f'version = 1\n[run]\nname = "bench"\nmax_parallel = {parallel}\n{body}'


def timed_run(repo: Path, plan: Path, *extra: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [*GENESIS, "run", str(plan), "--no-merge", "--json", *extra],
        cwd=repo,
        env=env(),
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"genesis-par run failed ({done.returncode}): {done.stderr[-2000:]}")
    return took


FLOOR = """
import subprocess, sys, time
import ray
tasks, sleep = int(sys.argv[1]), float(sys.argv[2])
ray.init(log_to_driver=False, logging_level="WARNING", namespace="genesis-par",
         runtime_env={"env_vars": {"RAY_kill_child_processes_on_worker_exit": "0"}})
@ray.remote(num_cpus=0, resources={"genesis_agent": 1}, max_retries=0)
def sleep_once(seconds):
    return subprocess.run(["sleep", f"{seconds:g}"], check=True).returncode
ray.get([sleep_once.remote(sleep) for _ in range(tasks)])
start = time.perf_counter()
ray.get([sleep_once.remote(sleep) for _ in range(tasks)])
print(time.perf_counter() - start)
"""


def ray_floor(address: str, tasks: int, sleep: float) -> tuple[float, float]:
    """Ray alone, the same sleeps as tasks holding one slot each: (whole driver, warm)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", FLOOR, str(tasks), str(sleep)],
        env={**env(), "RAY_ADDRESS": address},
        capture_output=True,
        text=True,
        check=True,
    )
    whole = time.perf_counter() - start
    warm = float(done.stdout.strip())
    return whole - warm, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--sleep", type=float, default=2.0)
    parser.add_argument("--address", help="an existing cluster (3 nodes x 2 slots)")
    args = parser.parse_args()

    slots = len(NODES) * SLOTS
    tmp = Path(tempfile.mkdtemp(prefix="bench-distributed-"))
    try:
        plan = tmp / "plan.toml"
        plan.write_text(plan_text(args.tasks, args.sleep, slots))
        ideal = -(-args.tasks // slots) * args.sleep
        with _cluster(args.address) as address:
            floor, warm_floor = ray_floor(address, args.tasks, args.sleep)
            ray_repo = init_repo(tmp / "ray", {"README.md": "bench\n"})
            ray_run = timed_run(ray_repo, plan, "--backend", "ray", "--ray-address", address)
        local_repo = init_repo(tmp / "local", {"README.md": "bench\n"})
        local_run = timed_run(local_repo, plan, "--backend", "local")
        per_task = (ray_run - floor) * slots / args.tasks
        print(f"{args.tasks} tasks of sleep {args.sleep:g} on {len(NODES)} nodes x {SLOTS} slots")
        print(f"  ideal (sleeps only)            {ideal:7.2f} s")
        print(
            f"  Ray alone (the floor)          {floor:7.2f} s  (warm workers: {warm_floor:.2f} s)"
        )
        print(
            f"  genesis-par --backend ray      {ray_run:7.2f} s  ({ray_run / floor:.2f}x the floor)"
        )
        print(
            f"  genesis-par --backend local    {local_run:7.2f} s  (max_parallel {slots}, one machine)"
        )
        print(f"  overhead per task (ray)        {per_task:7.2f} s  of a slot")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _cluster(address: str | None) -> Iterator[str]:
    if address:
        yield address
        return
    from tests.ray_cluster import local_cluster  # head + 3 nodes on loopback, ended by pid

    with local_cluster(slots=SLOTS, nodes=NODES) as cluster:
        yield cluster.address


if __name__ == "__main__":
    main()
