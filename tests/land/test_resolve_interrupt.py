"""Ctrl-C while a resolution runs: summary and resume hint, exit 130; `resume` finishes the
resolution; `rollback` undoes every merge, resolutions included (issue 15)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.conftest import commit, git, wait_for
from tests.helpers import alive, gp, start
from tests.plans import PY, write_plan

# appends its name; on a rerun (GENESIS_CONFLICT set) it first says so and, while hold exists,
# waits (its pid in the ready file)
AGENT = """
import os, pathlib, sys, time
name, ready, hold = sys.argv[1:4]
if os.environ.get("GENESIS_CONFLICT"):
    pathlib.Path(ready + ".tmp").write_text(str(os.getpid()))
    pathlib.Path(ready + ".tmp").replace(ready)  # whole: the test reads it once it exists
    while pathlib.Path(hold).exists():
        time.sleep(0.05)
p = pathlib.Path("registry.txt")
p.write_text(p.read_text() + name + "\\n")
"""


@pytest.mark.slow
def test_ctrl_c_during_a_rerun_then_resume_lands_it_and_rollback_undoes_it(
    repo: Path, tmp_path: Path
) -> None:
    base = commit(repo, {"registry.txt": "a\n"})
    ready, hold = tmp_path / "ready", tmp_path / "hold"
    hold.write_text("")

    def agent(name: str) -> str:
        return json.dumps([PY, "-c", AGENT, name, str(ready), str(hold)])

    plan = write_plan(
        repo,
        f"""
        [merge]
        on_conflict = "rerun"

        [[tasks]]
        id = "first"
        priority = "high"
        command = {agent("first")}

        [[tasks]]
        id = "second"
        command = {agent("second")}
        """,
        header='[run]\nname = "ci"\n',
    )
    main = start(repo, "run", str(plan))
    wait_for(ready.exists, "the rerun to start")
    rerun_pid = int(ready.read_text())
    main.send_signal(signal.SIGINT)
    out, err = main.communicate(timeout=60)
    assert main.returncode == 130, err
    assert "Traceback" not in err
    assert "genesis-par resume ci" in out and "resolution second (rerun, try 1): interrupted" in out
    assert not alive(rerun_pid)
    status = json.loads(gp(repo, "status", "ci", "--json").stdout)
    assert status["status"] == "interrupted"
    # the interrupted rerun lost nothing: the task's branch holds its first attempt again
    assert git(repo, "show", "genesis/ci/second:registry.txt") == "a\nsecond"
    hold.unlink()
    done = gp(repo, "resume", "ci", "--json")
    assert done.returncode == 0, done.stderr
    merge = json.loads(done.stdout)["merge"]
    assert merge["unmerged"] == [] and merge["resolutions"][-1]["outcome"] == "landed"
    tip = git(repo, "rev-parse", "genesis/ci/integration")
    assert git(repo, "show", f"{tip}:registry.txt") == "a\nfirst\nsecond"
    undone = gp(repo, "rollback", "ci")
    assert undone.returncode == 0, undone.stderr
    assert git(repo, "rev-parse", "genesis/ci/integration") == base
