"""Every process of a task (setup, agent, check, each best_of candidate) and the merge check is
built by the same step: the same template values and the same care (issue 14)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from genesis_par.state import Store
from tests.conftest import git
from tests.plans import PY, py, run_json, tasks_by_id, write_plan


def _state(repo: Path) -> Path:
    return repo / ".git" / "genesis-par"


def test_a_merge_check_using_port_runs_with_a_port(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seen = tmp_path / "port"
    check = json.dumps(
        [
            PY,
            "-c",
            f"import os, sys; open({str(seen)!r}, 'w').write(sys.argv[1] + ' ' "
            "+ os.environ['GENESIS_PORT'])",
            "{port}",
        ]
    )
    plan = write_plan(
        repo,
        f"""
        [merge]
        check = {check}

        [[tasks]]
        id = "a"
        command = {py("open('a.txt', 'w').write('a')")}
    """,
        header='[run]\nname = "mport"\n',
    )
    code, result = run_json(repo, plan, capsys)  # was a traceback: KeyError: 'port'
    assert code == 0, result
    assert result["merge"]["merged"] == ["a"]
    argument, variable = seen.read_text().split()
    assert argument == variable and argument.isdigit()


def test_best_of_candidates_get_setup_and_worktreeinclude_files(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".gitignore").write_text(".env\nbuilt\n")
    (repo / ".worktreeinclude").write_text(".env\n")
    git(repo, "add", ".gitignore", ".worktreeinclude")
    git(repo, "commit", "-q", "-m", "include")
    (repo / ".env").write_text("SECRET=1\n")
    setups = tmp_path / "setups"
    setups.mkdir()
    setup = py(f"""
        import os
        open('built', 'w').write('ok')
        open(os.path.join({str(setups)!r}, os.path.basename(os.getcwd())), 'w').close()
    """)
    agent = py("""
        assert open('.env').read() == 'SECRET=1' + chr(10), 'no .env'
        assert open('built').read() == 'ok', 'no setup'
        open('out.txt', 'w').write('done')
    """)
    plan = write_plan(
        repo,
        f"""
        [run]
        name = "bos"
        setup = {setup}

        [[tasks]]
        id = "pick"
        best_of = 2
        command = {agent}
    """,
    )
    code, result = run_json(repo, plan, capsys, no_merge=True)
    assert code == 0, result  # was failed: neither candidate had .env nor the setup's output
    assert sorted(p.name for p in setups.iterdir()) == ["pick~1", "pick~2"]
    assert git(repo, "show", "genesis/bos/pick:out.txt") == "done"
    assert ".env" not in git(repo, "ls-tree", "--name-only", "genesis/bos/pick").split()


def test_best_of_candidates_record_their_process_and_memory(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Each candidate holds 40 MiB for a moment, long enough to be sampled.
    agent = py("""
        import os, time
        block = bytearray(40 * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(1.5)
        open('out.txt', 'w').write(str(os.getpid()))
    """)
    plan = write_plan(
        repo,
        f'[[tasks]]\nid = "pick"\nbest_of = 2\ncommand = {agent}\n',
        header='[run]\nname = "bom"\n',
    )
    code, result = run_json(repo, plan, capsys, no_merge=True)
    assert code == 0, result
    task = tasks_by_id(result)["pick"]
    assert int(task["peak_rss_bytes"]) > 30 * 1024 * 1024
    with Store.open(_state(repo), read_only=True) as store:
        attempts = store.attempts("bom", "pick")
    assert sorted(a.n for a in attempts) == [1, 2]
    # the orphan sweep finds a candidate's tree by the pid and start time recorded for it
    assert all(a.pid and a.create_time and a.pid != os.getpid() for a in attempts)
