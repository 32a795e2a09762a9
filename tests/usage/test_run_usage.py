"""Usage through a real run: scripted agents print each preset's documented output; the
totals in `run --json`, `status --json` and the stored result are the sums of what they
printed; output without usage never fails a task."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from genesis_par.commands import run as run_cmd
from genesis_par.commands import status as status_cmd
from genesis_par.usage import Usage
from tests.plans import PY, run_json, tasks_by_id, write_plan
from tests.usage.samples import MODEL, OUTPUT, TOTAL

AGENTS = ["claude", "codex", "gemini", "aider"]
CAT = "import sys; sys.stdout.write(open(sys.argv[1]).read())"


def printing_agents(tmp_path: Path) -> str:
    """[agents.NAME] tables (named like the presets, so their parsers apply) whose command
    prints the recorded sample of that agent's output."""
    tables = []
    for name in AGENTS:
        out = tmp_path / f"{name}.out"
        out.write_text("\n".join(OUTPUT[name]) + "\n")
        tables.append(f"[agents.{name}]\ncommand = {json.dumps([PY, '-c', CAT, str(out)])}\n")
    return "\n".join(tables)


def status_json(repo: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert status_cmd.status(repo, as_json=True) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_totals_are_the_sums_of_what_the_agents_printed(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    declare = (
        "import json, os; json.dump(dict(input_tokens=10, output_tokens=20, cost_usd=0.5,"
        " turns=1, model='script'), open(os.environ['GENESIS_USAGE_FILE'], 'w'))"
    )
    tasks = "".join(f'[[tasks]]\nid = "{a}"\nagent = "{a}"\nprompt = "go"\n\n' for a in AGENTS)
    tasks += f'[[tasks]]\nid = "script"\ncommand = {json.dumps([PY, "-c", declare])}\n'
    plan = write_plan(repo, printing_agents(tmp_path) + "\n" + tasks)
    code, result = run_json(repo, plan, capsys)
    assert code == 0
    expected = {a: Usage(**TOTAL[a], model=MODEL[a]).fields() for a in AGENTS}  # type: ignore[arg-type]
    expected["script"] = Usage(10, 20, 0.5, 1, "script").fields()
    for source in (result, status_json(repo, capsys)):
        by_id = tasks_by_id(source)
        assert {t: by_id[t]["usage"] for t in expected} == expected
        assert all(by_id[t]["usage_notes"] == [] for t in expected)
        usage = source["usage"]
        assert isinstance(usage, dict)
        assert usage["input_tokens"] == sum(u["input_tokens"] for u in expected.values())
        assert usage["output_tokens"] == sum(u["output_tokens"] for u in expected.values())
        assert usage["cost_usd"] == pytest.approx(0.0421 + 0.06 + 0.5)
        agents = {row["agent"]: row for row in source["agents"]}
        assert agents["claude"]["cost_usd"] == pytest.approx(0.0421)
        assert agents["(command)"]["cost_per_succeeded_task_usd"] == 0.5
        assert agents["codex"]["cost_usd"] is None
    assert tasks_by_id(result)["claude"]["agent"] == "claude"


def test_an_agent_printing_garbage_or_nothing_still_succeeds_with_a_note(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = [PY, "-c", 'print(\'{"type": "result", "total_cost_usd": "free"\'); print(1)']
    plan = write_plan(
        repo,
        f"""
        [agents.claude]
        command = {json.dumps(garbage)}
        [agents.codex]
        command = {json.dumps([PY, "-c", "pass"])}
        [[tasks]]
        id = "garbage"
        agent = "claude"
        prompt = "go"
        [[tasks]]
        id = "silent"
        agent = "codex"
        prompt = "go"
        """,
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 0
    for task_id, agent in (("garbage", "claude"), ("silent", "codex")):
        task = tasks_by_id(result)[task_id]
        assert task["status"] == "succeeded"
        assert task["usage"] == Usage().fields()
        assert task["usage_notes"] == [
            f"no usage found in the agent's output: expected {agent}"
            + ("'s stream-json events" if agent == "claude" else "'s JSONL events")
            + (
                " (--output-format stream-json --verbose)"
                if agent == "claude"
                else " with turn.completed usage (codex exec --json)"
            )
        ]
    log = Path(str(tasks_by_id(result)["garbage"]["log"]))
    assert '{"type": "result", "total_cost_usd": "free"\n1\n' in log.read_text()  # verbatim


def test_plain_lines_the_summary_and_status_say_what_was_spent(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(
        repo, printing_agents(tmp_path) + '\n[[tasks]]\nid = "c"\nagent = "claude"\nprompt = "go"\n'
    )
    assert run_cmd.run(repo, plan) == 0
    lines = capsys.readouterr().out
    assert "c: attempt 1 exited 0 (26k / 300 tokens, $0.0421)" in lines
    assert "spent: 26k tokens in, 300 out, $0.0421" in lines
    assert status_cmd.status(repo) == 0
    table = capsys.readouterr().out
    assert "26k / 300" in table and "$0.0421" in table
    assert "spent: 26k tokens in, 300 out, $0.0421; cpu" in table
