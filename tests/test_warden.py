"""The run's warden (issue 19): one supervisor process for every attempt, and no agent outlives
genesis-par, however genesis-par or the warden dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from genesis_par import cgroups, proc, warden_link
from tests.conftest import wait_for

pytestmark = pytest.mark.skipif(not warden_link.usable(), reason="the warden needs Linux")

ROOT = Path(__file__).resolve().parent.parent


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except OSError:
        return False


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as handle:
        return int(handle.read().rsplit(b")", 1)[1].split()[1])


def stubborn(tmp_path: Path, name: str) -> str:
    """An agent that ignores SIGINT and SIGTERM, forks a grandchild that does too (setsid,
    so not in its session), writes both pids, and sleeps."""
    pids = tmp_path / f"{name}.pids"
    return textwrap.dedent(
        f"""
        import os, signal, time
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
            signal.signal(s, signal.SIG_IGN)
        if os.fork() == 0:
            os.setsid()
            time.sleep(600)
            os._exit(0)
        with open({str(pids) + ".tmp"!r}, "w") as f:
            f.write(f"{{os.getpid()}} {{os.getppid()}}\\n")
        os.replace({str(pids) + ".tmp"!r}, {str(pids)!r})
        time.sleep(600)
        """
    )


def driver(tmp_path: Path, agents: int) -> subprocess.Popen[bytes]:
    """A process that supervises `agents` stubborn agents through proc.run (as genesis-par
    does, one thread each), and prints the warden's pid."""
    codes = [stubborn(tmp_path, f"a{i}") for i in range(agents)]
    script = textwrap.dedent(
        f"""
        import os, sys, threading
        from pathlib import Path
        from genesis_par import cgroups, proc, shim, warden_link
        print(warden_link.link().pid, flush=True)
        def one(i, code):
            proc.run([sys.executable, "-c", code], cwd=Path({str(tmp_path)!r}),
                     env=dict(os.environ), log_path=Path({str(tmp_path)!r}) / f"a{{i}}.log",
                     limits=proc.Limits(), cancel=threading.Event())
        for i, code in enumerate({codes!r}):
            threading.Thread(target=one, args=(i, code)).start()
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)


def agent_pids(tmp_path: Path, agents: int) -> list[tuple[int, int]]:
    """(agent pid, its shim's pid) of each agent, once all have started."""
    files = [tmp_path / f"a{i}.pids" for i in range(agents)]
    wait_for(lambda: all(f.exists() for f in files), "the agents to start", bound=60)
    return [tuple(map(int, f.read_text().split())) for f in files]  # type: ignore[misc]


def grandchildren(tmp_path: Path, agents: list[tuple[int, int]]) -> list[int]:
    """The setsid() grandchildren, found below each agent."""
    found = []
    for agent, _ in agents:
        children = Path(f"/proc/{agent}/task/{agent}/children").read_text().split()
        found += [int(c) for c in children]
    return found


def test_attempts_share_one_warden_and_start_no_python_of_their_own(tmp_path: Path) -> None:
    """Each attempt's shim is a fork of the one warden (its parent), not a new interpreter."""
    code = "import os; print(os.getppid())"
    shims = []
    for i in range(3):
        log = tmp_path / f"{i}.log"
        out = proc.run(
            [sys.executable, "-c", code],
            cwd=tmp_path,
            env=dict(os.environ),
            log_path=log,
            limits=proc.Limits(),
            cancel=threading.Event(),
        )
        assert (out.exit_code, out.failure) == (0, None)
        shims.append(int(log.read_text()))
    warden = warden_link.link()
    assert len(set(shims)) == 3 and warden.pid != os.getpid()
    assert _running(warden.pid)
    children = Path(f"/proc/{warden.pid}/task/{warden.pid}/children").read_text().split()
    assert not children, "the warden reaped every attempt's shim"


def test_an_attempt_gets_its_own_environment_and_is_found_on_its_own_path(tmp_path: Path) -> None:
    """The agent sees exactly the environment asked for (nothing of genesis-par's own, no
    cgroup variable), and its program is looked up on that environment's PATH, as a shim
    started with it would; without PATH, on the system's default one."""
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "only-here").write_text('#!/bin/sh\nenv | sort > "$1"\n')
    (tools / "only-here").chmod(0o755)
    assert "only-here" not in os.environ.get("PATH", "")

    def attempt(env: dict[str, str], argv: list[str]) -> proc.Outcome:
        return proc.run(
            argv,
            cwd=tmp_path,
            env=env,
            log_path=tmp_path / "a.log",
            limits=proc.Limits(),
            cancel=threading.Event(),
        )

    asked = {"PATH": f"{tools}:/usr/bin:/bin", "ONLY_THIS": "yes"}
    out = attempt(asked, ["only-here", str(tmp_path / "seen")])
    assert (out.exit_code, out.failure) == (0, None), (tmp_path / "a.log").read_text()
    seen = dict(line.split("=", 1) for line in (tmp_path / "seen").read_text().splitlines())
    seen.pop("PWD", None)  # the shell's own
    seen.pop("OLDPWD", None)
    seen.pop("SHLVL", None)
    seen.pop("_", None)
    assert seen == asked
    out = attempt({"ONLY_THIS": "yes"}, ["only-here", str(tmp_path / "seen")])
    assert out.exit_code == 127  # not on the default PATH
    out = attempt({"ONLY_THIS": "yes"}, ["sh", "-c", "true"])
    assert (out.exit_code, out.failure) == (0, None)  # on the default PATH (/bin:/usr/bin)


@pytest.mark.parametrize("agents", [1, 4])
def test_sigkill_of_genesis_par_mid_attempt_leaves_no_agent_running(
    tmp_path: Path, agents: int
) -> None:
    """SIGKILL of the supervising process: the warden (told by its pipe and the kernel) has each
    attempt stop its tree, the setsid() grandchildren too, then ends itself."""
    main = driver(tmp_path, agents)
    try:
        assert main.stdout is not None
        warden = int(main.stdout.readline())
        pids = agent_pids(tmp_path, agents)
        assert all(_parent(shim) == warden for _, shim in pids)
        below = grandchildren(tmp_path, pids)
        assert len(below) == agents
        main.send_signal(signal.SIGKILL)
        main.wait(timeout=30)
    finally:
        main.kill()
        main.wait()
        if main.stdout:
            main.stdout.close()
    everything = [pid for pair in pids for pid in pair] + below + [warden]
    # the finishing grace (2.5 s), then the stop: bounded well below this
    wait_for(lambda: not any(map(_running, everything)), "every agent and the warden to end", 30)


def test_a_warden_started_by_a_thread_that_ended_keeps_its_attempts(tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG fires when the *thread* that started the warden ends: that alone must
    not stop the warden or its attempts (genesis-par's workers are threads that come and go)."""
    started: list[warden_link.Link] = []
    if warden_link._link is not None:
        warden_link._link.close()  # a warden of this test's own
    thread = threading.Thread(target=lambda: started.append(warden_link.link()))
    thread.start()
    thread.join()
    out = proc.run(
        [sys.executable, "-c", "import time; time.sleep(1.5)"],
        cwd=tmp_path,
        env=dict(os.environ),
        log_path=tmp_path / "a.log",
        limits=proc.Limits(),
        cancel=threading.Event(),
    )
    assert (out.exit_code, out.failure) == (0, None)
    assert warden_link.link() is started[0] and _running(started[0].pid)


def test_the_warden_is_started_ahead_and_the_first_attempt_is_its_fork(tmp_path: Path) -> None:
    """The local backend starts the warden before any attempt (proc.prestart): the first
    attempt does not wait for a Python to start, and forks that warden."""
    old = warden_link._link
    if old is not None:
        old.close()  # a warden of this test's own
    proc.prestart()
    wait_for(
        lambda: warden_link._link not in (None, old) and warden_link._link.ready,
        "the warden to be started ahead",
        30,
    )
    ahead = warden_link._link
    assert ahead is not None
    log = tmp_path / "a.log"
    out = proc.run(
        [
            sys.executable,
            "-c",
            "import os; stat = open(f'/proc/{os.getppid()}/stat').read(); "
            "print(stat.rsplit(')', 1)[1].split()[1])",  # its shim's parent
        ],
        cwd=tmp_path,
        env=dict(os.environ),
        log_path=log,
        limits=proc.Limits(),
        cancel=threading.Event(),
    )
    assert (out.exit_code, out.failure) == (0, None), log.read_text()
    assert warden_link.link() is ahead and int(log.read_text()) == ahead.pid


def _wardens_of(pid: int) -> list[int]:
    """The live warden processes started for genesis-par process pid."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"genesis_par.warden" in a for a in argv) and str(pid).encode() in argv:
            found.append(int(entry.name))
    return [w for w in found if _running(w)]


def test_the_cli_starts_the_warden_first_and_a_run_stopped_at_setup_leaves_none(
    tmp_path: Path,
) -> None:
    """`genesis-par run` starts its warden before it loads the run's modules (before it reads
    its plan): its attempts are forks of it. A run that stops before any task (here: a plan
    that is no TOML) ends its warden with it."""
    from tests.conftest import commit, git
    from tests.plans import write_plan

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, {"a.txt": "a\n"})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ancestors = (
        "import os\np, up = os.getpid(), []\nfor _ in range(5):\n"
        "    p = int(open('/proc/%d/stat' % p).read().rsplit(')', 1)[1].split()[1])\n"
        "    up.append(p)\nprint(*up)"
    )
    command = f'{sys.executable} -c "{ancestors}" > ancestors'
    plan = write_plan(
        repo,
        f'[[tasks]]\nid = "t"\ncommand = {json.dumps(command)}\n',
        header='[run]\nname = "w"\n',
    )
    started = subprocess.Popen(
        [sys.executable, "-m", "genesis_par", "run", str(plan), "--no-merge"],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_for(lambda: _wardens_of(started.pid) or started.poll() is not None, "a warden")
    wardens = _wardens_of(started.pid)
    _, said = started.communicate(timeout=60)
    assert started.returncode == 0, said
    up = (repo / ".genesis" / "worktrees" / "w" / "t" / "ancestors").read_text().split()
    assert len(wardens) == 1 and str(wardens[0]) in up  # the one warden, started first
    wait_for(lambda: not _wardens_of(started.pid), "the warden to end with its run", 30)
    fifo = tmp_path / "not-a-file.toml"  # refused when read: a run stopped before its checks
    os.mkfifo(fifo)
    stopped = subprocess.Popen(
        [sys.executable, "-m", "genesis_par", "run", str(fifo)],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, refused = stopped.communicate(timeout=60)
    assert stopped.returncode == 2 and "FIFO" in refused, refused
    wait_for(lambda: not _wardens_of(stopped.pid), "no warden of a stopped run", 30)


def test_a_run_stopped_at_its_plan_has_started_its_warden_already(tmp_path: Path) -> None:
    """The command line's run starts the warden before anything else (so the test above, of a
    run stopped there, is one with a warden to end)."""
    from genesis_par import fast_cli

    old = warden_link._link
    if old is not None:
        old.close()
    fifo = tmp_path / "not-a-file.toml"
    os.mkfifo(fifo)
    handler = signal.getsignal(signal.SIGTERM)  # the command line sets its own
    try:
        assert fast_cli.answer(["run", str(fifo)]) == 2
    finally:
        signal.signal(signal.SIGTERM, handler)
    wait_for(
        lambda: warden_link._link not in (None, old) and warden_link._link.ready,
        "the warden the run started first",
        30,
    )


def test_a_killed_warden_takes_its_attempts_trees_with_it(tmp_path: Path) -> None:
    """The warden SIGKILLed: each attempt's shim (told by the kernel) stops its tree, proc.run
    returns, and the next attempt gets a new warden."""
    result: list[proc.Outcome] = []
    worker = threading.Thread(
        target=lambda: result.append(
            proc.run(
                [sys.executable, "-c", stubborn(tmp_path, "a0")],
                cwd=tmp_path,
                env=dict(os.environ),
                log_path=tmp_path / "a0.log",
                limits=proc.Limits(timeout_s=120),
                cancel=threading.Event(),
            )
        )
    )
    worker.start()
    pids = agent_pids(tmp_path, 1)
    below = grandchildren(tmp_path, pids)
    old = warden_link.link().pid
    os.kill(old, signal.SIGKILL)
    worker.join(timeout=30)
    assert not worker.is_alive() and result[0].failure == "exit"
    everything = [*pids[0], *below]
    wait_for(lambda: not any(map(_running, everything)), "the attempt's tree to end", 30)
    assert warden_link.link().pid != old


def test_the_recorded_identity_names_the_attempts_shim(tmp_path: Path) -> None:
    """What resume uses to stop a recorded tree (pid and create time) is the shim's, as psutil
    sees it; read by the warden, it holds even for an attempt reaped before genesis-par looks."""
    seen: list[proc.Started] = []
    shims: list[float] = []

    def started(s: proc.Started) -> None:
        seen.append(s)
        shims.append(proc.identity(s.pid).create_time)

    out = proc.run(
        [sys.executable, "-c", "import time; time.sleep(1)"],
        cwd=tmp_path,
        env=dict(os.environ),
        log_path=tmp_path / "a.log",
        limits=proc.Limits(),
        cancel=threading.Event(),
        on_start=started,
    )
    assert out.exit_code == 0 and seen[0].create_time == shims[0]
    for i in range(20):  # gone at once: reaped by the warden before genesis-par looks, often
        out = proc.run(
            ["true"],
            cwd=tmp_path,
            env=dict(os.environ),
            log_path=tmp_path / f"{i}.log",
            limits=proc.Limits(),
            cancel=threading.Event(),
            on_start=lambda s: seen.append(s),
        )
        assert (out.exit_code, out.failure) == (0, None)


needs_cgroup = pytest.mark.skipif(
    cgroups.parent() is None, reason="no cgroup v2 here that genesis-par may make cgroups in"
)


@needs_cgroup
def test_fork_into_gives_a_child_born_in_the_cgroup_and_none_for_a_plain_folder(
    tmp_path: Path,
) -> None:
    """Born there, not moved there (a move waits for the kernel's RCU grace period). In a
    process of one thread, as the warden is."""
    made = cgroups.new(cgroups.parent())
    assert made is not None
    script = textwrap.dedent(f"""
        import os
        from genesis_par import shim
        read, write = os.pipe()
        pid = shim.fork_into({str(made)!r})
        if pid == 0:
            os.write(write, open("/proc/self/cgroup").read().encode())
            os._exit(0)
        os.close(write)
        print(os.read(read, 4096).decode().strip())
        print(os.waitpid(pid, 0)[1], shim.fork_into({str(tmp_path)!r}))
    """)
    try:
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
        ).stdout
    finally:
        cgroups.remove(made)
    born = next(line for line in out.splitlines() if line.startswith("0::"))
    assert born.endswith(f"/{made.name}"), out
    assert out.splitlines()[-1] == "0 None"  # not a cgroup: the warden forks and moves instead


@needs_cgroup
def test_an_attempts_shim_is_born_in_its_cgroup_and_its_agent_with_it(tmp_path: Path) -> None:
    code = (
        "import os; print(open(f'/proc/{os.getppid()}/cgroup').read()); "
        "print(open('/proc/self/cgroup').read())"
    )
    out = proc.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=dict(os.environ),
        log_path=tmp_path / "a.log",
        limits=proc.Limits(timeout_s=30),
        cancel=threading.Event(),
    )
    assert out.exit_code == 0
    log = (tmp_path / "a.log").read_text()
    shim_line, agent_line = [x for x in log.splitlines() if x.startswith("0::")]
    assert shim_line == agent_line and "/genesis-par-" in agent_line, log
    assert "could not join" not in log
