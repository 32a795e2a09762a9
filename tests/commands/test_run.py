from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from genesis_par.commands import run as run_cmd
from genesis_par.errors import UsageError
from tests.conftest import genesis_cmd, genesis_env, git, wait_for
from tests.helpers import alive
from tests.plans import PY, py, run_json, tasks_by_id, write_plan


def test_tasks_commit_their_work_on_their_branches(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "a"
        command = {py("open('a.txt', 'w').write('from a')")}

        [[tasks]]
        id = "noop"
        command = {py("pass")}
    """,
        header='[run]\nname = "r1"\n',
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 0
    tasks = tasks_by_id(result)
    assert tasks["a"]["status"] == "succeeded" and tasks["a"]["changed"] is True
    assert git(repo, "show", "genesis/r1/a:a.txt") == "from a"
    message = git(repo, "log", "-1", "--format=%B", "genesis/r1/a")
    assert "genesis-par: a" in message and "Genesis-Run: r1" in message
    assert "Genesis-Task: a" in message
    assert tasks["noop"]["changed"] is False
    assert tasks["noop"]["commit"] == result["base"]
    assert ".genesis/" in (repo / ".git" / "info" / "exclude").read_text()
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.parametrize("pythonpath", [None, "/somewhere/the/user/set"])
def test_the_agents_environment_is_the_users_own(
    repo: Path, capsys: pytest.CaptureFixture[str], pythonpath: str | None
) -> None:
    """genesis-par's own packages never leak onto the agent's Python path."""
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "a"
        command = {py("import os; open('pp.txt', 'w').write(repr(os.environ.get('PYTHONPATH')))")}
    """,
        header='[run]\nname = "env"\n',
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    code = run_cmd.run(repo, plan, as_json=True, env=env)
    capsys.readouterr()
    assert code == 0
    assert git(repo, "show", "genesis/env/a:pp.txt") == repr(pythonpath)


def test_four_one_second_tasks_overlap_in_pairs(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    agent = py(f"""
        import os, time
        start = time.time(); time.sleep(1)
        path = os.path.join({str(stamps)!r}, os.environ['GENESIS_TASK'])
        open(path, 'w').write('%f %f' % (start, time.time()))
    """)
    body = "".join(f'[[tasks]]\nid = "t{i}"\ncommand = {agent}\n' for i in range(4))
    plan = write_plan(repo, body, header="[run]\nmax_parallel = 2\n")
    code, _ = run_json(repo, plan, capsys)
    assert code == 0
    spans = [tuple(map(float, p.read_text().split())) for p in stamps.iterdir()]
    assert len(spans) == 4
    most = max(sum(s <= t < e for s, e in spans) for t, _ in spans)
    assert most == 2


def test_a_task_frees_its_slot_for_the_next_while_its_work_is_committed(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """max_parallel = 1: b's agent starts while a's commit is still under way (a clean filter
    holds a's `git add` until b's agent has run), and never while a's agent runs."""
    flag, agents = tmp_path / "b-ran", tmp_path / "agents.log"
    wait = f"i=0; while [ ! -e {flag} ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done"
    hold = f"{wait}; [ -e {flag} ] && cat"  # fails a's commit if b never ran meanwhile
    git(repo, "config", "filter.held.clean", hold)
    git(repo, "config", "filter.held.required", "true")
    (repo / ".git" / "info" / "attributes").write_text("*.held filter=held\n")

    def agent(name: str, then: str) -> str:
        log = f"open({str(agents)!r}, 'a').write"
        return py(f"{log}('start {name}\\n'); {then}; {log}('end {name}\\n')")

    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "a"
        command = {agent("a", "open('a.held', 'w').write('from a')")}

        [[tasks]]
        id = "b"
        command = {agent("b", f"open({str(flag)!r}, 'w').close()")}
    """,
        header='[run]\nname = "slots"\nmax_parallel = 1\nstrategy = "fifo"\n',
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 0, result
    assert git(repo, "show", "genesis/slots/a:a.held") == "from a"
    assert agents.read_text().split("\n") == ["start a", "end a", "start b", "end b", ""]


def test_dependent_sees_its_dependencies_files(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "one"
        command = {py("open('one.txt', 'w').write('1')")}

        [[tasks]]
        id = "two"
        command = {py("open('two.txt', 'w').write('2')")}

        [[tasks]]
        id = "both"
        depends_on = ["one", "two"]
        command = {py("assert open('one.txt').read() + open('two.txt').read() == '12'")}
    """,
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 0, result
    assert tasks_by_id(result)["both"]["status"] == "succeeded"


def test_failed_task_skips_its_dependents_only(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "bad"
        command = {py("raise SystemExit(3)")}

        [[tasks]]
        id = "after"
        depends_on = ["bad"]
        command = {py("pass")}

        [[tasks]]
        id = "later"
        depends_on = ["after"]
        command = {py("pass")}

        [[tasks]]
        id = "free"
        command = {py("pass")}
    """,
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 1
    tasks = tasks_by_id(result)
    assert tasks["bad"]["status"] == "failed" and tasks["bad"]["failure"] == "exit"
    assert tasks["bad"]["exit_code"] == 3
    assert tasks["after"]["status"] == "skipped"
    assert tasks["after"]["reason"] == 'dependency "bad" failed'
    assert tasks["after"]["branch"] is None  # never started: no branch to point at
    assert tasks["bad"]["branch"] == git(
        repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/*/*/bad"
    )
    assert tasks["later"]["status"] == "skipped"
    assert tasks["free"]["status"] == "succeeded"
    assert result["status"] == "failed"


def test_a_second_failure_later_in_the_run_skips_its_own_dependents_too(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The dependents of a failure are skipped whenever it comes: bad-2 fails ticks after
    bad-1 (it runs after first), and its dependent is skipped as bad-1's was."""
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "bad-1"
        command = {py("raise SystemExit(3)")}

        [[tasks]]
        id = "after-1"
        depends_on = ["bad-1"]
        command = {py("pass")}

        [[tasks]]
        id = "first"
        command = {py("pass")}

        [[tasks]]
        id = "bad-2"
        depends_on = ["first"]
        command = {py("raise SystemExit(4)")}

        [[tasks]]
        id = "after-2"
        depends_on = ["bad-2"]
        command = {py("pass")}
    """,
        header='[run]\nmax_parallel = 1\nstrategy = "fifo"\n',
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 1
    tasks = tasks_by_id(result)
    assert [tasks[t]["status"] for t in ("bad-1", "first", "bad-2")] == [
        "failed",
        "succeeded",
        "failed",
    ]
    assert tasks["after-1"]["reason"] == 'dependency "bad-1" failed'
    assert tasks["after-2"]["status"] == "skipped"
    assert tasks["after-2"]["reason"] == 'dependency "bad-2" failed'


def test_flaky_agent_succeeds_on_second_attempt(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    counter = tmp_path / "count"
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "flaky"
        retries = 2
        command = {
            py(f'''
            import pathlib
            c = pathlib.Path({str(counter)!r}); n = int(c.read_text()) + 1 if c.exists() else 1
            c.write_text(str(n)); open('left.txt', 'w').write(str(n))
            raise SystemExit(0 if n == 2 else 1)
        ''')
        }
    """,
        header='[run]\nname = "fl"\n',
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 0
    task = tasks_by_id(result)["flaky"]
    assert task["attempts"] == 2 and task["status"] == "succeeded"
    assert git(repo, "show", "genesis/fl/flaky:left.txt") == "2"
    # the failed first attempt's work is kept, not thrown away
    assert git(repo, "show", "refs/genesis/fl/flaky/attempt-1:left.txt") == "1"
    assert Path(str(task["log"])).name == "flaky.2.log"


def test_check_failure_fails_the_task(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "c"
        command = {py("pass")}
        check = "exit 4"
    """,
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 1
    task = tasks_by_id(result)["c"]
    assert task["failure"] == "check" and "exit 4" in str(task["reason"])


HOSTILE = "$(touch PWNED) `touch PWNED2`; touch PWNED3 \"q\" 'single'\nsecond line {task}"


@pytest.mark.parametrize("form", ["list", "string", "string, quoted"])
def test_hostile_prompt_arrives_intact(
    repo: Path, tmp_path: Path, form: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "got"
    writer = f"import sys; open({str(out)!r}, 'w').write(sys.argv[1])"
    if form == "list":
        command = json.dumps([PY, "-c", writer, "{prompt}"])
    elif form == "string":
        command = json.dumps(f'{PY} -c "{writer}" {{prompt}}')
    else:  # the quotes a person writes by habit must not open the door to the shell
        command = json.dumps(f'{PY} -c "{writer}" "{{prompt}}"')
    plan = write_plan(
        repo,
        f"""
        [agents.catcher]
        command = {command}

        [[tasks]]
        id = "p"
        agent = "catcher"
        prompt = {json.dumps(HOSTILE)}
    """,
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 0, result
    assert out.read_text() == HOSTILE
    for folder in (repo, repo.parent, tmp_path, repo / ".genesis" / "worktrees"):
        assert not list(folder.rglob("PWNED*"))


def test_timeout_stops_a_setsid_grandchild(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pidfile = tmp_path / "grandchild.pid"
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "hang"
        timeout = 2
        command = {
            py(f'''
            import os, time
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    open({str(pidfile)!r}, 'w').write(str(os.getpid()))
                    while True: time.sleep(1)
                os._exit(0)
            while True: time.sleep(1)
        ''')
        }
    """,
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 1
    assert tasks_by_id(result)["hang"]["failure"] == "timeout"
    pid = int(pidfile.read_text())
    assert not alive(pid)


def test_memory_limit_fails_only_the_greedy_task(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "greedy"
        memory = "200MiB"
        command = {
            py('''
            import time
            chunks = []
            for _ in range(64):
                chunks.append(b'x' * (32 * 1024 * 1024)); time.sleep(0.05)
            time.sleep(30)
        ''')
        }

        [[tasks]]
        id = "modest"
        command = {py("import time; time.sleep(0.5)")}
    """,
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 1
    tasks = tasks_by_id(result)
    assert tasks["greedy"]["failure"] == "memory"
    assert tasks["greedy"]["reason"] == "went over its memory limit of 200 MiB"
    assert int(tasks["greedy"]["peak_rss_bytes"]) > 200 * 1024 * 1024
    assert tasks["modest"]["status"] == "succeeded"


def test_sigint_stops_every_agent_and_exits_130(repo: Path, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    ready.mkdir()
    agent = py(f"""
        import os, time
        open(os.path.join({str(ready)!r}, str(os.getpid())), 'w').close()
        while True: time.sleep(1)
    """)
    body = "".join(f'[[tasks]]\nid = "t{i}"\ncommand = {agent}\n' for i in range(3))
    plan = write_plan(repo, body, header="[run]\nmax_parallel = 3\n")
    main = subprocess.Popen(
        [*genesis_cmd(), "run", str(plan)],
        cwd=repo,
        env=genesis_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: len(list(ready.iterdir())) >= 3 or main.poll() is not None, "three agents")
    assert main.poll() is None, main.communicate()
    main.send_signal(signal.SIGINT)
    out, err = main.communicate(timeout=30)
    assert main.returncode == 130, (out, err)
    assert "continue it with `genesis-par resume" in out
    for p in ready.iterdir():
        pid = int(p.name)
        assert not alive(pid)
    assert "Traceback" not in err


def test_run_name_taken_is_refused(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = write_plan(
        repo, f'[[tasks]]\nid = "a"\ncommand = {py("pass")}\n', header='[run]\nname = "same"\n'
    )
    assert run_json(repo, plan, capsys)[0] == 0
    from genesis_par.errors import UsageError

    with pytest.raises(UsageError, match="--name"):
        run_cmd.run(repo, plan)


def test_works_from_a_subfolder(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = repo / "deep" / "er"
    sub.mkdir(parents=True)
    plan = write_plan(
        repo,
        '[[tasks]]\nid = "a"\ncommand = ' + py("open('x', 'w')") + "\n",
        header='[run]\nname = "sub"\n',
    )
    code, _ = run_json(sub, plan, capsys)
    assert code == 0
    assert (repo / ".genesis" / "worktrees" / "sub" / "a" / "x").exists()


def test_not_a_repository_and_bad_base_exit_4(tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(
        f'version = 1\n[run]\nbase = "nope"\n[[tasks]]\nid = "a"\ncommand = {py("pass")}\n'
    )
    env = genesis_env()
    out = subprocess.run(
        [*genesis_cmd(), "run", str(plan)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 4 and "not inside a git repository" in out.stderr
    os.makedirs(tmp_path / "r")
    git(tmp_path / "r", "init", "-q")
    git(tmp_path / "r", "commit", "-q", "--allow-empty", "-m", "x")
    out = subprocess.run(
        [*genesis_cmd(), "run", str(plan)],
        cwd=tmp_path / "r",
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 4 and '"nope" does not resolve' in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_dependencies_whose_results_conflict_fail_the_dependent_before_it_starts(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "x"
        command = {py("open('same.txt', 'w').write('x')")}

        [[tasks]]
        id = "y"
        command = {py("open('same.txt', 'w').write('y')")}

        [[tasks]]
        id = "z"
        depends_on = ["x", "y"]
        command = {py("open('never.txt', 'w')")}

        [[tasks]]
        id = "after-z"
        depends_on = ["z"]
        command = "true"
    """,
    )
    code, result = run_json(repo, plan, capsys, no_merge=True)
    assert code == 1
    z = tasks_by_id(result)["z"]
    assert z["status"] == "failed" and z["failure"] == "dependencies"
    assert z["reason"] == (
        "its dependencies' results conflict with each other: same.txt (add/add between x and y)"
    )
    assert z["attempts"] == 0
    assert tasks_by_id(result)["after-z"]["status"] == "skipped"


def test_runs_from_inside_a_linked_worktree(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    linked = repo.parent / "linked"
    git(repo, "worktree", "add", "-q", "-b", "side", str(linked))
    agent = py("open('a.txt', 'w')")
    plan = write_plan(
        repo, f'[[tasks]]\nid = "a"\ncommand = {agent}\n', header='[run]\nname = "lk"\n'
    )
    code, _ = run_json(linked, plan, capsys)
    assert code == 0
    assert (repo / ".genesis" / "worktrees" / "lk" / "a").exists()
    assert (repo / ".git" / "genesis-par" / "state.db").exists()


def test_git_older_than_2_38_is_refused(repo: Path, tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    real = subprocess.run(["which", "git"], capture_output=True, text=True).stdout.strip()
    (fake / "git").write_text(
        f'#!/bin/sh\nif [ "$1" = "--version" ]; then echo "git version 2.30.1"; exit 0; fi\nexec {real} "$@"\n'
    )
    (fake / "git").chmod(0o755)
    plan = write_plan(repo, '[[tasks]]\nid = "a"\ncommand = "true"\n')
    env = genesis_env()
    env["PATH"] = f"{fake}:{env['PATH']}"
    out = subprocess.run(
        [*genesis_cmd(), "run", str(plan)], cwd=repo, env=env, capture_output=True, text=True
    )
    assert out.returncode == 4 and "too old" in out.stderr and "2.38" in out.stderr


def test_best_of_keeps_the_smallest_passing_candidate(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Three candidates: one fails its check, one writes a big change, one a small one.
    counter = tmp_path / "n"
    agent = py(f"""
        import fcntl, os
        with open({str(counter)!r}, 'a+') as f:
            fcntl.flock(f, fcntl.LOCK_EX); f.seek(0); n = len(f.read()) + 1; f.write('x')
        text = 'bad' if n == 1 else ('a' if n == 2 else ('line' + chr(10)) * 20)
        open('out.txt', 'w').write(text)
    """)
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "pick"
        best_of = 3
        command = {agent}
        check = "! grep -q bad out.txt"
    """,
        header='[run]\nname = "bo"\n',
    )
    code, result = run_json(repo, plan, capsys, no_merge=True)
    assert code == 0, result
    task = tasks_by_id(result)["pick"]
    assert task["status"] == "succeeded" and task["attempts"] == 3
    assert git(repo, "show", "genesis/bo/pick:out.txt") == "a"
    kept = git(repo, "for-each-ref", "--format=%(refname)", "refs/genesis/bo/pick/").split()
    assert len(kept) == 2 and all("candidate-" in r for r in kept)
    assert not list((repo / ".genesis" / "worktrees" / "bo").glob("pick~*"))
    assert (repo / ".genesis" / "worktrees" / "bo" / "pick" / "out.txt").read_text() == "a"


def test_a_bad_into_is_refused_before_any_task_runs(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = tmp_path / "ran"
    command = py(f"open({str(ran)!r}, 'w')")
    plan = write_plan(repo, f'[[tasks]]\nid = "a"\ncommand = {command}\n')
    with pytest.raises(UsageError, match=r'--into "int\.\.x y" is not a valid branch name'):
        run_cmd.run(repo, plan, as_json=True, into="int..x y")
    assert not ran.exists()
    assert git(repo, "branch", "--list", "genesis/*") == ""


def test_a_prompt_too_long_for_the_environment_reaches_the_agent_as_a_file(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo.parent / "big.md").write_text("- step one\n" + "x" * 200_000)
    got = tmp_path / "got"
    reader = f"import os, sys; open({str(got)!r}, 'w').write(str(('GENESIS_PROMPT' in os.environ, len(open(sys.argv[1]).read()))))"
    plan = write_plan(
        repo,
        f"""
        [agents.reader]
        command = {json.dumps([PY, "-c", reader, "{prompt_file}"])}

        [[tasks]]
        id = "big"
        agent = "reader"
        prompt_file = "big.md"
    """,
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 0, result
    assert got.read_text() == str((False, 200_011))


def test_a_task_waiting_to_retry_keeps_its_scope_and_its_dependents(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Between a failed attempt and the retry, a task with an overlapping scope must not start,
    and the flaky task's dependents must not be skipped."""
    times, flag = tmp_path / "times", tmp_path / "failed-once"

    def agent(name: str, fail_first: bool) -> str:
        fail = (
            f"if not os.path.exists({str(flag)!r}): open({str(flag)!r}, 'w').close(); sys.exit(1)"
        )
        return py(f"""
            import os, sys, time
            open({str(times)!r}, 'a').write('{name} start ' + repr(time.monotonic()) + chr(10))
            time.sleep(0.3)
            open({str(times)!r}, 'a').write('{name} end ' + repr(time.monotonic()) + chr(10))
            {fail if fail_first else "pass"}
        """)

    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "flaky"
        retries = 1
        paths = ["src/**"]
        command = {agent("flaky", True)}

        [[tasks]]
        id = "overlapping"
        paths = ["src/x.py"]
        command = {agent("overlapping", False)}

        [[tasks]]
        id = "after"
        depends_on = ["flaky"]
        command = {agent("after", False)}
    """,
        header='[run]\nname = "keep"\nmax_parallel = 2\nstrategy = "fifo"\n',
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 0, result
    tasks = tasks_by_id(result)
    assert tasks["flaky"]["attempts"] == 2 and tasks["after"]["status"] == "succeeded"
    spans: dict[str, list[tuple[float, float]]] = {}
    open_at: dict[str, float] = {}
    for line in times.read_text().splitlines():
        name, what, at = line.split()
        if what == "start":
            open_at[name] = float(at)
        else:
            spans.setdefault(name, []).append((open_at.pop(name), float(at)))
    for start, end in spans["flaky"]:
        (o_start, o_end) = spans["overlapping"][0]
        assert end <= o_start or o_end <= start, (spans["flaky"], spans["overlapping"])


def test_from_a_linked_worktree_head_is_that_worktrees(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(linked))
    (linked / "feat.txt").write_text("only on feature\n")
    git(linked, "add", "feat.txt")
    git(linked, "commit", "-q", "-m", "feature work")
    check = py("import os, sys; sys.exit(0 if os.path.exists('feat.txt') else 9)")
    plan = write_plan(repo, f'[[tasks]]\nid = "sees"\ncommand = {check}\n')
    code, result = run_json(linked, plan, capsys)
    assert code == 0, result
    assert result["base"] == git(linked, "rev-parse", "HEAD")
    assert run_cmd.run(linked, plan, as_json=True, name="again") == 0
    capsys.readouterr()
    from genesis_par.commands import conflicts as conflicts_cmd

    assert conflicts_cmd.run(linked, ["genesis/again/sees"], as_json=True) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["target"] == "feature"
    assert report["target_commit"] == git(linked, "rev-parse", "HEAD")


@pytest.mark.parametrize(
    "moves", ["git checkout -q -b elsewhere", "git checkout -q --detach"], ids=["branch", "detach"]
)
def test_work_lands_on_the_task_branch_even_if_the_agent_moved_head(
    repo: Path, capsys: pytest.CaptureFixture[str], moves: str
) -> None:
    script = f"{moves} && echo one > one.txt && git add one.txt && git commit -qm mine && echo two > two.txt"
    plan = write_plan(
        repo,
        f'[[tasks]]\nid = "mover"\ncommand = {json.dumps(script)}\n',
        header='[run]\nname = "mv"\n',
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 0, result
    task = tasks_by_id(result)["mover"]
    assert git(repo, "rev-parse", "genesis/mv/mover") == task["commit"]
    assert git(repo, "ls-tree", "--name-only", "genesis/mv/mover").split() == [
        "README.md",
        "one.txt",
        "two.txt",
    ]
    assert "mine" in git(repo, "log", "--format=%s", "genesis/mv/mover")


def test_the_last_failed_attempt_is_kept_and_its_worktree_left_as_it_is(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(
        repo,
        '[[tasks]]\nid = "w"\ncommand = "echo work > w.txt; exit 1"\n',
        header='[run]\nname = "lf"\n',
    )
    code, _ = run_json(repo, plan, capsys)
    assert code == 1
    assert git(repo, "show", "refs/genesis/lf/w/attempt-1:w.txt") == "work"
    worktree = repo / ".genesis" / "worktrees" / "lf" / "w"
    assert git(worktree, "status", "--porcelain") == "?? w.txt"  # left for inspection
    assert git(repo, "rev-parse", "genesis/lf/w") == git(repo, "rev-parse", "main")


def test_a_memory_limit_beyond_the_machine_is_pointed_out(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(repo, '[[tasks]]\nid = "big"\nmemory = "1000TiB"\ncommand = "true"\n')
    assert run_cmd.run(repo, plan, as_json=True) == 0
    assert 'task "big": memory = 1000 TiB is more than this machine has' in capsys.readouterr().err


def test_a_worktreeinclude_that_is_not_a_small_regular_file_is_refused_before_the_run(
    repo: Path,
) -> None:
    os.mkfifo(repo / ".worktreeinclude")  # git would wait on it forever
    plan = write_plan(repo, '[[tasks]]\nid = "a"\ncommand = "true"\n')
    with pytest.raises(UsageError, match=r"\.worktreeinclude must be a regular file of at most"):
        run_cmd.run(repo, plan)
    assert git(repo, "branch", "--list", "genesis/*") == ""
    assert not (repo / ".git" / "genesis-par" / "state.db").exists()


def test_an_agent_that_turns_its_worktree_into_a_file_fails_only_its_task(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What a `chmod 000` on its worktree does to a user who is not root (git cannot start
    there), done in a way root cannot read through either."""
    vandal = py("""
        import os, shutil
        here = os.getcwd(); os.chdir('..'); shutil.rmtree(here)
        open(here, 'w').write('not a folder any more')
    """)
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "vandal"
        command = {vandal}

        [[tasks]]
        id = "good"
        command = {py("open('good.txt', 'w').write('good')")}
    """,
        header='[run]\nname = "wt"\n',
    )
    code, result = run_json(repo, plan, capsys)
    tasks = tasks_by_id(result)
    assert code == 1 and result["status"] == "failed"
    worktree = repo / ".genesis" / "worktrees" / "wt" / "vandal"
    assert tasks["vandal"]["status"] == "failed"
    assert f"cannot run in {worktree}: Not a directory" in str(tasks["vandal"]["reason"])
    assert tasks["good"]["status"] == "succeeded"
    assert git(repo, "show", "genesis/wt/integration:good.txt") == "good"


def test_an_unexpected_error_in_one_task_fails_that_task_and_the_run_goes_on(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whatever breaks in one task's worker (here: its next log path made a folder) becomes
    that task's failure with the reason; the other tasks land, none is left interrupted."""
    next_log = repo / ".git" / "genesis-par" / "logs" / "boom" / "t.2.log"
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "t"
        retries = 1
        command = {py(f"import os; os.makedirs({str(next_log)!r}); raise SystemExit(1)")}

        [[tasks]]
        id = "u"
        command = {py("open('u.txt', 'w').write('u')")}
    """,
        header='[run]\nname = "boom"\n',
    )
    code, result = run_json(repo, plan, capsys)
    tasks = tasks_by_id(result)
    assert code == 1 and result["status"] == "failed"
    assert (tasks["t"]["status"], tasks["t"]["failure"]) == ("failed", "error")
    assert "IsADirectoryError" in str(tasks["t"]["reason"]) and str(next_log) in str(
        tasks["t"]["reason"]
    )
    assert tasks["u"]["status"] == "succeeded"
    assert git(repo, "show", "genesis/boom/integration:u.txt") == "u"


def test_a_string_agent_command_with_an_apostrophe_in_a_comment_gets_the_prompt(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompt = 'it\'s "$(rm -rf ~)" `x`\nsecond line'
    write = f'{PY} -c \'import sys; open("got.txt", "w").write(sys.argv[1])\''
    command = json.dumps(f"# the agent's own comment\n{write} {{prompt}}")
    plan = write_plan(
        repo,
        f"""
        [agents.a]
        command = {command}

        [[tasks]]
        id = "t"
        agent = "a"
        prompt = {json.dumps(prompt)}
    """,
        header='[run]\nname = "apos"\n',
    )
    code, _ = run_json(repo, plan, capsys)
    assert code == 0
    assert git(repo, "show", "genesis/apos/t:got.txt") == prompt


_RUN_R = '[run]\nname = "r"\n'


def _repo_at(path: Path) -> Path:
    """A repository with one empty commit on main, at a path of the test's choosing."""
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "commit", "-q", "--allow-empty", "-m", "initial")
    return path


def test_plain_lines_show_a_log_path_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In CI each event is a line written as it is: markup and emoji codes in a path stay
    (rich made :thumbs_up: an emoji). The colons also reach the merge queue, whose scratch
    object store names the repository's objects in a colon-separated list."""
    repo = _repo_at(tmp_path / 'ci :thumbs_up: [bold]x "q\\')
    plan = write_plan(repo, f'[[tasks]]\nid = "a"\ncommand = {py("pass")}\n', header=_RUN_R)
    assert run_cmd.run(repo, plan) == 0
    lines = capsys.readouterr().out.splitlines()
    log = str(repo.resolve() / ".git" / "genesis-par" / "logs" / "r" / "a.1.log")
    started = next(line for line in lines if "a: attempt 1 started" in line)
    assert started.endswith(f"(log {log})")
    assert 'ci :thumbs_up: [bold]x "q\\/' in started
    assert any(line.endswith(" a: succeeded") for line in lines)
    assert git(repo, "rev-parse", "genesis/r/integration") == git(repo, "rev-parse", "main")


def test_the_summary_shows_paths_and_commands_as_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The closing lines print a failed task's reason and log path as they are: a check
    command or a folder with `:thumbs_up:` in it is not turned into an emoji."""
    repo = _repo_at(tmp_path / "ci :thumbs_up: x")
    body = f'[[tasks]]\nid = "a"\ncommand = {py("pass")}\ncheck = "grep -q :smile: nowhere"\n'
    plan = write_plan(repo, body, header=_RUN_R)
    assert run_cmd.run(repo, plan, no_merge=True) == 1
    lines = capsys.readouterr().out.splitlines()
    log = str(repo.resolve() / ".git" / "genesis-par" / "logs" / "r" / "a.1.log")
    assert f"    log: {log}" in lines
    assert any(line.startswith("  a: check `grep -q :smile: nowhere` failed") for line in lines)
