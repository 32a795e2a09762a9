"""`genesis-par conflicts` on N branches beside a naive loop of one `git merge-tree` per pair.

A repository of realistic size (3,000 files in 60 folders); each branch makes a mix of edits:
its own files (disjoint), shared hot files (overlapping, some conflicting), a rename now and then.
"""

from __future__ import annotations

import argparse
import itertools
import random
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

from bench.common import GENESIS, git, init_repo, sh
from genesis_par.land import conflicts

T = TypeVar("T")


def make_branches(repo: Path, n: int, files: list[str], rng: random.Random) -> list[str]:
    names = []
    for i in range(n):
        name = f"agent-{i}"
        git(repo, "checkout", "-q", "-b", name, "main")
        for path in rng.sample(files, 4):  # disjoint-ish edits across the tree
            (repo / path).write_text((repo / path).read_text() + f"{name} edit\n")
        hot = files[rng.randrange(5)]  # a few hot files many agents touch
        lines = (repo / hot).read_text().splitlines()
        lines[rng.randrange(len(lines))] = f"{name} changed this line"
        (repo / hot).write_text("\n".join(lines) + "\n")
        if rng.random() < 0.2:
            src = rng.choice(files[5:])
            if (repo / src).exists():
                git(repo, "mv", src, src.replace(".py", f"_{i}.py"))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", name)
        names.append(name)
    git(repo, "checkout", "-q", "main")
    return names


def naive(repo: Path, names: list[str]) -> int:
    conflicted = 0
    for a, b in itertools.chain(((n, "main") for n in names), itertools.combinations(names, 2)):
        out = sh(["git", "merge-tree", "--write-tree", "--name-only", a, b], cwd=repo)
        conflicted += bool(out.strip().count("\n"))
    return conflicted


def timed(into: list[float], work: Callable[[], T]) -> T:
    start = time.perf_counter()
    result = work()
    into.append(time.perf_counter() - start)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,30,60")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(3)
    files = {
        f"pkg{d}/mod{f}.py": "".join(f"line {k}\n" for k in range(30))
        for d in range(60)
        for f in range(50)
    }
    with tempfile.TemporaryDirectory() as tmp:
        repo = init_repo(Path(tmp) / "repo", files)
        all_names = make_branches(repo, max(map(int, args.sizes.split(","))), sorted(files), rng)
        print(
            f"{len(files)} files; branches with disjoint, overlapping, conflicting edits and renames"
        )
        print(
            f"{'N':>4} {'pairs':>6} {'tool (core)':>12} {'tool (CLI)':>11} {'naive loop':>11} {'ratio':>7}  conflicting pairs / skipped"
        )
        for n in map(int, args.sizes.split(",")):
            names = all_names[:n]
            times: dict[str, list[float]] = {"core": [], "cli": [], "loop": []}
            for _ in range(args.repeat):  # interleaved, best of each: this disk's speed drifts
                report = timed(times["core"], partial(conflicts.check, repo, names, "main"))
                cli_args = [*GENESIS, "conflicts", "--json", "--into", "main", *names]
                timed(times["cli"], partial(sh, cli_args, cwd=repo))
                timed(times["loop"], partial(naive, repo, names))
            core, cli, loop = (min(times[k]) for k in ("core", "cli", "loop"))
            bad = sum(not r.clean for r in report.pairs.values())
            pairs = n * (n - 1) // 2 + n
            print(
                f"{n:>4} {pairs:>6} {core:>11.2f}s {cli:>10.2f}s {loop:>10.2f}s {loop / cli:>6.1f}x  {bad} / {report.skipped}"
            )


if __name__ == "__main__":
    main()
