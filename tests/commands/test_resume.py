from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from genesis_par import proc
from genesis_par.gitops.worktree import RUNNING
from tests.conftest import commit, git, wait_for
from tests.helpers import alive, gp, start
from tests.plans import py, write_plan


def counting_plan(repo: Path, tmp: Path, name: str, n: int = 4) -> Path:
    """Agents that write partial work and their pid (pids/<pid> holds the task), wait until the
    test releases them (go/<task> or go/all: never, if it does not), then count a success."""
    pids, counts, go, scratch = (tmp / d for d in ("pids", "counts", "go", "scratch"))
    for folder in (pids, counts, go, scratch):
        folder.mkdir(exist_ok=True)
    agent = py(f"""
        import os, time
        task = os.environ['GENESIS_TASK']
        open('partial-' + task + '.txt', 'w').write('started')  # before the pid: the test
        mine = os.path.join({str(scratch)!r}, str(os.getpid()))  # waits on it
        open(mine, 'w').write(task)
        os.replace(mine, os.path.join({str(pids)!r}, str(os.getpid())))  # whole
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(
            os.path.exists(os.path.join({str(go)!r}, n)) for n in (task, 'all')
        ):
            time.sleep(0.02)
        open('done-' + task + '.txt', 'w').write('done')
        with open(os.path.join({str(counts)!r}, task), 'a') as f:
            f.write('1')
    """)
    body = "".join(f'[[tasks]]\nid = "t{i}"\ncommand = {agent}\n' for i in range(n))
    return write_plan(repo, body, header=f'[run]\nname = "{name}"\nmax_parallel = 2\n')


def release(tmp: Path, task: str = "all") -> None:
    """Let the counting plan's agent of task (all of them: "all") finish."""
    (tmp / "go" / task).touch()


@pytest.mark.slow
@pytest.mark.parametrize("started", [1, 2, 3])  # kill while the first, second or third agent runs
def test_sigkill_leaves_no_agent_and_resume_finishes_without_redoing_work(
    repo: Path, tmp_path: Path, started: int
) -> None:
    plan = counting_plan(repo, tmp_path, "k1")  # agents outlive the finishing grace
    pids = tmp_path / "pids"
    main = start(repo, "run", str(plan))
    wait_for(lambda: len(list(pids.iterdir())) >= min(started, 2), "agents to start")
    if started == 3:  # the first agent ends: the third starts in its place
        release(tmp_path, min(pids.iterdir(), key=lambda p: p.stat().st_mtime_ns).read_text())
        wait_for(lambda: len(list(pids.iterdir())) >= 3, "the third agent to start")
    main.send_signal(signal.SIGKILL)
    main.communicate(timeout=10)
    # listed again at each look: an agent that was starting at the kill writes its pid later
    wait_for(
        lambda: not any(alive(int(p.name)) for p in pids.iterdir()), "agents to die", bound=5.0
    )
    release(tmp_path)  # agents started from now on finish at once
    status = json.loads(gp(repo, "status", "k1", "--json").stdout)
    assert status["status"] == "interrupted"
    assert "interrupted" in {t["status"] for t in status["tasks"]}
    assert not {"running", "pending"} & {t["status"] for t in status["tasks"]}
    # a git killed mid-way leaves an index.lock: resume clears it when no git holds it
    (repo / ".git" / "worktrees" / "t0" / "index.lock").write_text("")
    # and so the lock a running task's worktree holds against other agents' `worktree remove`
    assert f"locked {RUNNING}" in git(repo, "worktree", "list", "--porcelain")
    done = gp(repo, "resume", "k1", "--json")
    assert done.returncode == 0, done.stderr
    assert "locked" not in git(repo, "worktree", "list", "--porcelain")
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
    plan = counting_plan(repo, tmp_path, "k3")
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
    release(tmp_path)
    done = gp(repo, "resume", "k3", "--json")
    assert done.returncode == 0, done.stderr
    assert [t["status"] for t in json.loads(done.stdout)["tasks"]] == ["succeeded"] * 4
    counts = {p.name: p.read_text() for p in (tmp_path / "counts").iterdir()}
    assert counts == {f"t{i}": "1" for i in range(4)}


@pytest.mark.slow
def test_two_resumes_at_once_one_runs_the_other_exits_2(repo: Path, tmp_path: Path) -> None:
    plan = counting_plan(repo, tmp_path, "k2", n=2)
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


def setup_plan(repo: Path, tmp: Path, name: str, setup: str, agent: str) -> Path:
    body = f'[[tasks]]\nid = "a"\ncommand = {agent}\n'
    return write_plan(repo, body, header=f'[run]\nname = "{name}"\nsetup = {setup}\n')


