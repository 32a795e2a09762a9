"""Conflicts resolved per `[merge] on_conflict` strategy, on a generated project with a real test
suite and scripted tasks that collide the way agents do (issue 15).

For each strategy: a fresh repository, the same plan, `genesis-par run`; then how many of the
tasks the queue left unmerged because of conflicts (under `leave`) landed with the check
passing, how many were left unmerged, and how many wrong merges were published: a target
commit whose tree fails the test suite, or a task reported landed whose intent is not in the
final tree. That last figure must be 0.

    python -m bench.resolution [--strategies leave,rerun,...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import GENESIS, env, git, init_repo

FILES = {
    "calc/__init__.py": "",
    "calc/ops.py": (
        "from calc.util import clamp\n\n\ndef scale(x):\n    return x * 2  # scale\n\n\n"
        "def bounded(x):\n    return clamp(x, 0, 10)\n"
    ),
    "calc/util.py": "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n",
    "calc/registry.py": 'REGISTRY = []\nREGISTRY.append("base")\n',
    "calc/legacy.py": "def old(x):\n    return x + 0\n",
    "tests/__init__.py": "",
    "tests/test_base.py": (
        "import unittest\n\nfrom calc.ops import bounded, scale\n\n\n"
        "class T(unittest.TestCase):\n    def test(self):\n"
        "        self.assertEqual(bounded(50), 10)\n        self.assertGreater(scale(5), 5)\n"
    ),
    "tests/test_legacy.py": (
        "import unittest\n\nfrom calc.legacy import old\n\n\n"
        "class T(unittest.TestCase):\n    def test(self):\n        self.assertEqual(old(4), 4)\n"
    ),
}

# (task, what it collides on); each task's intent is its own test (tests/test_<task>.py)
TASKS = [
    ("scale-offset", "two tasks editing one function"),
    ("scale-triple", "two tasks editing one function"),
    ("reg-alpha", "several appending to one registry"),
    ("reg-beta", "several appending to one registry"),
    ("reg-gamma", "several appending to one registry"),
    ("rename-util", "one renaming a module another edits"),
    ("clamp-defaults", "one renaming a module another edits"),
    ("drop-legacy", "one deleting a file another edits"),
    ("fix-legacy", "one deleting a file another edits"),
]
STRATEGIES = ["leave", "rerun", "prefer-target", "prefer-task", "agent"]


def plan_text(strategy: str) -> str:
    py = sys.executable
    agent = [py, "-m", "bench.resolution_agents"]
    head = [
        "version = 1",
        '[run]\nname = "bench"\nmax_parallel = 2',
        "[merge]",
        f"check = {json.dumps([py, '-m', 'unittest', '-q'])}",
        f'on_conflict = "{strategy}"',
        f"resolver = {json.dumps([*agent, 'resolve'])}",
    ]
    tasks = [
        f'[[tasks]]\nid = "{task}"\ncommand = {json.dumps([*agent, task])}' for task, _ in TASKS
    ]
    return "\n".join(head) + "\n\n" + "\n\n".join(tasks) + "\n"


def suite_passes(repo: Path, commit: str, where: Path) -> bool:
    """The test suite on commit's tree, in a throwaway worktree."""
    git(repo, "worktree", "add", "-q", "--detach", "--force", str(where), commit)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "unittest", "-q"], cwd=where, capture_output=True, env=env()
        )
        return done.returncode == 0
    finally:
        git(repo, "worktree", "remove", "--force", str(where))


def intent_holds(repo: Path, tip: str, task: str) -> bool:
    """A landed task's intent is in the final tree: its test is there (the suite passing is
    checked apart), and a deletion stayed a deletion."""
    names = set(git(repo, "ls-tree", "-r", "--name-only", tip).splitlines())
    if task == "drop-legacy":
        return "calc/legacy.py" not in names
    if task in ("fix-legacy", "rename-util"):
        return task != "rename-util" or "calc/helpers.py" in names
    return f"tests/test_{task.replace('-', '_')}.py" in names


def one(strategy: str, root: Path) -> dict[str, object]:
    repo = init_repo(root / strategy / "repo", FILES)
    plan = root / strategy / "plan.toml"
    plan.write_text(plan_text(strategy))
    start = time.perf_counter()
    done = subprocess.run(
        [*GENESIS, "run", str(plan), "--json"], cwd=repo, env=env(), capture_output=True, text=True
    )
    took = time.perf_counter() - start
    if done.returncode not in (0, 3):
        raise SystemExit(f"{strategy}: run exited {done.returncode}: {done.stderr[-2000:]}")
    merge = json.loads(done.stdout)["merge"]
    tip = merge["after"]
    steps = git(repo, "rev-list", "--first-parent", f"{merge['before']}..{tip}").split()
    broken = sum(not suite_passes(repo, c, root / strategy / f"step-{c[:8]}") for c in steps)
    lost = [t for t in merge["merged"] if not intent_holds(repo, tip, t)]
    return {
        "merged": merge["merged"],
        "unmerged": {u["task"]: u["reason"] for u in merge["unmerged"]},
        "resolutions": merge["resolutions"],
        "wrong": broken + len(lost),
        "seconds": took,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    args = parser.parse_args()
    chosen = args.strategies.split(",")
    with tempfile.TemporaryDirectory(prefix="genesis-bench-resolution-") as tmp:
        baseline = one("leave", Path(tmp))
        conflicted = [t for t, why in baseline["unmerged"].items() if why == "conflicts"]  # type: ignore[union-attr]
        print(
            f"{len(TASKS)} tasks; left unmerged by conflicts under leave: {', '.join(conflicted)}"
        )
        print(
            "| strategy | conflicted tasks landed (check passing) | left unmerged | wrong merges published | time |"
        )
        print("|---|---|---|---|---|")
        for strategy in chosen:
            got = baseline if strategy == "leave" else one(strategy, Path(tmp))
            landed = [t for t in conflicted if t in got["merged"]]  # type: ignore[operator]
            left = [t for t in conflicted if t in got["unmerged"]]  # type: ignore[operator]
            print(
                f"| {strategy} | {len(landed)} of {len(conflicted)} ({', '.join(landed) or '-'}) "
                f"| {len(left)} ({', '.join(left) or '-'}) | {got['wrong']} | {got['seconds']:.1f} s |"
            )


if __name__ == "__main__":
    main()
