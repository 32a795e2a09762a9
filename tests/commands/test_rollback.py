"""`rollback` after a merge queue that was killed or interrupted, and after `resume`."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import git, wait_for
from tests.helpers import gp, start
from tests.plans import py, write_plan, writer

NAME = lambda s: s.name  # noqa: E731


def hanging_queue(repo: Path, tmp: Path, name: str) -> tuple[Path, Path]:
    """A plan whose merge check, on the second task only and only once, says it is ready and
    then waits: by then the first task has landed. (plan, ready file)"""
    ready = tmp / "check-ready"
    check = py(f"""
        import os, pathlib, time
        ready = pathlib.Path({str(ready)!r})
        if os.environ['GENESIS_TASK'] == 'b' and not ready.exists():
            ready.with_suffix('.tmp').write_text(str(os.getpid())); ready.with_suffix('.tmp').replace(ready)  # whole, never half-written
            time.sleep(600)
    """)
    body = f"""
        [merge]
        check = {check}
        batch = 1  # one check per task: the second one hangs after the first task landed

        [[tasks]]
        id = "a"
        command = {writer("a.txt", "a")}

        [[tasks]]
        id = "b"
        command = {writer("b.txt", "b")}
    """
    return write_plan(repo, body, header=f'[run]\nname = "{name}"\n'), ready


def kill_mid_queue(repo: Path, tmp: Path, name: str, sig: signal.Signals) -> str:
    """Run the plan, signal it while the second merge is checked; the target's first tip."""
    plan, ready = hanging_queue(repo, tmp, name)
    main = start(repo, "run", str(plan))
    wait_for(lambda: ready.exists() or main.poll() is not None, "the second merge's check")
    assert main.poll() is None, main.communicate()
    target = f"genesis/{name}/integration"
    landed = git(repo, "rev-parse", target)
    assert "a.txt" in git(repo, "ls-tree", "--name-only", landed).split()  # a is published
    main.send_signal(sig)
    main.communicate(timeout=60)
    return git(repo, "rev-parse", f"{target}~1")  # the base the run started the target at


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=NAME)
def test_rollback_after_a_queue_killed_mid_way_undoes_what_it_published(
    repo: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    base = kill_mid_queue(repo, tmp_path, "q1", sig)
    assert base == git(repo, "rev-parse", "main")
    done = gp(repo, "rollback", "q1")
    assert done.returncode == 0, done.stderr
    assert git(repo, "rev-parse", "genesis/q1/integration") == base


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=NAME)
def test_rollback_after_resume_goes_back_past_every_queue_session(
    repo: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    base = kill_mid_queue(repo, tmp_path, "q2", sig)
    done = gp(repo, "resume", "q2")
    assert done.returncode == 0, done.stderr
    tip = git(repo, "rev-parse", "genesis/q2/integration")
    assert {"a.txt", "b.txt"} <= set(git(repo, "ls-tree", "--name-only", tip).split())
    back = gp(repo, "rollback", "q2")
    assert back.returncode == 0, back.stderr
    assert git(repo, "rev-parse", "genesis/q2/integration") == base
    # merged again after the rollback, the run rolls back again to the same place
    assert gp(repo, "merge", "--run", "q2").returncode == 0
    assert git(repo, "rev-parse", "genesis/q2/integration") != base
    again = gp(repo, "rollback", "q2")
    assert again.returncode == 0, again.stderr
    assert git(repo, "rev-parse", "genesis/q2/integration") == base
    subprocess.run(["git", "fsck", "--no-progress"], cwd=repo, check=True, capture_output=True)
