"""What `[run] isolation = "clone"` costs against worktrees, per task, on a repository of
--files files: making the task's checkout, then recording one small change of its agent on the
task's branch in the user's repository, as a run does.

A worktree: one `git worktree add`; its record is the plumbing commit (add, write-tree,
commit-tree, update-ref), the objects already in the repository. A clone: the task branch made
first (it keeps the start reachable), `git init` + alternates + `reset --hard` (objects
borrowed, none copied); its record is the same plumbing commit in the clone, then one `fetch`
home (fsck on) and a compare-and-swap of the task branch."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import git, init_repo
from genesis_par import gitops
from genesis_par.worktrees import clones


def _edit(path: Path, i: int) -> None:
    """What an agent does: a new file and an edited one, committed by it."""
    (path / f"new{i}.txt").write_text(f"task {i}\n")
    (path / "d0" / "f0.txt").write_text(f"edited by task {i}\n")
    git(path, "add", "-A")
    git(path, "commit", "-qm", f"task {i}")


def _worktree(repo: gitops.RepoPaths, base: str, i: int) -> tuple[float, float]:
    path, branch = repo.root / ".genesis" / "worktrees" / "b" / f"w{i}", f"genesis/b/w{i}"
    start = time.perf_counter()
    gitops.add_worktree(repo.root, repo.common_dir, path, branch, base)
    made = time.perf_counter() - start
    _edit(path, i)
    (path / "loose.txt").write_text("uncommitted\n")
    start = time.perf_counter()
    gitops.commit_all(path, "record", base, branch=branch, common_dir=repo.common_dir)
    return made, time.perf_counter() - start


def _clone(repo: gitops.RepoPaths, base: str, i: int) -> tuple[float, float]:
    path, branch = repo.root / ".genesis" / "worktrees" / "b" / f"c{i}", f"genesis/b/c{i}"
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    clones.allocate(repo, path, branch, base)
    made = time.perf_counter() - start
    _edit(path, i)
    (path / "loose.txt").write_text("uncommitted\n")
    start = time.perf_counter()
    clones.record(repo, path, "record", base, None, (), branch)
    return made, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=3_000)
    parser.add_argument("--tasks", type=int, default=10)
    args = parser.parse_args()
    files = {f"d{i // 500}/f{i}.txt": f"content {i}\n" for i in range(args.files)}
    totals = {"worktree": [0.0, 0.0], "clone": [0.0, 0.0]}
    with tempfile.TemporaryDirectory() as tmp:
        root = init_repo(Path(tmp) / "repo", files)
        repo = gitops.RepoPaths(root, root / ".git")
        base = git(root, "rev-parse", "HEAD")
        for i in range(args.tasks):  # interleaved, so that load on the machine hits both alike
            for mode, one in (("worktree", _worktree), ("clone", _clone)):
                made, recorded = one(repo, base, i)
                totals[mode][0] += made
                totals[mode][1] += recorded
        git(root, "fsck", "--no-dangling")
    per = 1000 / args.tasks
    print(f"{args.files} files, {args.tasks} tasks (per task, ms)")
    for mode, (made, recorded) in totals.items():
        total = (made + recorded) * per
        print(
            f"{mode:9} make {made * per:7.1f}   record {recorded * per:7.1f}   total {total:7.1f}"
        )
    ratio = sum(totals["clone"]) / sum(totals["worktree"])
    print(f"clone / worktree: {ratio:.2f}x")


if __name__ == "__main__":
    main()