def count(path: Path) -> str:
    return path.read_text() if path.exists() else ""


@pytest.mark.slow
def test_killed_between_setup_and_agent_the_agent_has_no_exit_and_resume_runs_it(
    repo: Path, tmp_path: Path
) -> None:
    """Setup's exit 0 is setup's own: never read as the exit of an agent that never started."""
    ready, go, setups, agents = (tmp_path / n for n in ("ready", "go", "setups", "agents"))
    setup = py(f"""
        import os, pathlib, time
        with open({str(setups)!r}, 'a') as f:
            f.write('x')
        pathlib.Path({str(ready)!r}).write_text(str(os.getpid()))
        while not pathlib.Path({str(go)!r}).exists():
            time.sleep(0.02)
    """)
    agent = py(f"open({str(agents)!r}, 'a').write('x'); open('a.txt', 'w').write('a')")
    plan = setup_plan(repo, tmp_path, "sx", setup, agent)
    main = start(repo, "run", str(plan))
    wait_for(lambda: ready.exists() or main.poll() is not None, "setup to start")
    state = repo / ".git" / "genesis-par"
    # Holding the store's write lock keeps genesis-par from starting the agent once setup ends.
    db = sqlite3.connect(state / "state.db", timeout=30, isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    try:
        go.write_text("")
        logs = state / "logs" / "sx"
        wait_for(lambda: any(logs.glob("a.*exit")), "setup's exit to be recorded")
        main.kill()
        main.communicate(timeout=10)
    finally:
        db.execute("ROLLBACK")
        db.close()
    assert proc.recorded_exit(proc.exit_file_for(logs / "a.1.log")) is None
    done = gp(repo, "resume", "sx", "--json")
    assert done.returncode == 0, done.stderr
    assert [t["status"] for t in json.loads(done.stdout)["tasks"]] == ["succeeded"]
    assert count(agents) == "x" and count(setups) == "x"  # setup had finished: not run again
    assert git(repo, "show", "genesis/sx/a:a.txt") == "a"


@pytest.mark.slow
def test_a_setup_killed_half_way_runs_again_on_resume(repo: Path, tmp_path: Path) -> None:
    ready, finished, setups = tmp_path / "ready", tmp_path / "setup-finished", tmp_path / "setups"
    setup = py(f"""
        import os, pathlib, time
        with open({str(setups)!r}, 'a') as f:
            f.write('x')
        ready = pathlib.Path({str(ready)!r})
        if not ready.exists():
            ready.with_suffix('.tmp').write_text(str(os.getpid())); ready.with_suffix('.tmp').replace(ready)  # whole, never half-written
            time.sleep(600)
        pathlib.Path({str(finished)!r}).write_text('yes')
    """)
    agent = py(
        f"import os, sys; open('a.txt', 'w').write('a'); sys.exit(0 if os.path.exists({str(finished)!r}) else 3)"
    )
    plan = setup_plan(repo, tmp_path, "sh", setup, agent)
    main = start(repo, "run", str(plan))
    wait_for(lambda: ready.exists() or main.poll() is not None, "setup to start")
    main.kill()
    main.communicate(timeout=10)
    wait_for(lambda: not alive(int(ready.read_text())), "the setup to be stopped", bound=10)
    done = gp(repo, "resume", "sh", "--json")
    assert done.returncode == 0, done.stderr
    assert [t["status"] for t in json.loads(done.stdout)["tasks"]] == ["succeeded"]
    assert count(setups) == "xx"


@pytest.mark.slow
def test_resume_keeps_an_attempt_a_killed_resume_already_saved(repo: Path, tmp_path: Path) -> None:
    """A resume killed after keeping attempt-1 and before its next attempt left that ref: the
    next resume keeps it as it is and goes on (no "reference already exists")."""
    ready = tmp_path / "ready"
    agent = py(f"""
        import os, pathlib, time
        open('a.txt', 'w').write('a')
        ready = pathlib.Path({str(ready)!r})
        if not ready.exists():
            ready.with_suffix('.tmp').write_text(str(os.getpid())); ready.with_suffix('.tmp').replace(ready)  # whole, never half-written
            time.sleep(600)
    """)
    plan = write_plan(
        repo, f'[[tasks]]\nid = "a"\ncommand = {agent}\n', header='[run]\nname = "sa"\n'
    )
    main = start(repo, "run", str(plan))
    wait_for(lambda: ready.exists() or main.poll() is not None, "the agent to start")
    main.kill()
    main.communicate(timeout=10)
    base = git(repo, "rev-parse", "main")
    git(repo, "update-ref", "refs/genesis/sa/a/attempt-1", base)  # as the killed resume left it
    done = gp(repo, "resume", "sa", "--json")
    assert done.returncode == 0, done.stderr
    assert [t["status"] for t in json.loads(done.stdout)["tasks"]] == ["succeeded"]
    assert git(repo, "rev-parse", "refs/genesis/sa/a/attempt-1") == base


@pytest.mark.slow
def test_resume_with_a_plan_that_adds_and_removes_tasks_records_both(
    repo: Path, tmp_path: Path
) -> None:
    ready = tmp_path / "ready"
    hang = py(
        f"import pathlib, time; pathlib.Path({str(ready)!r}).write_text('b'); time.sleep(600)"
    )
    write_a, write_c = (py(f"open('{n}.txt', 'w').write('{n}')") for n in "ac")
    first = write_plan(
        repo,
        f'[[tasks]]\nid = "a"\ncommand = {write_a}\n'
        f'[[tasks]]\nid = "b"\ncommand = {hang}\ndepends_on = ["a"]\n',
        header='[run]\nname = "rp"\n',
    )
    main = start(repo, "run", str(first))
    wait_for(lambda: ready.exists() or main.poll() is not None, "b to start")
    main.kill()
    main.communicate(timeout=10)
    second = write_plan(
        repo,
        f'[[tasks]]\nid = "a"\ncommand = {write_a}\n[[tasks]]\nid = "c"\ncommand = {write_c}\n',
        name="second.toml",
    )
    done = gp(repo, "resume", "rp", "--plan", str(second), "--json")
    assert done.returncode == 0, done.stderr
    status = json.loads(gp(repo, "status", "rp", "--json").stdout)
    assert status["status"] == "succeeded"
    tasks = {t["id"]: t for t in status["tasks"]}
    assert [t["id"] for t in status["tasks"]] == ["a", "c", "b"]
    assert tasks["a"]["status"] == tasks["c"]["status"] == "succeeded"
    assert tasks["c"]["commit"] == git(repo, "rev-parse", "genesis/rp/c")
    assert tasks["b"]["status"] == "skipped" and "removed from the plan" in tasks["b"]["reason"]
    tip = git(repo, "rev-parse", "genesis/rp/integration")
    assert {"a.txt", "c.txt"} <= set(git(repo, "ls-tree", "--name-only", tip).split())
    assert "tasks added: c" in done.stderr and "removed (now skipped): b" in done.stderr


@pytest.mark.slow
def test_a_run_killed_while_a_worktree_is_checked_out_resumes_with_every_file(
    repo: Path, tmp_path: Path
) -> None:
    """The checkout runs after `worktree add` (outside its lock): killed there, genesis-par
    leaves a worktree with no index, whose files all look deleted; resume must not record
    that as the task's work."""
    ready = tmp_path / "smudging"
    smudge = tmp_path / "smudge.py"
    smudge.write_text(
        "import os, pathlib, sys, time\n"
        f"ready = pathlib.Path({str(ready)!r})\n"
        "if not ready.exists():\n"
        "    tmp = ready.with_suffix('.tmp')\n"
        "    tmp.write_text(f'{os.getpid()} {os.getppid()}'); tmp.replace(ready)\n"
        "    time.sleep(600)\n"
        "sys.stdout.write(sys.stdin.read())\n"
    )
    git(repo, "config", "filter.slow.smudge", f"{sys.executable} {smudge}")
    commit(repo, {".gitattributes": "*.dat filter=slow\n", "a.dat": "data\n", "b.txt": "b\n"})
    agent = py("open('agent.txt', 'w').write('agent')")
    plan = write_plan(
        repo, f'[[tasks]]\nid = "t"\ncommand = {agent}\n', header='[run]\nname = "co"'
    )
    main = start(repo, "run", str(plan))
    wait_for(lambda: ready.exists() or main.poll() is not None, "the checkout to start")
    main.kill()
    main.communicate(timeout=10)
    for pid in map(int, ready.read_text().split()):  # the filter and the git that runs it
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    done = gp(repo, "resume", "co", "--json")
    assert done.returncode == 0, done.stderr
    assert [t["status"] for t in json.loads(done.stdout)["tasks"]] == ["succeeded"]
    names = set(git(repo, "ls-tree", "--name-only", "genesis/co/t").split())
    assert names == {".gitattributes", "README.md", "a.dat", "b.txt", "agent.txt"}
    assert git(repo, "show", "genesis/co/t:a.dat") == "data"
