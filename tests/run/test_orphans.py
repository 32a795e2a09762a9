"""Attempts started by a genesis-par that was SIGKILLed before it recorded them: no record
names their processes, but their cgroup does (genesis-par-<pid>-<n>). A later command waits
for them to end (an agent about to finish finishes, and its exit is written for resume), then
stops what is left, so that resume never runs a second agent beside one still working."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from genesis_par import cgroups
from genesis_par.run import orphans
from tests.conftest import wait_for

needs_cgroup = pytest.mark.skipif(
    cgroups.parent() is None, reason="no cgroup v2 here that genesis-par may make cgroups in"
)


def dead_pid() -> int:
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


@pytest.fixture
def parent() -> Iterator[Path]:
    """A cgroup of the test's own to look in, so that no other test's cgroups are touched."""
    own = cgroups.parent()
    assert own is not None
    folder = own / f"test-orphans-{os.getpid()}-{next(_count)}"
    folder.mkdir()
    yield folder
    for inside in folder.iterdir():
        if inside.is_dir():
            cgroups.remove(inside)
    folder.rmdir()


_count = itertools.count()


def left_behind(parent: Path, name: str, code: str) -> tuple[Path, subprocess.Popen[bytes]]:
    """A cgroup as a dead genesis-par leaves it, holding a Python process running code."""
    folder = parent / name
    folder.mkdir()
    script = f'echo $$ > "{folder}/cgroup.procs" && exec {sys.executable} -c "$0"'
    agent = subprocess.Popen(["sh", "-c", script, code])
    wait_for(lambda: cgroups.members(folder) == {agent.pid}, "the agent in its cgroup")
    return folder, agent


@needs_cgroup
def test_an_unrecorded_agent_about_to_finish_finishes_and_its_cgroup_goes(
    tmp_path: Path, parent: Path
) -> None:
    done = tmp_path / "done"
    code = f"import time; time.sleep(0.5); open({str(done)!r}, 'w').write('finished')"
    folder, agent = left_behind(parent, f"genesis-par-{dead_pid()}-1", code)
    assert orphans.stop_unrecorded(wait_s=20, under=parent) == 1
    assert done.read_text() == "finished"
    assert agent.wait(timeout=5) == 0
    assert not folder.exists()


@needs_cgroup
def test_an_unrecorded_agent_that_goes_on_is_killed_after_the_wait(parent: Path) -> None:
    code = "import time; time.sleep(120)"
    folder, agent = left_behind(parent, f"genesis-par-{dead_pid()}-2", code)
    assert orphans.stop_unrecorded(wait_s=0.3, under=parent) == 1
    assert agent.wait(timeout=15) == -9
    assert not folder.exists()


@needs_cgroup
def test_the_cgroups_of_a_live_genesis_par_are_left_alone(parent: Path) -> None:
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        code = "import time; time.sleep(120)"
        folder, agent = left_behind(parent, f"genesis-par-{live.pid}-1", code)
        try:
            assert orphans.stop_unrecorded(wait_s=0.3, under=parent) == 0
            assert agent.poll() is None and cgroups.populated(folder)
        finally:
            cgroups.remove(folder)
            agent.wait(timeout=15)
    finally:
        live.kill()
        live.wait()
