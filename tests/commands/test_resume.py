from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import psutil
import pytest

from tests.commands.test_run import py, write_plan
from tests.conftest import genesis_cmd, genesis_env, git, wait_for


def counting_plan(repo: Path, tmp: Path, name: str, n: int = 4, sleep: float = 1.5) -> Path:
    """Agents that record their pid, write partial work, sleep, then count a success."""
    pids, counts = tmp / "pids", tmp / "counts"
    pids.mkdir(exist_ok=True)
    counts.mkdir(exist_ok=True)
    agent = py(f"""
        import os, time
        task = os.environ['GENESIS_TASK']
        open(os.path.join({str(pids)!r}, str(os.getpid())), 'w').write(task)
        open('partial-' + task + '.txt', 'w').write('started')
        time.sleep({sleep})
        open('done-' + task + '.txt', 'w').write('done')
        with open(os.path.join({str(counts)!r}, task), 'a') as f:
            f.write('1')
    """)
    body = "".join(f'[[tasks]]\nid = "t{i}"\ncommand = {agent}\n' for i in range(n))
    return write_plan(repo, body, header=f'[run]\nname = "{name}"\nmax_parallel = 2\n')


def start(repo: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*genesis_cmd(), *args],
        cwd=repo,
        env=genesis_env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def gp(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*genesis_cmd(), *args],
        cwd=repo,
        env=genesis_env(),
        text=True,
        capture_output=True,
        timeout=120,
    )


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("started", [1, 2, 3])  # kill while the first, second or third agent runs
def test_sigkill_leaves_no_agent_and_resume_finishes_without_redoing_work(
    repo: Path, tmp_path: Path, started: int
) -> None:
    plan = counting_plan(repo, tmp_path, "k1", sleep=4.0)  # longer than the finishing grace
    pids = tmp_path / "pids"
    main = start(repo, "run", str(plan))
    wait_for(lambda: len(list(pids.iterdir())) >= started, f"{started} agents to start")
    main.send_signal(signal.SIGKILL)
    main.communicate(timeout=10)
    agent_pids = [int(p.name) for p in pids.iterdir()]
    wait_for(lambda: not any(alive(p) for p in agent_pids), "agents to die", bound=5.0)
    status = json.loads(gp(repo, "status", "k1", "--json").stdout)
    assert status["status"] == "interrupted"
    assert "interrupted" in {t["status"] for t in status["tasks"]}
    assert not {"running", "pending"} & {t["status"] for t in status["tasks"]}
    # a git killed mid-way leaves an index.lock: resume clears it when no git holds it
    (repo / ".git" / "worktrees" / "t0" / "index.lock").write_text("")
    done = gp(repo, "resume", "k1", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [t["status"] for t in result["tasks"]] == ["succeeded"] * 4
    counts = {p.name: p.read_text() for p in (tmp_path / "counts").iterdir()}
    assert counts == {f"t{i}": "1" for i in range(4)}
    tip = git(repo, "rev-parse", "genesis/k1/integration")
    names = git(repo, "ls-tree", "--name-only", tip).split()
    assert {f"done-t{i}.txt" for i in range(4)} <= set(names)
    saved = git(repo, "for-each-ref", "--format=%(refname)", "refs/genesis/k1/")
    assert saved, "the killed attempts' work was not kept"
    first = saved.splitlines()[0]
    assert git(repo, "show", f"{first}:partial-{first.split('/')[3]}.txt") == "started"
    subprocess.run(["git", "fsck", "--no-progress"], cwd=repo, check=True, capture_output=True)


@pytest.mark.slow
@pytest.mark.parametrize("signals", [["SIGTERM"], ["SIGINT", "SIGINT"]])
def test_sigterm_or_a_double_ctrl_c_then_resume_finishes_the_run(
    repo: Path, tmp_path: Path, signals: list[str]
) -> None:
    """SIGTERM, or Ctrl-C twice, is one Ctrl-C: agents stopped, exit 130; resume finishes."""
    plan = counting_plan(repo, tmp_path, "k3", sleep=3.0)
    pids = tmp_path / "pids"
    main = start(repo, "run", str(plan))
    wait_for(lambda: len(list(pids.iterdir())) >= 2, "two agents to start")
    for name in signals:
        main.send_signal(getattr(signal, name))
    _, err = main.communicate(timeout=30)
    assert main.returncode == 130, err
    assert "Traceback" not in err
    agent_pids = [int(p.name) for p in pids.iterdir()]
    assert not any(alive(p) for p in agent_pids)
    status = json.loads(gp(repo, "status", "k3", "--json").stdout)
    assert status["status"] == "interrupted"
    assert {t["status"] for t in status["tasks"]} <= {"cancelled", "pending", "interrupted"}
    done = gp(repo, "resume", "k3", "--json")
    assert done.returncode == 0, done.stderr
    assert [t["status"] for t in json.loads(done.stdout)["tasks"]] == ["succeeded"] * 4
    counts = {p.name: p.read_text() for p in (tmp_path / "counts").iterdir()}
    assert counts == {f"t{i}": "1" for i in range(4)}


@pytest.mark.slow
def test_two_resumes_at_once_one_runs_the_other_exits_2(repo: Path, tmp_path: Path) -> None:
    plan = counting_plan(repo, tmp_path, "k2", n=2, sleep=30)
    pids = tmp_path / "pids"
    main = start(repo, "run", str(plan))
    wait_for(lambda: len(list(pids.iterdir())) >= 2, "agents to start")
    main.send_signal(signal.SIGKILL)
    main.communicate(timeout=10)
    for p in pids.iterdir():
        p.unlink()
    first = start(repo, "resume", "k2")
    try:
        wait_for(lambda: len(list(pids.iterdir())) >= 1, "the first resume's agents")
        second = gp(repo, "resume", "k2")
        assert second.returncode == 2
        assert f"pid {first.pid}" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
    finally:
        os.killpg(first.pid, signal.SIGINT)
        first.communicate(timeout=30)
    assert first.returncode == 130
