"""What `[run] isolation = "clone"` costs against worktrees: making a task's checkout and
bringing one small commit home, per task, on a repository of --files files.

A worktree needs one `git worktree add`, and its commits are already in the repository; a clone
needs `git init`, one `reset --hard` (objects borrowed, none copied) and one `fetch` home."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import git, init_repo
from genesis_par import gitops
from genesis_par.gitops import clone


def _edit_and_commit(path: Path, i: int) -> None:
    (path / f"new{i}.txt").write_text(f"task {i}\n")
    git(path, "add", "-A")
    git(path, "commit", "-qm", f"task {i}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=3_000)
    parser.add_argument("--tasks", type=int, default=10)
    args = parser.parse_args()
    files = {f"d{i // 500}/f{i}.txt": f"content {i}\n" for i in range(args.files)}
    with tempfile.TemporaryDirectory() as tmp:
        repo = init_repo(Path(tmp) / "repo", files)
        common = repo / ".git"
        base = git(repo, "rev-parse", "HEAD")
        t_wt_add = t_cl_add = t_cl_home = 0.0
        for i in range(args.tasks):
            wt = Path(tmp) / f"wt{i}"
            start = time.perf_counter()
            gitops.add_worktree(repo, common, wt, f"genesis/b/w{i}", base)
            t_wt_add += time.perf_counter() - start
            _edit_and_commit(wt, i)

            cl = Path(tmp) / f"cl{i}"
            start = time.perf_counter()
            clone.add_clone(common, cl, f"genesis/b/c{i}", base)
            t_cl_add += time.perf_counter() - start
            _edit_and_commit(cl, i)
            start = time.perf_counter()
            clone.fetch_home(repo, cl, f"genesis/b/c{i}")
            t_cl_home += time.perf_counter() - start
    n = args.tasks
    per = 1000 / n
    print(f"{args.files} files, {n} tasks (per task, ms)")
    print(f"worktree: add {t_wt_add * per:7.1f}   home     0.0   total {t_wt_add * per:7.1f}")
    total = (t_cl_add + t_cl_home) * per
    print(
        f"clone:    add {t_cl_add * per:7.1f}   home {t_cl_home * per:7.1f}   total {total:7.1f}"
        f"   ratio {total / (t_wt_add * per):.2f}x"
    )


if __name__ == "__main__":
    main()
