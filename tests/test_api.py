"""The Python API: the example of docs/api.md runs as written; results are typed; nothing is
printed; a user's mistake is an exception carrying the CLI's line and exit code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from genesis_par import api
from tests.conftest import git
from tests.plans import py

DOCS = Path(__file__).resolve().parent.parent / "docs" / "api.md"

PLAN = f"""version = 1
[run]
name = "api"

[[tasks]]
id = "a"
command = {py("open('a.txt', 'w').write('a')")}

[[tasks]]
id = "b"
command = {py("open('b.txt', 'w').write('b')")}
"""


def _example() -> str:
    """The first Python block under "## Example" in docs/api.md."""
    section = DOCS.read_text().split("## Example", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "docs/api.md has no example"
    return match.group(1)


def test_the_documented_example_runs_as_written(repo: Path) -> None:
    (repo / "plan.toml").write_text(PLAN)
    done = subprocess.run(
        [sys.executable, "-c", _example()], cwd=repo, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "run api: succeeded"
    assert "  a: succeeded on genesis/api/a" in lines
    assert "merged: a, b; left: 0" in lines
    assert re.fullmatch(r"\d+ events, the first: [ab] \w+", lines[-1])
    landed = "genesis/api/integration"  # [merge] into by default
    assert (
        git(repo, "show", f"{landed}:a.txt") == "a" and git(repo, "show", f"{landed}:b.txt") == "b"
    )


def test_run_returns_typed_results_and_prints_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = repo.parent / "plan.toml"
    plan.write_text(PLAN)
    events: list[api.Event] = []
    result = api.run(plan, cwd=repo, merge=False, on_event=events.append)
    assert isinstance(result, api.RunResult)
    assert (result.status, result.exit_code) == ("succeeded", 0)
    assert {t.id: t.status for t in result.tasks.values()} == {"a": "succeeded", "b": "succeeded"}
    assert {e.task for e in events if e.kind == "succeeded"} == {"a", "b"}
    report = api.conflicts(cwd=repo, run="api")
    assert isinstance(report, api.ConflictReport) and report.clean
    landing = api.merge(cwd=repo, run="api")
    assert landing.queue is not None and sorted(landing.queue.merged) == ["a", "b"]
    undone = api.rollback("api", cwd=repo)
    assert undone.new == git(repo, "rev-parse", "genesis/api/integration") == landing.queue.before
    obj = api.run_json(result)  # what `run --json` printed: before the later merge
    tasks = obj["tasks"]
    assert isinstance(tasks, list) and [t["id"] for t in tasks] == ["a", "b"]
    assert obj["merge"] is None and obj["conflicts"] is not None
    again = api.resume("api", cwd=repo)  # finished: its record, with the merge and rollback
    assert isinstance(again, api.AlreadyFinished)
    merge = api.run_json(again)["merge"]
    assert isinstance(merge, dict) and merge["rolled_back_to"] == landing.queue.before
    assert sorted(merge["merged"]) == ["a", "b"]
    assert capsys.readouterr() == ("", "")


def test_a_mistake_raises_the_clis_line_and_exit_code(repo: Path) -> None:
    with pytest.raises(api.GenesisError) as info:
        api.run(repo / "missing.toml", cwd=repo)
    assert "missing.toml" in str(info.value) and info.value.exit_code == 2
