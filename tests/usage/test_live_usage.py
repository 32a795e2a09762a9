"""The live view of a run in a real terminal: CPU, memory and cost of each running agent;
the run's tokens, cost and pace in the footer."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import genesis_cmd
from tests.plans import PY, write_plan
from tests.terminal import run_in_terminal
from tests.usage.samples import OUTPUT

# prints claude's stream-json (its result says $0.0421), then keeps a core busy for 3 s
BUSY = """
import sys, time
sys.stdout.write(open(sys.argv[1]).read())
sys.stdout.flush()
end = time.monotonic() + 3
while time.monotonic() < end:
    pass
"""


def test_running_agents_show_cpu_memory_and_cost_and_the_footer_the_totals(
    repo: Path, tmp_path: Path
) -> None:
    script, out = tmp_path / "busy.py", tmp_path / "claude.out"
    script.write_text(BUSY)
    out.write_text("\n".join(OUTPUT["claude"]) + "\n")
    plan = write_plan(
        repo,
        f"""
        [agents.claude]
        command = {json.dumps([PY, str(script), str(out)])}
        [[tasks]]
        id = "busy"
        agent = "claude"
        prompt = "go"
        """,
        header='[run]\nname = "live-usage"\n',
    )
    code, output = run_in_terminal([*genesis_cmd(), "run", str(plan)], repo, 160)
    assert code == 0, output
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output)
    running = [line for line in text.splitlines() if "busy" in line and "running" in line]
    assert any(re.search(r"\b[1-9]\d*% .* MiB .*\$0\.0421", line) for line in running), running
    last = text[text.rindex("genesis-par run live-usage") :]
    assert "26k tokens in, 300 out, $0.0421" in last
    assert re.search(r"\d+\.\d tasks/min", last)
