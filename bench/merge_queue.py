"""The merge queue landing N clean branches beside a plain `git merge` loop doing the same."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import git, init_repo, sh
from genesis_par import gitops
from genesis_par.land.queue import Candidate, QueueSpec, land
from genesis_par.plan.model import Command, Task


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--branches", type=int, default=30)
    args = parser.parse_args()
    n = args.branches
    files = {f"src/m{i}.py": f"value = {i}\n" for i in range(500)}
    with tempfile.TemporaryDirectory() as tmp:
        repo = init_repo(Path(tmp) / "repo", files)
        names = []
        for i in range(n):
            git(repo, "checkout", "-q", "-b", f"b{i}", "main")
            (repo / f"src/m{i}.py").write_text(f"value = {i} + 1\n")
            git(repo, "commit", "-q", "-am", f"b{i}")
            names.append(f"b{i}")
        git(repo, "checkout", "-q", "main")
        base = git(repo, "rev-parse", "main")

        git(repo, "checkout", "-q", "-b", "loop", base)
        start = time.perf_counter()
        for name in names:
            sh(["git", "merge", "-q", "--no-ff", "--no-edit", name], cwd=repo)
        loop = time.perf_counter() - start
        git(repo, "checkout", "-q", "main")

        paths = gitops.discover(repo)
        env = gitops.identity_env(repo)
        spec = QueueSpec(
            repo=paths, run="bench", into_ref="refs/heads/queue", start=base, git_env=env
        )
        candidates = [
            Candidate(
                Task(name, Command(("true",)), index=i),
                name,
                git(repo, "rev-parse", name),
                frozenset(),
            )
            for i, name in enumerate(names)
        ]
        start = time.perf_counter()
        result = land(spec, candidates)
        queue = time.perf_counter() - start
        assert len(result.merged) == n, result.unmerged
        same = git(repo, "rev-parse", "queue^{tree}") == git(repo, "rev-parse", "loop^{tree}")
    print(f"{n} clean branches onto a 500-file repository (same resulting tree: {same})")
    print(f"git merge --no-ff loop in a worktree   {loop:6.2f} s")
    print(f"merge queue (probe, commit, CAS each)   {queue:6.2f} s  ratio {queue / loop:.2f}")


if __name__ == "__main__":
    main()
