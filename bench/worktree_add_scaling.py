"""A task's worktree records as a run grows: genesis-par's add_worktree beside
`git worktree add --no-checkout -b`, with 0 to 500 worktrees already there.

`git worktree add` looks at every existing worktree before it adds one, and genesis-par holds
its worktree lock meanwhile, so that cost is paid one task after another. add_worktree writes
the links itself where git would do no more (issue 19). Both are timed without the checkout,
which is the same `reset --hard` either way.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import git, init_repo
from genesis_par.gitops import worktree


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="0,100,300,500", help="existing worktrees")
    parser.add_argument("--repeat", type=int, default=10, help="adds timed at each size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        repo = init_repo(Path(tmp) / "repo", {"README.md": "hello\n"})
        start = git(repo, "rev-parse", "HEAD")
        made = 0

        def git_add() -> None:
            nonlocal made
            path = repo / "wt" / f"g{made}"
            git(repo, "worktree", "add", "-q", "--no-checkout", "-b", f"g{made}", str(path), start)
            made += 1

        def ours() -> None:
            nonlocal made
            path = repo / "wt" / f"o{made}"
            with worktree.worktree_lock(repo / ".git"):
                if not worktree._plain_layout(repo, repo / ".git"):
                    raise SystemExit("the benchmark repository is not a plain layout")
                worktree._link_worktree(repo, repo / ".git", path, f"o{made}", start)
            made += 1

        print("existing worktrees   git worktree add   add_worktree (links)   ratio")
        for size in sizes:
            while made < size:
                git_add()
            there = made
            t_git = _each(git_add, args.repeat)
            t_ours = _each(ours, args.repeat)
            print(
                f"{there:18d}   {t_git * 1000:13.1f} ms   {t_ours * 1000:17.1f} ms"
                f"   {t_git / t_ours:5.1f}x"
            )


def _each(add: Callable[[], None], times: int) -> float:
    start = time.perf_counter()
    for _ in range(times):
        add()
    return (time.perf_counter() - start) / times


if __name__ == "__main__":
    main()
