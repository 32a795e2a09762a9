"""The merge queue's steps in the live view of a real terminal, the running check's time
moving while it runs."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from tests.conftest import genesis_cmd, wait_for
from tests.plans import py, write_plan, writer
from tests.terminal import run_in_terminal


def test_the_live_view_shows_the_batch_and_its_check_running(repo: Path, tmp_path: Path) -> None:
    ready, go = tmp_path / "check-ready", tmp_path / "go"
    check = py(f"""
        import pathlib, time
        pathlib.Path({str(ready)!r}).touch()
        while not pathlib.Path({str(go)!r}).exists():
            time.sleep(0.05)
    """)
    plan = write_plan(
        repo,
        f"""
        [merge]
        check = {check}

        [[tasks]]
        id = "a"
        command = {writer("a.txt", "a")}

        [[tasks]]
        id = "b"
        command = {writer("b.txt", "b")}
    """,
        header='[run]\nname = "shown"\n',
    )

    def release_after_two_seconds(child: subprocess.Popen[bytes]) -> None:
        wait_for(ready.exists, "the merge check to start", bound=60)
        began = ready.stat().st_mtime
        wait_for(lambda: time.time() - began > 2.0, "two seconds of the check")
        go.touch()

    code, output = run_in_terminal(
        [*genesis_cmd(), "run", str(plan)], repo, 160, release_after_two_seconds
    )
    assert code == 0, output
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output)
    assert "merge queue: batch 1: a, b" in text
    assert "merge check running: batch 1, a, b" in text
    shown = [int(s) for s in re.findall(r"merge check running: batch 1, a, b \((\d+)s\)", text)]
    assert shown and max(shown) >= 1  # the elapsed time moved while the check ran
    assert "published onto genesis/shown/integration: a, b" in text
