"""N trivial tasks through `genesis-par run` beside a shell script doing the same by hand.

The script: `git worktree add` per task, the command, `git add -A && git commit`, all under
`xargs -P <max_parallel>`. Beside the best of each (the ratio of bests), every round and the
medians: on a disk whose speed drops after a burst of writes, the best belongs to whichever run
came first after a quiet spell. genesis-par also records state, supervises each process tree and,
unless --no-merge, probes conflicts and merges; both figures are printed, then where
genesis-par's time goes (see `breakdown`), ending with the CPU each side spends in all: a ratio
well above the CPU's means the cores wait (on genesis-par's start-up, or its Python).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import GENESIS, best_of, env, init_repo, sh

SCRIPT = """\
set -e
task="$1"
flock .git/byhand.lock git worktree add -q -b "byhand/$task" ".byhand/$task" main  # unlocked, it races
cd ".byhand/$task"
echo "$task" > "out-$task.txt"
git add -A && git commit -q -m "$task"
"""


def plan_text(n: int, parallel: int) -> str:
    tasks = "".join(
        f'[[tasks]]\nid = "t{i}"\ncommand = "echo t{i} > out-t{i}.txt"\n' for i in range(n)
    )
    return f'version = 1\n[run]\nname = "bench"\nmax_parallel = {parallel}\n{tasks}'


def fresh(tmp: Path, files: dict[str, str]) -> Path:
    repo = tmp / "repo"
    if repo.exists():
        shutil.rmtree(repo)
    return init_repo(repo, files)


def in_fresh(tmp: Path, files: dict[str, str], work: Callable[[Path], None]) -> float:
    """Seconds work takes in a new repository. Making it (and removing the last one, whose
    freed blocks this machine's disk discards) is not timed, and is synced to disk first."""
    repo = fresh(tmp, files)
    os.sync()
    start = time.perf_counter()
    work(repo)
    return time.perf_counter() - start


def git_processes(trace: Path) -> tuple[int, int, float, int]:
    """(git processes, of which top-level, seconds in the top-level ones, long-lived sessions)
    from a GIT_TRACE2 event file: a process started by another git (worktree add's checkout)
    is counted but its time is its parent's; a long-lived session of genesis-par's
    (`update-ref --stdin`, `cat-file --batch-check`: gitops/sessions.py) is counted apart, its
    time being the run's."""
    count = top = sessions = 0
    seconds = 0.0
    long_lived: set[str] = set()
    for line in trace.read_text().splitlines():
        event = json.loads(line)
        sid, kind = event.get("sid", ""), event.get("event")
        if kind == "start" and _session(event.get("argv", [])):
            long_lived.add(sid)
            sessions += 1
        elif kind == "start":
            count += 1
            top += "/" not in sid
        elif kind == "exit" and "/" not in sid and sid not in long_lived:
            seconds += float(event.get("t_abs", 0.0))
    return count, top, seconds, sessions


def _session(argv: list[str]) -> bool:
    """Whether argv is one of gitops.sessions' long-lived processes."""
    words = set(argv)
    checks = "cat-file" in words and any(w.startswith("--batch-check") for w in words)
    return checks or {"update-ref", "-m", "--stdin"} <= words


def state_write_cost(state_dir: Path, events: int) -> float:
    """Seconds for `events` transactions of one event each, written the way the run store
    writes them during a run (same file system, same pragmas), in a fresh store."""
    from genesis_par.state import Store
    from genesis_par.state.events import AttemptBegun

    state_dir.mkdir(parents=True, exist_ok=True)
    with Store.open(state_dir) as store:
        store.create_run(
            "x",
            plan_path="p",
            plan_text="",
            base_ref="main",
            base_commit="0" * 40,
            into_ref="i",
            pid=1,
            create_time=0.0,
            tasks={"t": "b"},
        )
        start = time.perf_counter()
        for i in range(events):
            store.record_event("x", "t", AttemptBegun(i, "l"))
        return time.perf_counter() - start


def shim_cost(tmp: Path, n: int) -> tuple[float, float]:
    """Seconds to run `true` n times under genesis-par's supervision (proc.run, one after
    another) and with a bare subprocess.run: the difference is what supervising costs."""
    import subprocess
    import threading

    from genesis_par import proc

    cancel = threading.Event()
    log = tmp / "shim.log"

    def supervised() -> None:
        for _ in range(n):
            proc.run(
                ["true"], cwd=tmp, env=env(), log_path=log, limits=proc.Limits(), cancel=cancel
            )

    def bare() -> None:
        for _ in range(n):
            subprocess.run(["true"], cwd=tmp, check=True)

    return best_of(1, supervised), best_of(1, bare)


# `genesis-par` that writes its own process's CPU (its threads; not its git, warden or agents)
# to $GP_BENCH_OWN_CPU as it exits
_OWN_CPU = [
    sys.executable,
    "-c",
    "import atexit, os, runpy\n"
    "out = os.environ['GP_BENCH_OWN_CPU']\n"
    "atexit.register(lambda: open(out, 'w').write(str(sum(os.times()[:2]))))\n"
    "runpy.run_module('genesis_par', run_name='__main__', alter_sys=True)",
]


def cpu_seconds(work: Callable[[], object]) -> float:
    """CPU time (user and system) of every process work starts and waits for, all the way
    down (genesis-par waits for its warden, which waits for the attempts' forks)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    work()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def cpu_split(
    tmp: Path, files: dict[str, str], plan: Path, by_hand: Callable[[Path], None], runs: int = 3
) -> tuple[float, float, float]:
    """Medians of (the script's CPU, genesis-par's, genesis-par's own process's) over runs
    alternated: on this many cores a run takes at least its CPU divided by them."""
    hand, tool, own = [], [], []
    own_file = tmp / "own-cpu"
    args = [*_OWN_CPU, "run", str(plan), "--no-merge"]
    extra = {"GP_BENCH_OWN_CPU": str(own_file)}
    for _ in range(runs):
        hand.append(cpu_seconds(functools.partial(by_hand, fresh(tmp, files))))
        tool.append(cpu_seconds(functools.partial(sh, args, fresh(tmp, files), extra=extra)))
        own.append(float(own_file.read_text()))
    return statistics.median(hand), statistics.median(tool), statistics.median(own)


def breakdown(
    tmp: Path, files: dict[str, str], plan: Path, tasks: int, by_hand: Callable[[Path], None]
) -> list[str]:
    """Where genesis-par's time goes, each part measured on its own in this run."""
    python = best_of(5, lambda: sh([sys.executable, "-c", "pass"]))
    version = best_of(5, lambda: sh([*GENESIS, "--version"]))
    one = tmp / "one.toml"
    one.write_text(plan_text(1, 1))
    single = min(
        in_fresh(
            tmp, files, lambda repo: _quiet(sh([*GENESIS, "run", str(one), "--no-merge"], repo))
        )
        for _ in range(3)
    )
    repo = fresh(tmp, files)
    trace = tmp / "trace2.json"
    trace.unlink(missing_ok=True)
    traced = _timed(
        lambda: sh(
            [*GENESIS, "run", str(plan), "--no-merge"],
            cwd=repo,
            extra={"GIT_TRACE2_EVENT": str(trace)},
        )
    )
    count, top, git_s, sessions = git_processes(trace)
    db = repo / ".git" / "genesis-par" / "state.db"
    with sqlite3.connect(db) as handle:
        events = handle.execute("SELECT count(*) FROM events").fetchone()[0]
    state_s = state_write_cost(tmp / "cost-state", events)
    supervised, bare = shim_cost(tmp, tasks)
    hand_cpu, tool_cpu, own_cpu = cpu_split(tmp, files, plan, by_hand)
    return [
        "where genesis-par's time goes (each part measured alone, in this run):",
        f"  start-up: python -c pass {python * 1000:.0f} ms, genesis-par --version "
        f"{version * 1000:.0f} ms, run of one task {single * 1000:.0f} ms",
        f"  per-task git: {count / tasks:.1f} git processes per task ({top / tasks:.1f} started "
        f"by genesis-par, the rest by git itself) and {sessions} long-lived for the run; "
        f"{git_s:.2f} s in the others ({git_s / tasks * 1000:.0f} ms per task, serial sum; "
        f"traced run {traced:.2f} s)",
        f"  supervision: {tasks} x `true` supervised {supervised:.2f} s against "
        f"{bare:.2f} s bare: {(supervised - bare) / tasks * 1000:.1f} ms per attempt",
        f"  state: {events} events, {state_s / events * 1000:.2f} ms per transaction, "
        f"{state_s:.2f} s in all",
        f"  CPU (user + system of every process, medians of 3 runs each): by hand "
        f"{hand_cpu:.2f} s; "
        f"genesis-par run --no-merge {tool_cpu:.2f} s, of which its own process "
        f"{own_cpu:.2f} s and its git, warden and agents {tool_cpu - own_cpu:.2f} s "
        f"(on {os.cpu_count()} cores a run lasts at least its CPU / {os.cpu_count()})",
    ]


def _quiet(output: str) -> None:
    """What a timed command printed, dropped."""


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-whole", action="store_true", help="skip the run with merges")
    parser.add_argument(
        "--tool-first",
        action="store_true",
        help="genesis-par's run opens the first round (the script does by default): on a disk "
        "that is fast for one burst after a quiet spell, whichever runs first gets it",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        help="where the repositories are made (default: the temp dir); /dev/shm leaves out the "
        "disk, whose speed decides most of a checkout's cost, to show genesis-par's own",
    )
    args = parser.parse_args()
    files = {f"src/f{i}.txt": f"file {i}\n" for i in range(args.files)}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp_name:
        tmp = Path(tmp_name)
        plan = tmp / "plan.toml"
        plan.write_text(plan_text(args.tasks, args.parallel))
        script = tmp / "task.sh"
        script.write_text(SCRIPT)
        ids = "\n".join(f"t{i}" for i in range(args.tasks)) + "\n"

        def by_hand(repo: Path) -> None:
            sh(
                ["xargs", "-P", str(args.parallel), "-n", "1", "sh", str(script)],
                cwd=repo,
                input=ids,
            )

        def tool(*extra: str) -> Callable[[Path], None]:
            return lambda repo: _quiet(sh([*GENESIS, "run", str(plan), *extra], cwd=repo))

        # Interleaved, best of five each: this machine's disk speed drifts between minutes.
        times: dict[str, list[float]] = {"hand": [], "no_merge": [], "whole": []}
        # The order turns each round: this disk is fastest for whatever runs first after a
        # quiet spell, and a fixed order would hand that to one side.
        kinds = [("hand", by_hand), ("no_merge", tool("--no-merge"))]
        kinds += [] if args.no_whole else [("whole", tool())]
        if args.tool_first:
            kinds = kinds[1:] + kinds[:1]
        for round_ in range(args.rounds):
            turn = round_ % len(kinds)
            for name, work in kinds[turn:] + kinds[:turn]:
                times[name].append(in_fresh(tmp, files, work))
        hand, no_merge = min(times["hand"]), min(times["no_merge"])
        parts = breakdown(tmp, files, plan, args.tasks, by_hand)
    where = args.dir or Path(tempfile.gettempdir())
    print(
        f"{args.tasks} trivial tasks, max_parallel {args.parallel}, {args.files}-file repository "
        f"in {where}, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"by hand (worktree add + command + commit, xargs -P)  {hand:6.2f} s")
    print(
        f"genesis-par run --no-merge (tasks + conflict probe)  {no_merge:6.2f} s"
        f"  ratio {no_merge / hand:.2f}"
    )
    if times["whole"]:
        whole = min(times["whole"])
        print(
            f"genesis-par run (tasks + conflicts + merge queue)    {whole:6.2f} s"
            f"  ratio {whole / hand:.2f}"
        )
    middle = {name: statistics.median(t) for name, t in times.items() if t}
    for name, label in (("hand", "by hand"), ("no_merge", "--no-merge"), ("whole", "run")):
        if times[name]:
            every = " ".join(f"{t:.2f}" for t in times[name])
            ratio = "" if name == "hand" else f", ratio {middle[name] / middle['hand']:.2f}"
            print(f"  every round, {label}: {every} (median {middle[name]:.2f}{ratio})")
    print("\n".join(parts))


if __name__ == "__main__":
    main()
