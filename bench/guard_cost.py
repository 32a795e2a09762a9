"""What the fence around an agent costs: per git command it runs, and per guarded process.

An agent's git runs with the fence's environment (conditional includes, the hook directory);
the same commands run bare as the baseline. `update-ref` runs the reference-transaction hook
twice (prepared, committed); `rev-parse` runs no hook and shows the cost of the includes.
The guard's own work per process (hook files written, refs and files snapshotted before and
compared after) is timed on its own.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

from bench.common import best_of, env
from genesis_par import gitops
from genesis_par.gitops.run import REPOSITORY_VARIABLES


def _git(cwd: Path, e: dict[str, str], *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=e, check=True, capture_output=True)


def _repeat(cwd: Path, e: dict[str, str], argv: list[str], n: int) -> None:
    for _ in range(n):
        _git(cwd, e, *argv)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=40, help="commands per measurement")
    args = parser.parse_args()
    base = env()
    with tempfile.TemporaryDirectory(prefix="genesis-bench-") as tmp:
        root, worktree = Path(tmp) / "repo", Path(tmp) / "wt" / "r" / "t"
        root.mkdir()
        _git(root, base, "init", "-q", "-b", "main")
        _git(root, base, "commit", "-q", "--allow-empty", "-m", "initial")
        _git(root, base, "worktree", "add", "-q", "-b", "genesis/r/t", str(worktree))
        repo = gitops.RepoPaths(root, root / ".git")
        scope = gitops.Scope(
            repo, "r", "t", worktree, None, root / ".git" / "genesis-par", "1", Path(tmp) / "log"
        )
        fence = gitops.Fence(scope)
        guarded = best_of(5, lambda: (fence.begin(), fence.end()))
        fence.begin()
        fenced = fence.env(base)
        rows = []
        for what, argv in (
            ("update-ref (hook twice)", ["update-ref", "refs/genesis/r/t/n", "HEAD"]),
            ("rev-parse (no hook)", ["rev-parse", "HEAD"]),
        ):
            bare = best_of(3, lambda: _repeat(worktree, base, argv, args.n))  # noqa: B023
            with_fence = best_of(3, lambda: _repeat(worktree, fenced, argv, args.n))  # noqa: B023
            rows.append((what, bare / args.n, with_fence / args.n))
        fence.end()
    print("| git command in the agent's worktree | bare | fenced | added |")
    print("|---|---|---|---|")
    for what, bare, with_fence in rows:
        added = (with_fence - bare) * 1000
        print(f"| {what} | {bare * 1000:.2f} ms | {with_fence * 1000:.2f} ms | {added:+.2f} ms |")
    print(
        f"\nguard per process (hook files, snapshot before, compare after): {guarded * 1000:.1f} ms"
    )
    print(f"(variables in the agent's environment: {len(REPOSITORY_VARIABLES)} removed)")
    print(f"load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
