"""Scripted agents for `genesis-par demo`: each action edits the worktree like a coding agent.

Run as `python -m genesis_par.demo.agent ACTION` inside a task's worktree.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path


def _pause(seconds: float) -> None:
    print(f"thinking for {seconds:g}s ...", flush=True)
    time.sleep(seconds)


def _replace(path: str, old: str, new: str) -> None:
    file = Path(path)
    file.write_text(file.read_text().replace(old, new))
    print(f"edited {path}", flush=True)


def add_mul() -> None:
    _pause(1.5)
    with Path("calc/ops.py").open("a") as f:
        f.write("\n\ndef mul(a: int, b: int) -> int:\n    return a * b\n")
    with Path("tests/test_mul.py").open("w") as f:
        f.write(
            "import unittest\n\nfrom calc.ops import mul\n\n\n"
            "class MulTest(unittest.TestCase):\n"
            "    def test_mul(self) -> None:\n        self.assertEqual(mul(6, 7), 42)\n"
        )
    print("added mul() and its test", flush=True)


def write_usage() -> None:
    _pause(1.0)
    Path("docs").mkdir(exist_ok=True)
    Path("docs/usage.md").write_text("# Usage\n\n`from calc.ops import add`\n")
    print("wrote docs/usage.md", flush=True)


def write_index() -> None:
    _pause(0.5)
    usage = Path("docs/usage.md").read_text()  # written by the task this one depends on
    Path("docs/index.md").write_text("# calc\n\nSee usage.md, which begins:\n\n" + usage[:40])
    print("wrote docs/index.md from docs/usage.md", flush=True)


def flaky_cli() -> None:
    counter = Path(os.environ["GENESIS_DEMO_DIR"]) / f"flaky-{os.environ['GENESIS_TASK']}"
    attempt = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(attempt))
    _pause(0.5)
    if attempt == 1:
        sys.exit("network hiccup (on purpose): this attempt fails, the retry will succeed")
    Path("calc/cli.py").write_text(
        "import sys\n\nfrom calc.ops import add\n\nprint(add(int(sys.argv[1]), int(sys.argv[2])))\n"
    )
    print("added calc/cli.py on attempt 2", flush=True)


def give_up() -> None:
    _pause(1.0)
    sys.exit("this agent gives up (on purpose): its dependent task will be skipped")


def follow_up() -> None:
    Path("NEVER.md").write_text("this task never runs: the task it depends on fails\n")


def greet_formal() -> None:
    _pause(1.0)
    _replace("calc/greet.py", '"hello"', '"good day"')


def greet_loud() -> None:
    """Makes the greeting loud, whatever it is now: run again on top of greet-formal's work
    (on_conflict = "rerun"), it re-applies its intent to the new code."""
    told = os.environ.get("GENESIS_CONFLICT", "")
    if told:
        print(f"run again after a conflict; told: {told.splitlines()[0]}", flush=True)
    _pause(1.2)
    path = Path("calc/greet.py")
    text = path.read_text()
    greeting = re.search(r'return "([^"]*)"', text)
    assert greeting is not None, "calc/greet.py has no greeting to make loud"
    loud = greeting[1].upper().rstrip("!") + "!"
    path.write_text(text.replace(f'"{greeting[1]}"', f'"{loud}"', 1))
    print(f"edited calc/greet.py: {greeting[1]!r} -> {loud!r}", flush=True)


def drop_legacy() -> None:
    _pause(0.8)
    Path("calc/legacy.py").unlink()
    print("deleted calc/legacy.py", flush=True)


def fix_legacy() -> None:
    _pause(0.6)
    _replace("calc/legacy.py", "return a + b + 0", "return a + b")


def break_add() -> None:
    _pause(0.7)
    _replace("calc/ops.py", "return a + b", "return a - b  # an honest mistake")


ACTIONS: dict[str, Callable[[], None]] = {
    "add-mul": add_mul,
    "write-usage": write_usage,
    "write-index": write_index,
    "flaky-cli": flaky_cli,
    "give-up": give_up,
    "follow-up": follow_up,
    "greet-formal": greet_formal,
    "greet-loud": greet_loud,
    "drop-legacy": drop_legacy,
    "fix-legacy": fix_legacy,
    "break-add": break_add,
}

if __name__ == "__main__":
    ACTIONS[sys.argv[1]]()
