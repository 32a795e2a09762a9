"""The live view in a terminal: why each task waits, and an honest end after Ctrl-C."""

from __future__ import annotations

import io
import re
import signal
import subprocess
from pathlib import Path

from rich.console import Console

from genesis_par.model import TaskStatus
from genesis_par.report.run_view import task_table
from genesis_par.run.progress import TaskProgress
from tests.conftest import genesis_cmd, wait_for
from tests.plans import py, write_plan
from tests.terminal import run_in_terminal


def _last_frame(output: str, run: str) -> str:
    """The live table as last drawn (rich redraws it in place; the last copy stays)."""
    return output[output.rindex(f"genesis-par run {run}") :]


def test_the_live_view_says_what_each_task_waits_for_and_ends_honestly(
    repo: Path, tmp_path: Path
) -> None:
    ready = tmp_path / "api-started"
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "api"
        command = {py(f"import time; open({str(ready)!r}, 'w').close(); time.sleep(600)")}

        [[tasks]]
        id = "web"
        command = {py("pass")}

        [[tasks]]
        id = "docs"
        depends_on = ["api"]
        command = {py("pass")}
    """,
        header='[run]\nname = "live"\nmax_parallel = 1\n',
    )
    seen: list[str] = []

    def interrupt_once_waiting(child: subprocess.Popen[bytes]) -> None:
        wait_for(ready.exists, "the api agent to start")
        seen.append("api started")
        child.send_signal(signal.SIGINT)

    code, output = run_in_terminal(
        [*genesis_cmd(), "run", str(plan)], repo, 140, interrupt_once_waiting
    )
    assert code == 130, output
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output)
    assert "waits for api" in text  # was an empty "why" for a task waiting on a dependency
    assert "max_parallel (1) reached" in text
    last = _last_frame(text, "live")
    assert "max_parallel" not in last and "waits for" not in last  # was stale after Ctrl-C
    assert "the run was interrupted" in last
    assert "0 of 3 tasks finished, 3 cancelled" in last  # was "3/3 tasks finished"


def test_a_finished_task_shows_why_it_ended_not_what_it_waited_for() -> None:
    rows = [
        TaskProgress("a", status=TaskStatus.SUCCEEDED, attempts=1, duration_s=1.0),
        TaskProgress(
            "b",
            status=TaskStatus.CANCELLED,
            waiting="max_parallel (2) reached",
            reason="interrupted",
        ),
        TaskProgress("c", status=TaskStatus.PENDING, waiting="waits for a"),
    ]
    out = Console(width=120, file=io.StringIO())
    out.print(task_table("r", rows, now=0.0))
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert "max_parallel" not in text and "interrupted" in text and "waits for a" in text
    assert "1 of 3 tasks finished, 1 cancelled" in text
