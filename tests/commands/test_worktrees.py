from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from genesis_par.commands import worktrees as wt_cmd
from tests.conftest import genesis_cmd, genesis_env, git, wait_for
from tests.helpers import gc_json
from tests.plans import py, run_json, write_plan, writer


def everything(repo: Path) -> str:
    return (
        git(repo, "for-each-ref")
        + git(repo, "worktree", "list", "--porcelain")
        + "".join(sorted(str(p) for p in (repo / ".genesis").rglob("*") if ".git" not in p.parts))
    )


def test_gc_after_a_fully_merged_run_removes_everything(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = "".join(
        f'[[tasks]]\nid = "t{i}"\ncommand = {writer(f"f{i}.txt", "x")}\n' for i in range(3)
    )
    plan = write_plan(repo, body, header='[run]\nname = "g1"\n')
    assert run_json(repo, plan, capsys)[0] == 0
    before = everything(repo)
    dry = gc_json(repo, capsys, dry_run=True)
    assert dry["dry_run"] is True and len(dry["removed"]) == 3
    assert everything(repo) == before
    result = gc_json(repo, capsys)
    assert result["kept"] == []
    assert git(repo, "branch", "--list", "genesis/g1/t*") == ""
    assert not (repo / ".genesis" / "worktrees" / "g1").exists()  # so the name is free again
    others = [
        line
        for line in git(repo, "worktree", "list", "--porcelain").splitlines()
        if line.startswith("worktree ") and "/.genesis/pool/" not in line
    ]
    assert len(others) == 1  # the main worktree; clean ones wait in the pool for reuse


def test_gc_keeps_dirty_untracked_and_unmerged_work_and_force_saves_it(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(repo, "commit", "-q", "--allow-empty", "-m", "x")
    (repo / "shared.txt").write_text("base\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "shared")
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "edit"
        command = {writer("e.txt", "e")}

        [[tasks]]
        id = "untracked"
        command = {writer("u.txt", "u")}

        [[tasks]]
        id = "first"
        priority = "high"
        command = {writer("shared.txt", "first")}

        [[tasks]]
        id = "loser"
        command = {writer("shared.txt", "second")}
    """,
        header='[run]\nname = "g2"\n',
    )
    assert run_json(repo, plan, capsys)[0] == 3
    trees = repo / ".genesis" / "worktrees" / "g2"
    (trees / "edit" / "e.txt").write_text("edited after the run\n")
    (trees / "untracked" / "new.txt").write_text("new file\n")
    result = gc_json(repo, capsys)
    kept = {(k["task"], k["reason"].split(":")[0]) for k in result["kept"]}
    assert ("edit", "uncommitted changes") in kept
    assert ("untracked", "uncommitted changes") in kept
    assert ("loser", "branch kept") in kept
    assert (trees / "edit" / "e.txt").read_text() == "edited after the run\n"
    assert git(repo, "rev-parse", "--verify", "genesis/g2/loser")
    forced = gc_json(repo, capsys, force=True)
    saved = {r["task"]: r["saved"] for r in forced["removed"] if r["saved"]}
    assert set(saved) == {"edit", "untracked", "loser"}
    assert git(repo, "show", f"{saved['edit']}:e.txt") == "edited after the run"
    assert git(repo, "show", f"{saved['untracked']}:new.txt") == "new file"
    assert git(repo, "show", f"{saved['loser']}:shared.txt") == "second"
    assert git(repo, "branch", "--list", "genesis/g2/*").split() == ["genesis/g2/integration"]
    # the trash is listed with the command that restores each piece, and that command works
    assert wt_cmd.list_(repo, as_json=True) == 0
    trash = {t["ref"]: t["restore"] for t in json.loads(capsys.readouterr().out)["trash"]}
    assert set(trash) == set(saved.values())
    restore = trash[saved["edit"]].split()
    assert restore[:2] == ["git", "branch"]
    git(repo, *restore[1:])
    assert git(repo, "show", f"{restore[2]}:e.txt") == "edited after the run"


def test_squash_landed_branch_is_recognised(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = write_plan(
        repo,
        f'[merge]\nmethod = "squash"\n[[tasks]]\nid = "s"\ncommand = {writer("s.txt", "s")}\n',
        header='[run]\nname = "g3"\n',
    )
    assert run_json(repo, plan, capsys)[0] == 0
    listed = wt_cmd.list_(repo, as_json=True)
    assert listed == 0
    rows = {w["task"]: w for w in json.loads(capsys.readouterr().out)["worktrees"]}
    assert rows["s"]["landed"] is True and rows["s"]["state"] == "finished"
    result = gc_json(repo, capsys)
    assert result["kept"] == []
    assert git(repo, "branch", "--list", "genesis/g3/s") == ""


def test_orphaned_directory_and_prunable_record_are_cleaned(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    orphan = repo / ".genesis" / "worktrees" / "ghost" / "task"
    orphan.mkdir(parents=True)
    gone = repo / ".genesis" / "worktrees" / "old" / "t"
    git(repo, "worktree", "add", "-q", "-b", "genesis/old/t", str(gone))
    import shutil

    shutil.rmtree(gone)
    result = gc_json(repo, capsys)
    assert not orphan.exists()
    assert "prunable" not in git(repo, "worktree", "list", "--porcelain")
    assert any("old" in line for line in result["pruned"]) or any(
        r["state"] == "prunable" for r in result["removed"]
    )


def test_a_worktree_with_a_running_agent_is_never_touched(repo: Path, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    agent = py(f"import time; open({str(ready)!r}, 'w').close(); time.sleep(60)")
    quick = py("open('quick.txt', 'w').write('done')")
    plan = write_plan(
        repo,
        f'[[tasks]]\nid = "busy"\ncommand = {agent}\n[[tasks]]\nid = "quick"\ncommand = {quick}\n',
        header='[run]\nname = "g4"\n',
    )
    base = git(repo, "rev-parse", "HEAD")
    main = subprocess.Popen(
        [*genesis_cmd(), "run", str(plan)],
        cwd=repo,
        env=genesis_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: ready.exists() or main.poll() is not None, "the agent to start")

        def quick_committed() -> bool:
            tip = subprocess.run(
                ["git", "rev-parse", "-q", "--verify", "genesis/g4/quick"],
                cwd=repo,
                capture_output=True,
                text=True,
            ).stdout.strip()
            return tip not in ("", base)

        wait_for(quick_committed, "the quick task to finish while the other runs")
        assert main.poll() is None
        out = subprocess.run(
            [*genesis_cmd(), "worktrees", "gc", "--force", "--json"],
            cwd=repo,
            env=genesis_env(),
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
        kept = json.loads(out.stdout)["kept"]
        assert sorted((k["task"], k["reason"]) for k in kept) == [
            ("busy", "an agent is running in it"),
            ("quick", "its run is still going"),  # finished, but its run is not
        ]
        assert (repo / ".genesis" / "worktrees" / "g4" / "busy").exists()
        assert (repo / ".genesis" / "worktrees" / "g4" / "quick" / "quick.txt").exists()
    finally:
        main.send_signal(signal.SIGINT)
        main.wait(timeout=30)


def test_worktreeinclude_setup_and_port(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".gitignore").write_text(".env\n")
    (repo / ".worktreeinclude").write_text(".env\nlocal/\n")
    git(repo, "add", ".gitignore", ".worktreeinclude")
    git(repo, "commit", "-q", "-m", "include")
    (repo / ".env").write_text("SECRET=1\n")
    (repo / "local").mkdir()
    (repo / "local" / "settings.ini").write_text(
        "[x]\n"
    )  # untracked, not ignored: still never committed
    setups = tmp_path / "setups"
    setups.mkdir()
    setup = py(
        f"import os; open(os.path.join({str(setups)!r}, os.environ['GENESIS_TASK']), 'a').write('x')"
    )
    agent = py(
        f"import os, shutil; assert open('.env').read().strip() == 'SECRET=1'; assert os.path.exists('local/settings.ini'); open(os.path.join({str(tmp_path)!r}, 'port-' + os.environ['GENESIS_TASK']), 'w').write(os.environ['GENESIS_PORT']); open('work.txt', 'w').write('w')"
    )
    plan = write_plan(
        repo,
        f"""
        [run]
        name = "inc"
        max_parallel = 2
        setup = {setup}

        [[tasks]]
        id = "a"
        command = {agent}

        [[tasks]]
        id = "b"
        retries = 1
        command = {agent}
    """,
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 0, result
    assert {p.name: p.read_text() for p in setups.iterdir()} == {"a": "x", "b": "x"}
    ports = {(tmp_path / f"port-{t}").read_text() for t in ("a", "b")}
    assert len(ports) == 2 and all(p.isdigit() for p in ports)
    for task in ("a", "b"):
        files = git(repo, "ls-tree", "-r", "--name-only", f"genesis/inc/{task}").split()
        assert "work.txt" in files and ".env" not in files and "local/settings.ini" not in files


def test_failing_setup_fails_the_task_with_setup(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(
        repo,
        f'[run]\nname = "su"\nsetup = "echo preparing; exit 5"\n[[tasks]]\nid = "a"\ncommand = {writer("a.txt", "a")}\n',
    )
    code, result = run_json(repo, plan, capsys)
    assert code == 1
    (task,) = result["tasks"]
    assert task["failure"] == "setup" and "exit 5" in task["reason"]
    assert "preparing" in Path(task["log"]).read_text()


def test_gc_pools_clean_worktrees_and_a_later_run_reuses_them_like_new(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".gitignore").write_text("*.log\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "ignore logs")
    plan = write_plan(
        repo,
        f'[[tasks]]\nid = "a"\ncommand = {writer("a.txt", "a")}\n',
        header='[run]\nname = "p1"\n',
    )
    assert run_json(repo, plan, capsys)[0] == 0
    (repo / ".genesis" / "worktrees" / "p1" / "a" / "ignored.log").write_text("left over\n")
    git(repo, "commit", "-q", "--allow-empty", "-m", "base moves on")
    gc_json(repo, capsys)
    pooled = list((repo / ".genesis" / "pool").iterdir())
    assert len(pooled) == 1
    check = py(
        "import os, subprocess; assert sorted(os.listdir('.')) == ['.git', '.gitignore', 'README.md'], os.listdir('.'); b = subprocess.run(['git', 'branch', '--show-current'], capture_output=True, text=True).stdout.strip(); assert b == 'genesis/p2/b', b; open('b.txt', 'w').write('b')"
    )
    plan2 = write_plan(
        repo,
        f'[[tasks]]\nid = "b"\ncommand = {check}\n',
        name="p2.toml",
        header='[run]\nname = "p2"\n',
    )
    code, result = run_json(repo, plan2, capsys)
    assert code == 0, result
    assert not list((repo / ".genesis" / "pool").iterdir())
    assert git(repo, "rev-parse", "genesis/p2/b^") == git(repo, "rev-parse", "main")


def test_a_retry_keeps_included_files_and_what_setup_built(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A retry starts from the start commit without the failed attempt's files, yet with the
    .worktreeinclude files and the (ignored) output of the setup, which does not run again."""
    (repo / ".gitignore").write_text(".env\nbuild/\n")
    (repo / ".worktreeinclude").write_text(".env\n")
    git(repo, "add", ".gitignore", ".worktreeinclude")
    git(repo, "commit", "-q", "-m", "include")
    (repo / ".env").write_text("SECRET=1\n")
    setups = tmp_path / "setups"
    setup = py(
        f"import os; os.makedirs('build'); open('build/out', 'w').write('built'); "
        f"open({str(setups)!r}, 'a').write('x')"
    )
    flag = tmp_path / "first-attempt-done"
    agent = py(f"""
        import os, pathlib, sys
        assert open('.env').read() == 'SECRET=1\\n' and open('build/out').read() == 'built'
        assert not os.path.exists('junk.txt')
        if not os.path.exists({str(flag)!r}):
            open({str(flag)!r}, 'w').close()
            os.remove('.env'); open('junk.txt', 'w').write('left by attempt 1')
            sys.exit(1)
        open('work.txt', 'w').write('w')
    """)
    plan = write_plan(
        repo,
        f"""
        [run]
        name = "retry"
        pool = false
        setup = {setup}

        [[tasks]]
        id = "a"
        retries = 1
        command = {agent}
    """,
    )
    code, result = run_json(repo, plan, capsys)
    task = result["tasks"][0]
    assert code == 0 and task["attempts"] == 2, result
    assert setups.read_text() == "x"
    assert git(repo, "ls-tree", "-r", "--name-only", "genesis/retry/a").split() == [
        ".gitignore",
        ".worktreeinclude",
        "README.md",
        "work.txt",
    ]


def test_force_saves_a_dirty_worktree_on_an_unlanded_branch_and_a_plain_folder(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "shared.txt").write_text("base\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "shared")
    plan = write_plan(
        repo,
        f"""
        [[tasks]]
        id = "first"
        priority = "high"
        command = {writer("shared.txt", "first")}

        [[tasks]]
        id = "loser"
        command = {writer("shared.txt", "second")}
    """,
        header='[run]\nname = "g9"\n',
    )
    assert run_json(repo, plan, capsys)[0] == 3
    trees = repo / ".genesis" / "worktrees"
    (trees / "g9" / "loser" / "wip.txt").write_text("not committed\n")
    junk = trees / "zz" / "junk"
    junk.mkdir(parents=True)
    (junk / "notes.txt").write_text("precious\n")
    dry = gc_json(repo, capsys, force=True, dry_run=True)
    forced = gc_json(repo, capsys, force=True)
    assert sorted(r["task"] for r in dry["removed"]) == sorted(r["task"] for r in forced["removed"])
    saved = next(r["saved"] for r in forced["removed"] if r["task"] == "loser")
    assert git(repo, "show", f"{saved}:wip.txt") == "not committed"
    assert git(repo, "show", f"{saved}:shared.txt") == "second"
    assert git(repo, "branch", "--list", "genesis/g9/loser") == ""
    moved = next(r["what"] for r in forced["removed"] if r["task"] == "junk")
    aside = Path(moved.split("moved aside to ")[1].split(" (")[0])
    assert (aside / "notes.txt").read_text() == "precious\n" and not junk.exists()


def test_landed_however_it_landed_and_only_then(repo: Path) -> None:
    """Squashed together with other work on the same file: landed. A rename whose deletion
    never reached the target: not landed."""
    from genesis_par import gitops

    git(repo, "commit", "-q", "--allow-empty", "-m", "x")
    (repo / "a.txt").write_text("".join(f"{i}\n" for i in range(30)))
    (repo / "util.txt").write_text("util\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "files")
    lines = [f"{i}\n" for i in range(30)]
    for name, line in (("top", 0), ("bottom", 29)):
        git(repo, "checkout", "-q", "-b", name, "main")
        edited = lines.copy()
        edited[line] = f"{name}\n"
        (repo / "a.txt").write_text("".join(edited))
        git(repo, "commit", "-qam", name)
    git(repo, "checkout", "-q", "-b", "renamer", "main")
    git(repo, "mv", "util.txt", "helpers.txt")
    git(repo, "commit", "-qm", "rename")
    git(repo, "checkout", "-q", "-b", "target", "main")
    both = lines.copy()
    both[0], both[29] = "top\n", "bottom\n"
    (repo / "a.txt").write_text("".join(both))
    (repo / "helpers.txt").write_text("util\n")  # the new name arrived, the old one stayed
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "squashed both, half the rename")
    git(repo, "checkout", "-q", "main")
    assert gitops.landed(repo, "top", "target") and gitops.landed(repo, "bottom", "target")
    assert not gitops.landed(repo, "renamer", "target")


def test_pooling_hides_nothing_and_nests_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A change hidden by skip-worktree is uncommitted work; a sparse worktree is not pooled;
    two runs' tasks of one name go to two pool entries; a cleaned run's name is free again."""
    (repo / "b.txt").write_text("b\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "b")
    body = f'[[tasks]]\nid = "x1"\ncommand = {writer("x1.txt", "x")}\n'
    for run in ("p1", "p2", "p3"):
        run_plan = write_plan(repo, body, name=f"{run}.toml", header=f'[run]\nname = "{run}"\n')
        assert run_json(repo, run_plan, capsys)[0] == 0
    sparse = repo / ".genesis" / "worktrees" / "p3" / "x1"
    git(sparse, "sparse-checkout", "set", "--no-cone", "/x1.txt")
    hidden = repo / ".genesis" / "worktrees" / "p1" / "x1"
    git(hidden, "update-index", "--skip-worktree", "b.txt")
    (hidden / "b.txt").write_text("changed where git status does not look\n")
    kept = gc_json(repo, capsys)["kept"]
    assert [(k["run"], k["reason"].split(":")[0]) for k in kept] == [("p1", "uncommitted changes")]
    git(hidden, "update-index", "--no-skip-worktree", "b.txt")
    git(hidden, "checkout", "--", "b.txt")
    assert gc_json(repo, capsys)["kept"] == []
    pool = sorted(p.name for p in (repo / ".genesis" / "pool").iterdir())
    assert len(pool) == 2 and not any("p3" in p for p in pool)  # the sparse one was removed
    assert all(not (repo / ".genesis" / "pool" / p / "x1").exists() for p in pool)
    assert not (repo / ".genesis" / "worktrees" / "p1").exists()
    assert (
        run_json(
            repo, write_plan(repo, body, name="again.toml", header='[run]\nname = "p1x"\n'), capsys
        )[0]
        == 0
    )
