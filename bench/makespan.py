"""Makespan of random DAGs of sleeping tasks through `genesis-par run --no-merge`.

Each DAG (seeded, the seed printed) has 30-40 tasks in a few levels; a task sleeps 0.2-1.5 s and
declares that as its `cost`. Per DAG, against the lower bound max(critical path, work / slots):
a zero-overhead simulation of the same scheduler (`Schedule.decide` on a simulated clock), the
real run's span (its first task's `starting` event to its last task's end, from the state) and
the whole command's wall time. The gap between the span and the simulation, spread over the
tasks and the slots, is what each task costs genesis-par.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.common import GENESIS, init_repo, sh

FINISHED = ("succeeded", "failed", "skipped", "cancelled")


@dataclass(frozen=True)
class Dag:
    seed: int
    costs: dict[str, float]  # task -> seconds it sleeps, also its declared cost
    deps: dict[str, list[str]]  # task -> the tasks it depends on
    levels: int


@dataclass(frozen=True)
class Run:
    """One real run, from its state's events."""

    span: float  # first task's `starting` to last task's end
    whole: float  # the whole `genesis-par run` command
    recorded: float  # the command's start to the run's record in the state (its created_at)
    before: float  # the command's start to the first task's `starting`
    after: float  # the last task's end to the command's exit
    launch: float  # mean of a task's `starting` to its agent's `started`
    late_exit: float  # mean of `started` to `exited`, less the task's sleep
    finish: float  # mean of `exited` to `succeeded` (its commit and record)
    idle: float  # slot-seconds of the span with no task in flight


@dataclass(frozen=True)
class Result:
    critical: float  # the costliest chain of dependencies
    bound: float  # max(critical path, work / slots)
    simulated: float
    run: Run


def random_dag(seed: int) -> Dag:
    """30-40 tasks in 3-5 levels; each task past the first level depends on one task of the
    level before and on up to two of any earlier level."""
    rng = random.Random(seed)
    count, levels = rng.randint(30, 40), rng.randint(3, 5)
    by_level: list[list[str]] = [[] for _ in range(levels)]
    for i in range(count):
        level = i if i < levels else rng.randrange(levels)  # every level holds a task
        by_level[level].append(f"t{i:02d}")
    costs: dict[str, float] = {}
    deps: dict[str, list[str]] = {}
    for level, names in enumerate(by_level):
        earlier = [n for lower in by_level[:level] for n in lower]
        for name in names:
            costs[name] = round(rng.uniform(0.2, 1.5), 2)
            if level == 0:
                deps[name] = []
                continue
            chosen = {rng.choice(by_level[level - 1])}
            chosen.update(rng.sample(earlier, min(len(earlier), rng.randint(0, 2))))
            deps[name] = sorted(chosen)
    return Dag(seed, costs, deps, levels)


def plan_text(dag: Dag, slots: int) -> str:
    lines = ["version = 1", "[run]", 'name = "makespan"', f"max_parallel = {slots}"]
    for name in sorted(dag.costs):
        cost = dag.costs[name]
        lines += ["[[tasks]]", f'id = "{name}"', f'command = "sleep {cost}"', f"cost = {cost}"]
        if dag.deps[name]:
            lines.append("depends_on = [" + ", ".join(f'"{d}"' for d in dag.deps[name]) + "]")
    return "\n".join(lines) + "\n"


def critical_path(dag: Dag) -> float:
    """The costliest chain of dependencies, in seconds."""
    finish: dict[str, float] = {}

    def end(name: str) -> float:  # earliest end with unbounded slots
        if name not in finish:
            finish[name] = dag.costs[name] + max(map(end, dag.deps[name]), default=0.0)
        return finish[name]

    return max(map(end, dag.costs))


def simulate(plan_path: Path) -> float:
    """The makespan genesis-par's scheduler reaches when starting a task and ending one cost
    nothing: start what `decide` says, jump to the next end, repeat."""
    from genesis_par.plan.parse import load
    from genesis_par.run.scheduler import Schedule

    plan = load(plan_path)
    schedule = Schedule.from_tasks(plan.tasks, plan.run.strategy)
    cost = {t.id: t.cost for t in plan.tasks}
    ends: dict[str, float] = {}  # running task -> when it ends
    done: set[str] = set()
    now = 0.0
    while True:
        decision = schedule.decide(
            plan.run.max_parallel, succeeded=done, running=set(ends), finished=done
        )
        for task_id in decision.start:
            ends[task_id] = now + cost[task_id]
        if not ends:
            return now
        now = min(ends.values())
        for task_id in [t for t, end in ends.items() if end <= now]:
            del ends[task_id]
            done.add(task_id)


