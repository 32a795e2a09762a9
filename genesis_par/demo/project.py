"""The files of the demo's throwaway repository and its plan."""

from __future__ import annotations

import json
import sys

FILES = {
    "README.md": "# calc\n\nA tiny calculator that the demo's agents work on in parallel.\n",
    "calc/__init__.py": "",
    "calc/ops.py": (
        '"""Arithmetic."""\n\n\ndef add(a: int, b: int) -> int:\n    return a + b\n\n\n'
        "def sub(a: int, b: int) -> int:\n    return a - b\n"
    ),
    "calc/greet.py": 'def greeting(name: str) -> str:\n    return "hello" + ", " + name\n',
    "calc/legacy.py": "def old_add(a: int, b: int) -> int:\n    return a + b + 0\n",
    "tests/__init__.py": "",
    "tests/test_ops.py": (
        "import unittest\n\nfrom calc.ops import add\n\n\n"
        "class AddTest(unittest.TestCase):\n"
        "    def test_add(self) -> None:\n        self.assertEqual(add(2, 3), 5)\n"
    ),
}

# (id, action, extra TOML lines): what each scripted agent does and why it is in the demo.
TASKS = [
    ("add-mul", "add-mul", 'priority = "high"'),
    ("write-usage", "write-usage", ""),
    ("write-index", "write-index", 'depends_on = ["write-usage"]'),
    ("flaky-cli", "flaky-cli", "retries = 1"),
    ("give-up", "give-up", ""),
    ("follow-up", "follow-up", 'depends_on = ["give-up"]'),
    ("greet-formal", "greet-formal", ""),
    ("greet-loud", "greet-loud", 'on_conflict = "rerun"'),  # redone on greet-formal's work
    ("drop-legacy", "drop-legacy", ""),
    ("fix-legacy", "fix-legacy", 'on_conflict = "manual"'),  # left for `genesis-par resolve`
    ("break-add", "break-add", 'priority = "low"'),
]


def plan_text(demo_dir: str, python_path: str, python: str = sys.executable) -> str:
    """The demo's plan: scripted agents run by this Python, unittest as the merge check."""
    head = f"""\
# The demo's plan: scripted agents (genesis_par/demo/agent.py) stand in for coding agents.
version = 1

[run]
name = "demo"
max_parallel = 3

[defaults]
timeout = "1m"
env = {{ GENESIS_DEMO_DIR = {json.dumps(demo_dir)}, PYTHONPATH = {json.dumps(python_path)} }}

[merge]
check = {json.dumps([python, "-m", "unittest", "-q"])}
"""
    tasks = [
        f'[[tasks]]\nid = "{task_id}"\n'
        f"command = {json.dumps([python, '-m', 'genesis_par.demo.agent', action])}\n"
        + (f"{extra}\n" if extra else "")
        for task_id, action, extra in TASKS
    ]
    return head + "\n" + "\n".join(tasks)
