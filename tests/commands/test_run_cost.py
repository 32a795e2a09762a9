"""What each task costs in git processes (issue 19): the per-task count is a figure of
bench.run_overhead, and it must not grow unnoticed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.plans import run_json, write_plan

FLOOR = 12  # git processes genesis-par starts per task (git's own children not counted)


def top_level_git_processes(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], tasks: int
) -> int:
    """git processes genesis-par started (not those git started itself) for a run of `tasks`
    trivial tasks, counted from GIT_TRACE2."""
    trace = tmp_path / f"trace-{tasks}.json"
    body = "".join(
        f'[[tasks]]\nid = "t{i}"\ncommand = "echo {i} > out-{i}.txt"\n' for i in range(tasks)
    )
    plan = write_plan(repo, body, name=f"plan{tasks}.toml", header=f'[run]\nname = "c{tasks}"\n')
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GIT_TRACE2_EVENT", str(trace))
        code, result = run_json(repo, plan, capsys, no_merge=True)
    assert code == 0, [(t["failure"], t["reason"]) for t in result["tasks"]]
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    return sum(1 for e in events if e.get("event") == "start" and "/" not in e["sid"])


def test_a_trivial_task_costs_at_most_the_floor_of_git_processes(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = top_level_git_processes(repo, tmp_path, capsys, 1)
    four = top_level_git_processes(repo, tmp_path, capsys, 4)
    per_task = (four - one) / 3
    # a run-wide call may come once more with more branches: half a process of slack
    assert per_task < FLOOR + 0.5, f"{per_task:.2f} git processes per task"
