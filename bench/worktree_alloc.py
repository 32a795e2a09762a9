"""Allocating 8 worktrees of a 30,000-file repository: fresh (`git worktree add`) or from the pool.
Also removal: gc's way (move aside, prune, delete) beside `git worktree remove`."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import git, init_repo
from genesis_par import gitops, worktrees
from genesis_par.worktrees import pool


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=30_000)
    parser.add_argument("--worktrees", type=int, default=8)
    args = parser.parse_args()
    files = {f"d{i // 500}/f{i}.txt": f"content {i}\n" for i in range(args.files)}
    with tempfile.TemporaryDirectory() as tmp:
        repo_path = init_repo(Path(tmp) / "repo", files)
        repo = gitops.discover(repo_path)
        base = git(repo_path, "rev-parse", "HEAD")
        n = args.worktrees

        start = time.perf_counter()
        fresh = [worktrees.allocate(repo, "fresh", f"t{i}", base, pool=False)[0] for i in range(n)]
        t_fresh = time.perf_counter() - start

        for path in fresh:  # what gc does with clean, finished worktrees
            pool.put_in_pool(repo, path, time.time())
        for i in range(0, args.files, args.files // 100):  # the base moves on: 100 files change
            (repo_path / f"d{i // 500}/f{i}.txt").write_text(f"changed {i}\n")
        git(repo_path, "commit", "-q", "-am", "base moves on")
        base = git(repo_path, "rev-parse", "HEAD")
        start = time.perf_counter()
        pooled = [worktrees.allocate(repo, "pooled", f"t{i}", base, pool=True)[0] for i in range(n)]
        t_pool = time.perf_counter() - start
        assert not any((repo.root / pool.POOL_DIR).iterdir()), "pool not used"

        start = time.perf_counter()
        for path in pooled[: n // 2]:
            gitops.remove_worktree(
                repo.root, repo.common_dir, path, repo.root / ".genesis" / "trash"
            )
        t_gc = time.perf_counter() - start
        start = time.perf_counter()
        for path in pooled[n // 2 :]:
            git(repo_path, "worktree", "remove", "--force", str(path))
        t_remove = time.perf_counter() - start
    print(f"{args.files} files, {n} worktrees")
    print(f"allocate fresh (git worktree add)      {t_fresh:6.2f} s")
    print(
        f"allocate from the pool (checkout -f)   {t_pool:6.2f} s   {t_fresh / t_pool:.1f}x faster"
    )
    print(f"remove {n // 2}: move aside + prune (files deleted in the background)  {t_gc:6.2f} s")
    print(
        f"remove {n // 2}: git worktree remove --force  {t_remove:6.2f} s   ratio {t_gc / t_remove:.2f}"
    )


if __name__ == "__main__":
    main()
