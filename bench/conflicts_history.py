"""`conflicts` on real merges from a repository's history, beside git's own answer.

    python -m bench.conflicts_history REPO [--limit 300]

For each two-parent merge commit of REPO (newest first), the two parents are checked twice by
genesis-par: the second merged into the first (a branch against its target), and the two as
a pair of branches over their merge base (the pair batch and its rule for skipping pairs that
cannot conflict). Each answer is compared with `git merge-tree --write-tree --name-only` on
the same two commits: clean or not, and every file git leaves conflicted must be named by the
tool's conflicts. Prints the agreements, each disagreement, and the kinds seen.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import time
from pathlib import Path

from genesis_par.land import conflicts
from genesis_par.land.conflicts import MergeResult


def merges(repo: Path, limit: int) -> list[tuple[str, str, str]]:
    """(merge commit, first parent, second parent) of the newest two-parent merges."""
    out = subprocess.run(
        ["git", "rev-list", "--all", "--min-parents=2", "--max-parents=2", "--parents"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = [tuple(line.split()) for line in out.splitlines()]
    return [(m, a, b) for m, a, b in found][:limit]


def git_answer(repo: Path, ours: str, theirs: str) -> tuple[bool, set[str]] | None:
    """Clean or not and the conflicted files, as git says; None when git refuses the merge."""
    done = subprocess.run(
        ["git", "merge-tree", "--write-tree", "--name-only", "-z", ours, theirs],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    if done.returncode not in (0, 1):
        return None
    tokens = done.stdout.split("\0")[1:]
    return done.returncode == 0, set(tokens[: tokens.index("")]) if done.returncode else set()


def agrees(result: MergeResult, answer: tuple[bool, set[str]]) -> bool:
    clean, files = answer
    return result.clean == clean and files <= set(result.paths)


def merge_base(repo: Path, a: str, b: str) -> str | None:
    done = subprocess.run(
        ["git", "merge-base", a, b], cwd=repo, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("repo", type=Path)
    parser.add_argument("--limit", type=int, default=300)
    args = parser.parse_args()
    repo: Path = args.repo.resolve()
    kinds: collections.Counter[str] = collections.Counter()
    checked = conflicted = refused = 0
    disagreements: list[str] = []
    tool_time = git_time = 0.0
    for merge, first, second in merges(repo, args.limit):
        start = time.perf_counter()
        answer = git_answer(repo, first, second)
        git_time += time.perf_counter() - start
        base = merge_base(repo, first, second)
        if answer is None or base is None:
            refused += 1  # unrelated histories: git will not merge them either
            continue
        start = time.perf_counter()
        as_target = conflicts.check(repo, [second], first).branches[0].against_target
        as_pair = conflicts.check(repo, [first, second], base).pairs[(first, second)]
        tool_time += time.perf_counter() - start
        checked += 1
        conflicted += not answer[0]
        kinds.update(c.kind.value for c in as_target.conflicts)
        for how, result in (("against target", as_target), ("as a pair", as_pair)):
            if not agrees(result, answer):
                disagreements.append(
                    f"{merge[:12]} {how}: git clean={answer[0]} files={sorted(answer[1])}; "
                    f"tool clean={result.clean} paths={result.paths}"
                )
    print(f"{repo}: {checked} merges checked twice each ({conflicted} conflicted in git's view)")
    print(f"skipped: {refused} that git refuses to merge (unrelated histories)")
    print(f"agreements: {2 * checked - len(disagreements)} of {2 * checked}")
    print(f"kinds seen: {dict(kinds.most_common())}")
    print(f"time: tool {tool_time:.1f} s (two checks each), git merge-tree {git_time:.1f} s")
    for line in disagreements:
        print("DISAGREES", line)


if __name__ == "__main__":
    main()
