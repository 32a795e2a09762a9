"""An interrupted or timed-out run leaves no agent process running, even one that re-forks
faster than it is killed (issue 13): timeout, Ctrl-C and SIGKILL of `genesis-par run`."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.helpers import start
from tests.plans import write_plan
from tests.reforking import Reforker, escaped, reforker

CHAINS = ["--chains", "4"]  # four chains side by side always escaped the old stop


def reforking_plan(repo: Path, agent: Reforker, options: list[str], timeout: str = "") -> Path:
    return write_plan(
        repo,
        f"""
        [[tasks]]
        id = "reforker"
        command = {json.dumps(agent.argv(*options))}
        {timeout}
        """,
    )


@pytest.mark.slow
def test_a_timed_out_re_forking_agent_leaves_nothing_running(repo: Path, tmp_path: Path) -> None:
    with reforker(tmp_path) as agent:
        plan = reforking_plan(repo, agent, CHAINS, timeout="timeout = 1")
        main = start(repo, "run", str(plan), "--json")
        out, err = main.communicate(timeout=90)
        assert main.returncode == 1, err
        assert json.loads(out)["tasks"][0]["failure"] == "timeout"
        assert escaped(agent) == "", "re-forked processes outlived the run"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "options"),
    [
        (signal.SIGINT, CHAINS),
        (signal.SIGKILL, CHAINS),
        (signal.SIGKILL, ["--daemon", *CHAINS]),
    ],
    ids=["ctrl-c", "sigkill", "sigkill-daemon"],
)
def test_an_interrupted_run_leaves_no_re_forking_agent_running(
    repo: Path, tmp_path: Path, sig: signal.Signals, options: list[str]
) -> None:
    """Ctrl-C: genesis-par stops the tree. SIGKILL: its shim, told by the kernel, does."""
    with reforker(tmp_path) as agent:
        main = start(repo, "run", str(reforking_plan(repo, agent, options)), "--json")
        try:
            wait_for(
                lambda: agent.ready.exists() or main.poll() is not None, "the agent", bound=120
            )
            assert main.poll() is None, main.communicate()
            main.send_signal(sig)
            _, err = main.communicate(timeout=60)
        finally:
            main.kill()
        assert main.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL), err
        # after a SIGKILL the shim waits for a finishing agent (2.5 s), then stops the tree
        assert escaped(agent, bound_s=20) == "", "re-forked processes outlived the run"
