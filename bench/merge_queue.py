"""The merge queue: landing N clean branches beside a plain `git merge` loop (no check), and
the batched queue (issue 16) beside the one-by-one queue with a merge check that takes a
fixed time, with 0, 1 and 3 branches breaking it.

    python -m bench.merge_queue                       # both
    python -m bench.merge_queue --only checks --branches 16 --sleep 1
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.common import git, init_repo, sh
from genesis_par import gitops
from genesis_par.land.checks import BatchSettings
from genesis_par.land.queue import Candidate, QueueSpec, land
from genesis_par.plan.model import Command, Task
from genesis_par.worktrees.allocate import merge_worktree

# The check: a fixed wait, then a real (small) test run over the tree: every module imports
# and none says it is broken. Each run appends a line to runs.txt first.
CHECK = """
import pathlib, sys, time
folder = pathlib.Path(sys.argv[1])
with (folder / "runs.txt").open("a") as f:
    f.write("run\\n")
time.sleep(float(sys.argv[2]))
for path in sorted(pathlib.Path("src").glob("*.py")):
    scope = {}
    exec(compile(path.read_text(), str(path), "exec"), scope)
    if scope.get("broken"):
        print(f"{path}: broken"); sys.exit(1)
print("ok")
"""

CONFIGS = [
    ("batch = 1", BatchSettings(1, 1, 0)),
    ('batch = "auto"', BatchSettings(None, 1, 0)),
    ('"auto", parallel_checks = 2', BatchSettings(None, 2, 0)),
]


def branches(repo: Path, n: int, culprits: set[int]) -> list[Candidate]:
    """n branches, each changing its own module; the culprits' modules say broken."""
    out = []
    for i in range(n):
        git(repo, "checkout", "-q", "-b", f"b{i}", "main")
        extra = "broken = True\n" if i in culprits else ""
        (repo / f"src/m{i}.py").write_text(f"value = {i} + 1\n{extra}")
        git(repo, "commit", "-q", "-am", f"b{i}")
        task = Task(f"b{i}", Command(("true",)), index=i)
        out.append(Candidate(task, f"b{i}", git(repo, "rev-parse", f"b{i}"), frozenset()))
    git(repo, "checkout", "-q", "main")
    return out


def with_checks(n: int, sleep_s: float) -> None:
    """Each culprit count, each configuration: wall time, check runs, the published tree."""
    files = {f"src/m{i}.py": f"value = {i}\n" for i in range(200)}
    print(f"{n} branches, merge check = {sleep_s:g} s wait + importing 200 modules")
    print(f"{'culprits':>8}  {'configuration':<30} {'wall s':>7} {'checks':>6}  same tree")
    for culprits in ({}, {5}, {3, 8, 13}):
        with tempfile.TemporaryDirectory() as tmp:
            repo = init_repo(Path(tmp) / "repo", files)
            candidates = branches(repo, n, set(culprits))
            (Path(tmp) / "check.py").write_text(CHECK)
            paths = gitops.discover(repo)
            base = git(repo, "rev-parse", "main")
            trees, first = {}, None
            for k, (label, settings) in enumerate(CONFIGS):
                runs = Path(tmp) / "runs.txt"
                runs.unlink(missing_ok=True)
                spec = QueueSpec(
                    repo=paths,
                    run=f"q{k}",
                    into_ref=f"refs/heads/q{k}",
                    start=base,
                    check=Command((sys.executable, str(Path(tmp) / "check.py"), tmp, str(sleep_s))),
                    check_worktree=merge_worktree(paths, f"q{k}", base),
                    log_dir=Path(tmp) / "logs" / f"q{k}",
                    git_env=gitops.identity_env(repo),
                    env=dict(os.environ),
                    batching=settings,
                )
                start = time.perf_counter()
                result = land(spec, candidates)
                took = time.perf_counter() - start
                assert len(result.unmerged) == len(culprits), result.unmerged
                trees[label] = git(repo, "rev-parse", f"q{k}^{{tree}}")
                first = first or trees[label]
                checks = len(runs.read_text().split())
                print(
                    f"{len(culprits):>8}  {label:<30} {took:7.2f} {checks:6d}  "
                    f"{trees[label] == first}"
                )
    print(f"(one culprit, aim: at most 2*log2({n})+2 = {2 * math.log2(n) + 2:.0f} checks)")


def without_checks(n: int) -> None:
    """The queue (probe, commit, compare-and-swap each) beside a `git merge --no-ff` loop."""
    files = {f"src/m{i}.py": f"value = {i}\n" for i in range(500)}
    with tempfile.TemporaryDirectory() as tmp:
        repo = init_repo(Path(tmp) / "repo", files)
        candidates = branches(repo, n, set())
        base = git(repo, "rev-parse", "main")

        git(repo, "checkout", "-q", "-b", "loop", base)
        start = time.perf_counter()
        for c in candidates:
            sh(["git", "merge", "-q", "--no-ff", "--no-edit", c.branch], cwd=repo)
        loop = time.perf_counter() - start
        git(repo, "checkout", "-q", "main")

        paths = gitops.discover(repo)
        env = gitops.identity_env(repo)
        spec = QueueSpec(
            repo=paths, run="bench", into_ref="refs/heads/queue", start=base, git_env=env
        )
        start = time.perf_counter()
        result = land(spec, candidates)
        queue = time.perf_counter() - start
        assert len(result.merged) == n, result.unmerged
        same = git(repo, "rev-parse", "queue^{tree}") == git(repo, "rev-parse", "loop^{tree}")
    print(f"{n} clean branches onto a 500-file repository (same resulting tree: {same})")
    print(f"git merge --no-ff loop in a worktree   {loop:6.2f} s")
    print(f"merge queue (probe, commit, CAS each)   {queue:6.2f} s  ratio {queue / loop:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--branches", type=int, default=None, help="30 without checks, 16 with")
    parser.add_argument("--sleep", type=float, default=1.0, help="the check's fixed wait, s")
    parser.add_argument("--only", choices=["plain", "checks"], default=None)
    args = parser.parse_args()
    if args.only != "checks":
        without_checks(args.branches or 30)
    if args.only != "plain":
        with_checks(args.branches or 16, args.sleep)


if __name__ == "__main__":
    main()
