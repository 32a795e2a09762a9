"""The batched queue through `run`, `resume`, `status`, `report` and `rollback`: real
processes, real signals."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.conftest import git, wait_for
from tests.helpers import alive, gp, start
from tests.plans import py, write_plan, writer

TASKS = 6


def plan_for(repo: Path, name: str, hang: Path | None = None) -> Path:
    """Six tasks writing t<i>.txt; the merge check fails with t3.txt in the tree; with hang,
    the first check of a batch says it is ready (its pid in hang) and waits."""
    check = py(f"""
        import os, pathlib, sys, time
        hang = {str(hang) if hang else ""!r}
        if hang and not pathlib.Path(hang).exists():
            pathlib.Path(hang + ".tmp").write_text(str(os.getpid()))
            pathlib.Path(hang + ".tmp").replace(hang)  # whole: the test reads it once it exists
            time.sleep(600)
        sys.exit(1 if pathlib.Path("t3.txt").exists() else 0)
    """)
    tasks = "".join(
        f'[[tasks]]\nid = "t{i}"\ncommand = {writer(f"t{i}.txt", str(i))}\n\n' for i in range(TASKS)
    )
    body = f'[merge]\ncheck = {check}\nbatch = "auto"\nparallel_checks = 1\n\n{tasks}'
    return write_plan(repo, body, name=f"{name}.toml", header=f'[run]\nname = "{name}"\n')


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_mid_batch_then_resume_lands_what_an_uninterrupted_run_lands(
    repo: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    calm = gp(repo, "run", str(plan_for(repo, "calm")), "--json")
    assert calm.returncode == 3, calm.stderr
    expected = json.loads(calm.stdout)["merge"]
    assert [u["task"] for u in expected["unmerged"]] == ["t3"]

    hang = tmp_path / "check-pid"
    main = start(repo, "run", str(plan_for(repo, "killed", hang)))
    wait_for(lambda: hang.exists() or main.poll() is not None, "the batch's check to start")
    assert main.poll() is None, main.communicate()
    check_pid = int(hang.read_text())
    if sig == signal.SIGKILL:
        os.killpg(main.pid, sig)
    else:
        main.send_signal(sig)  # Ctrl-C
    _, err = main.communicate(timeout=60)
    assert "Traceback" not in err, err
    target = "genesis/killed/integration"
    base = git(repo, "rev-parse", "main")
    # nothing unchecked was published, and the check did not outlive the queue
    assert git(repo, "rev-parse", target) == base
    wait_for(lambda: not alive(check_pid), "the check to stop")  # gone between two looks too

    resumed = gp(repo, "resume", "killed", "--json")
    assert resumed.returncode == 3, resumed.stderr
    merge = json.loads(resumed.stdout)["merge"]
    assert merge["merged"] == expected["merged"]
    assert merge["unmerged"][0]["task"] == "t3"
    assert git(repo, "rev-parse", f"{target}^{{tree}}") == git(
        repo, "rev-parse", "genesis/calm/integration^{tree}"
    )


def test_the_steps_show_as_lines_and_the_batches_in_json_status_report_and_rollback(
    repo: Path,
) -> None:
    done = gp(repo, "run", str(plan_for(repo, "shown")), "--json")
    assert done.returncode == 3, done.stderr
    lines = done.stderr
    for said in (
        "merge queue: batch 1: t0, t1, t2, t3, t4, t5",
        "merge check running: batch 1",
        "merge check failed: batch 1",
        "bisecting: ",
        "published onto genesis/shown/integration: t0",
        "t3: merge check failed on top of t0, t1, t2: not merged",
    ):
        assert said in lines, lines
    merge = json.loads(done.stdout)["merge"]
    (batch,) = merge["batches"]
    assert batch["members"] == [f"t{i}" for i in range(TASKS)]
    assert batch["outcome"] == "partly published"
    assert batch["merged"] == ["t0", "t1", "t2", "t4", "t5"]
    assert batch["check_runs"] == sum(c["runs"] for c in batch["checks"]) >= 2
    assert {c["outcome"] for c in batch["checks"]} == {"passed", "failed"}
    (t3,) = merge["unmerged"]
    assert t3["reason"] == "merge check failed" and t3["on_top_of"] == ["t0", "t1", "t2"]
    assert Path(t3["log"]).read_text().startswith("genesis-par: merge check of ")

    status = gp(repo, "status", "shown", "--json")
    assert json.loads(status.stdout)["merge"]["batches"] == merge["batches"]
    text = gp(repo, "status", "shown").stdout
    assert "batch 1 (t0, t1, t2, t3, t4, t5): partly published;" in text
    assert "t3: merge check failed on top of t0, t1, t2" in text
    report = gp(repo, "report", "shown", "--format", "markdown").stdout
    assert "- batch 1 (t0, t1, t2, t3, t4, t5): partly published;" in report
    assert gp(repo, "logs", "shown", "t3", "--merge-check").stdout.startswith(
        "genesis-par: merge check of "
    )

    back = gp(repo, "rollback", "shown")
    assert back.returncode == 0, back.stderr
    assert git(repo, "rev-parse", "genesis/shown/integration") == git(repo, "rev-parse", "main")