def real_run(tmp: Path, plan_path: Path, dag: Dag, slots: int) -> Run:
    """One `genesis-par run --no-merge` in a fresh repository, timed whole and from its
    events."""
    repo = tmp / "repo"
    if repo.exists():
        shutil.rmtree(repo)
    init_repo(repo, {"README": "makespan\n"})
    start, clock = time.perf_counter(), time.time()  # the state's times are time.time()
    sh([*GENESIS, "run", str(plan_path), "--no-merge"], cwd=repo)
    whole = time.perf_counter() - start
    with sqlite3.connect(repo / ".git" / "genesis-par" / "state.db") as db:
        rows = db.execute("SELECT task, kind, at FROM events ORDER BY id").fetchall()
        created = db.execute("SELECT created_at FROM runs").fetchone()[0]
    at: dict[tuple[str, str], float] = {}
    for task, kind, when in rows:
        at.setdefault((task, kind), when)  # each happens once: no retries in these plans
    tasks = list(dag.costs)
    failed = [t for t in tasks if (t, "succeeded") not in at]
    if failed:
        raise SystemExit(f"tasks that did not succeed: {failed}; events: {rows}")

    def mean(first: str, then: str, less: dict[str, float] | None = None) -> float:
        gaps = [at[t, then] - at[t, first] - (less or {}).get(t, 0.0) for t in tasks]
        return sum(gaps) / len(gaps)

    begin = min(at[t, "starting"] for t in tasks)
    span = max(at[t, "succeeded"] for t in tasks) - begin
    busy = sum(at[t, "succeeded"] - at[t, "starting"] for t in tasks)
    return Run(
        span,
        whole,
        created - clock,
        begin - clock,
        whole - (begin - clock) - span,
        mean("starting", "started"),
        mean("started", "exited", dag.costs),
        mean("exited", "succeeded"),
        span * slots - busy,
    )


def measure(tmp: Path, dag: Dag, slots: int, rounds: int) -> Result:
    plan_path = tmp / f"plan-{dag.seed}.toml"
    plan_path.write_text(plan_text(dag, slots))
    runs = [real_run(tmp, plan_path, dag, slots) for _ in range(rounds)]
    critical = critical_path(dag)
    best = min(runs, key=lambda r: r.span)
    work = sum(dag.costs.values())
    return Result(critical, max(critical, work / slots), simulate(plan_path), best)


def report(dag: Dag, result: Result, slots: int) -> list[str]:
    tasks, run = len(dag.costs), result.run
    per_task = (run.span - result.simulated) / tasks * slots
    bound, work = result.bound, sum(dag.costs.values())

    def ratio(seconds: float) -> str:
        return f"{seconds:6.2f} s  {seconds / bound:.3f}x"

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.0f} ms"

    return [
        f"seed {dag.seed}: {tasks} tasks, {dag.levels} levels, work {work:.2f} s, lower bound"
        f" max(critical path {result.critical:.2f} s, work / {slots} {work / slots:.2f} s)"
        f" = {bound:.2f} s",
        f"  simulated (same scheduler, zero overhead)  {ratio(result.simulated)}",
        f"  real span (first start to last end)        {ratio(run.span)}",
        f"  real, whole command                        {ratio(run.whole)}",
        f"    outside the span: {run.before:.2f} s before the first task (the run recorded after"
        f" {run.recorded:.2f} s), {run.after:.2f} s after the last (conflict probe, exit)",
        f"  per-task overhead (span - simulated) / {tasks} * {slots}: {ms(per_task)}",
        f"    per task: starting -> agent started {ms(run.launch)}, agent's exit after its"
        f" sleep {ms(run.late_exit)}, exited -> succeeded {ms(run.finish)}; slots idle"
        f" {run.idle:.2f} slot-s (simulated: {result.simulated * slots - work:.2f})",
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--slots", type=int, default=4, help="max_parallel")
    parser.add_argument("--rounds", type=int, default=1, help="runs per DAG, shortest span kept")
    parser.add_argument(
        "--dir",
        type=Path,
        help="where the repositories are made (default: the temp dir); /dev/shm leaves out the "
        "disk",
    )
    args = parser.parse_args()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{now}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    where = args.dir or Path(tempfile.gettempdir())
    print(
        f"python {sys.version.split()[0]}, max_parallel {args.slots}, best of {args.rounds},"
        f" repositories in {where}"
    )
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp_name:
        for seed in args.seeds:
            dag = random_dag(seed)
            print(
                "\n".join(
                    report(dag, measure(Path(tmp_name), dag, args.slots, args.rounds), args.slots)
                )
            )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
