"""Agents side by side: the HTML report's agents section and best_of table, rendered by a real
headless browser, and `genesis-par agents --run RUN` in the terminal, show the right numbers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from genesis_par.commands import agents as agents_cmd
from genesis_par.commands import report as report_cmd
from tests.helpers import render
from tests.plans import PY, run_json, write_plan
from tests.usage.samples import OUTPUT

# prints the agent's recorded output; exits 1 when the prompt says so; writes a file so that
# the best_of candidates have a diff
AGENT = """
import sys
sys.stdout.write(open(sys.argv[1]).read())
open("out.txt", "w").write("done\\n")
sys.exit(1 if sys.argv[2] == "fail" else 0)
"""


@pytest.fixture
def compared(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    tables = []
    for name in ("claude", "codex", "aider"):
        out = tmp_path / f"{name}.out"
        out.write_text("\n".join(OUTPUT[name]) + "\n")
        command = [PY, str(script), str(out), "{prompt}"]
        tables.append(f"[agents.{name}]\ncommand = {json.dumps(command)}\n")
    tasks = """
    [[tasks]]
    id = "c-ok"
    agent = "claude"
    prompt = "ok"
    [[tasks]]
    id = "c-bad"
    agent = "claude"
    prompt = "fail"
    [[tasks]]
    id = "x-ok"
    agent = "codex"
    prompt = "ok"
    paths = ["x/**"]
    [[tasks]]
    id = "pick"
    agent = "aider"
    prompt = "ok"
    best_of = 2
    paths = ["p/**"]
    """
    plan = write_plan(repo, "\n".join(tables) + tasks, header='[run]\nname = "cmp"\n')
    code, _ = run_json(repo, plan, capsys, no_merge=True)
    assert code == 1  # c-bad failed
    return repo


# claude: 2 tasks, 1 succeeded; 2 x 0.0421 dollars; 2 x (26132 in, 300 out) tokens
CLAUDE_ROW = ["claude", "2", "1 (50%)", "52k / 600", "$0.0842", "$0.0842", "$0.0016"]
CODEX_ROW = ["codex", "1", "1 (100%)", "33k / 2.0k", "", "", ""]
AIDER_ROW = ["aider", "1", "1 (100%)", "29k / 1.2k", "$0.1200", "$0.1200", "$0.0039"]


def test_the_html_agents_section_and_best_of_table_show_the_right_numbers(
    compared: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r.html"
    assert report_cmd.run(compared, "cmp", fmt="html", output=out) == 0
    dom, console_lines = render(out)
    assert console_lines == []
    rows = {
        m["agent"]: re.findall(r"<td>([^<]*)", m["cells"])
        for m in re.finditer(r'<tr data-agent="(?P<agent>[^"]+)">(?P<cells>.*?)</tr>', dom)
    }
    assert [rows[a][:7] for a in ("claude", "codex", "aider")] == [CLAUDE_ROW, CODEX_ROW, AIDER_ROW]
    assert dom.count('class="meter"') >= 8  # bars: success, tokens, cost, cost/1k, time
    best = re.search(r'<table class="best-of" data-task="pick">(.*?)</table>', dom)
    assert best is not None
    candidates = re.findall(r'<tr data-candidate="(\d)"( class="winner")?>(.*?)</tr>', best[1])
    assert len(candidates) == 2 and sum(bool(w) for _, w, _ in candidates) == 1
    for _, winner, cells in candidates:
        values = re.findall(r"<td>([^<]*)", cells)
        assert values[1:6] == ["aider", "$0.0600", "15k / 593", "1", ""]
        assert values[6] == ("winner" if winner else "passed, not chosen")


def test_agents_run_prints_the_same_comparison(
    compared: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert agents_cmd.run(run_name="cmp", cwd=compared) == 0
    text = capsys.readouterr().out
    for row in (CLAUDE_ROW, AIDER_ROW):
        assert re.search(r"[\s│]+".join(re.escape(c) for c in row if c), text), text
    assert "best_of pick:" in text
    assert agents_cmd.run(run_name="cmp", cwd=compared, as_json=True) == 0
    obj = json.loads(capsys.readouterr().out)
    claude = next(r for r in obj["agents"] if r["agent"] == "claude")
    assert (claude["tasks"], claude["succeeded"], claude["success_rate"]) == (2, 1, 0.5)
    assert claude["cost_usd"] == pytest.approx(0.0842)
    assert [len(b["candidates"]) for b in obj["best_of"]] == [2]


def test_markdown_and_junit_carry_the_usage(
    compared: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert report_cmd.run(compared, "cmp", fmt="markdown") == 0
    markdown = capsys.readouterr().out
    assert "| `c-ok` | ✅ succeeded | 1 |" in markdown and "| 26k / 300 | $0.0421 |" in markdown
    assert "| " + " | ".join(CLAUDE_ROW) + " |" in markdown
    assert report_cmd.run(compared, "cmp", fmt="junit") == 0
    suite = ET.fromstring(capsys.readouterr().out).find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["usage.input_tokens"] == str(2 * 26132 + 32794 + 2 * 14600)
    assert props["task.c-ok.usage.cost_usd"] == "0.0421"
