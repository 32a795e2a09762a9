"""Budgets: a task's max_cost_usd stops its agent's whole tree; the run's budget_usd starts
no task or attempt once reached, and `resume --budget` goes on."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from genesis_par import proc
from genesis_par.commands import resume as resume_cmd
from genesis_par.errors import PlanError, UsageError
from genesis_par.plan import load
from tests.conftest import wait_for
from tests.plans import PY, run_json, tasks_by_id, write_plan
from tests.usage.samples import CLAUDE_STREAM

# prints claude's stream-json up to a result that says $5 were spent, with a child process
# that keeps running, and keeps running itself: only the budget can stop it in time
SPENDER = """
import json, os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open(sys.argv[1], "w").write(str(child.pid))
events = json.loads(open(sys.argv[2]).read())
for event in events[:-1]:
    print(json.dumps(event), flush=True)
events[-1]["total_cost_usd"] = 5.0
print(json.dumps(events[-1]), flush=True)
time.sleep(120)
"""


@pytest.mark.timeout(60)
def test_max_cost_usd_stops_the_spending_agents_whole_tree_and_says_why(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pid_file, script, events = tmp_path / "child.pid", tmp_path / "spender.py", tmp_path / "ev"
    script.write_text(SPENDER)
    events.write_text(json.dumps(CLAUDE_STREAM))
    command = [PY, str(script), str(pid_file), str(events)]
    plan = write_plan(
        repo,
        f"""
        [agents.claude]
        command = {json.dumps(command)}
        [[tasks]]
        id = "spender"
        agent = "claude"
        prompt = "go"
        max_cost_usd = 1
        retries = 2
        """,
    )
    began = time.monotonic()
    code, result = run_json(repo, plan, capsys)
    assert time.monotonic() - began < 40  # not the agent's two minutes
    task = tasks_by_id(result)["spender"]
    assert (code, task["status"], task["failure"]) == (1, "failed", "budget")
    assert task["reason"] == "spent more than its max_cost_usd of $1"
    assert task["attempts"] == 1  # spending more by trying again is what the limit prevents
    assert task["usage"]["cost_usd"] == 5.0
    child = int(pid_file.read_text())
    wait_for(lambda: not proc.pid_running(child), "the agent's child to be stopped", 10)


def declaring(cost: float, exit_code: int = 0) -> str:
    code = (
        f"import json, os, sys; json.dump(dict(cost_usd={cost}), "
        f"open(os.environ['GENESIS_USAGE_FILE'], 'w')); sys.exit({exit_code})"
    )
    return json.dumps([PY, "-c", code])


def test_budget_usd_skips_the_rest_and_resume_budget_goes_on(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = "".join(f'[[tasks]]\nid = "t{i}"\ncommand = {declaring(1.0)}\n\n' for i in (1, 2, 3))
    header = '[run]\nmax_parallel = 1\nstrategy = "fifo"\nbudget_usd = 1.5\n'
    plan = write_plan(repo, tasks, header=header)
    code, result = run_json(repo, plan, capsys)
    by_id = tasks_by_id(result)
    assert (code, result["status"]) == (1, "budget")
    assert [by_id[t]["status"] for t in ("t1", "t2", "t3")] == ["succeeded", "succeeded", "skipped"]
    assert by_id["t3"]["reason"] == "budget"
    assert result["usage"]["cost_usd"] == 2.0

    code = resume_cmd.resume(repo, budget=10, as_json=True)
    resumed = json.loads(capsys.readouterr().out)
    assert (code, resumed["status"]) == (0, "succeeded")
    assert tasks_by_id(resumed)["t3"]["status"] == "succeeded"
    assert resumed["usage"]["cost_usd"] == 3.0  # the spend before the resume counts


def test_no_attempt_starts_once_the_run_reached_its_budget(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(
        repo,
        f"""
        [run]
        budget_usd = 1.5
        [[tasks]]
        id = "flaky"
        command = {declaring(1.0, exit_code=1)}
        retries = 5
        """,
    )
    code, result = run_json(repo, plan, capsys)
    task = tasks_by_id(result)["flaky"]
    assert (code, task["status"], task["attempts"]) == (1, "failed", 2)
    assert task["reason"].endswith("; not tried again: the run reached its budget_usd")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("[run]\nbudget_usd = -1", "[run] budget_usd must be a finite number of US dollars"),
        ('[defaults]\nmax_cost_usd = "5$"', "max_cost_usd must be a number of US dollars"),
    ],
)
def test_bad_amounts_are_one_clear_line(repo: Path, line: str, message: str) -> None:
    plan = write_plan(repo, f'{line}\n[[tasks]]\nid = "t"\ncommand = {declaring(0.0)}\n')
    with pytest.raises(PlanError, match=re.escape(message)) as error:
        load(plan)
    assert error.value.exit_code == 2


def test_resume_refuses_a_negative_budget(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = write_plan(
        repo, "[run]\nbudget_usd = 0\n" + f'[[tasks]]\nid = "t"\ncommand = {declaring(0)}\n'
    )
    assert run_json(repo, plan, capsys)[1]["status"] == "budget"
    with pytest.raises(UsageError, match="--budget must be a number of US dollars"):
        resume_cmd.resume(repo, budget=-1)
