"""`merge BRANCH... --into REF` runs a check or says none ran; `--dry-run` says what it cannot
know, lists what is already merged apart, and prints no commit id that does not exist."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from genesis_par.commands import merge as merge_cmd
from tests.conftest import branch, git
from tests.plans import py, run_json, write_plan

FAILS_ON_BAD = py("import pathlib, sys; sys.exit(pathlib.Path('bad.txt').exists())")


def test_named_branches_run_the_check_given_with_check(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    branch(repo, "good", {"good.txt": "fine\n"})
    branch(repo, "bad", {"bad.txt": "broken\n"})
    git(repo, "branch", "target")
    before = git(repo, "rev-parse", "target")
    check = "test ! -e bad.txt"
    code = merge_cmd.run(repo, ["good", "bad"], into="target", check=check, as_json=True)
    out = json.loads(capsys.readouterr().out)
    assert code == 3
    merge = out["merge"]
    assert merge["merged"] == ["good"] and merge["unmerged"][0]["reason"] == "merge check failed"
    assert merge["check"] == {"command": check, "ran": True, "note": None}
    tip = git(repo, "rev-parse", "target")
    assert tip != before and "bad.txt" not in git(repo, "ls-tree", "--name-only", tip)


def test_named_branches_without_a_check_say_none_ran(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    branch(repo, "one", {"one.txt": "1\n"})
    git(repo, "branch", "target")
    assert merge_cmd.run(repo, ["one"], into="target", as_json=True) == 0
    check = json.loads(capsys.readouterr().out)["merge"]["check"]
    assert check["command"] is None and check["ran"] is False and "no merge check" in check["note"]
    branch(repo, "two", {"two.txt": "2\n"})
    assert merge_cmd.run(repo, ["two"], into="target") == 0
    assert "no merge check is set" in capsys.readouterr().out


def test_named_branches_into_a_runs_target_use_the_runs_check(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(
        repo,
        f'[merge]\ncheck = {FAILS_ON_BAD}\n[[tasks]]\nid = "t"\ncommand = {py("pass")}\n',
        header='[run]\nname = "rc"\n',
    )
    assert run_json(repo, plan, capsys)[0] == 0
    branch(repo, "bad", {"bad.txt": "broken\n"})
    code = merge_cmd.run(repo, ["bad"], into="genesis/rc/integration", as_json=True)
    merge = json.loads(capsys.readouterr().out)["merge"]
    assert code == 3 and merge["unmerged"][0]["reason"] == "merge check failed"
    assert merge["check"]["ran"] is True and "bad.txt" in merge["check"]["command"]


def test_dry_run_lists_already_merged_apart_and_names_no_commit_that_does_not_exist(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    branch(repo, "done", {"done.txt": "d\n"})
    branch(repo, "new", {"new.txt": "n\n"})
    git(repo, "branch", "target")
    assert merge_cmd.run(repo, ["done"], into="target") == 0
    capsys.readouterr()
    assert merge_cmd.run(repo, ["done", "new"], into="target", dry_run=True, as_json=True) == 0
    out = json.loads(capsys.readouterr().out)
    merge = out["merge"]
    assert merge["already_merged"] == ["done"] and sorted(merge["merged"]) == ["done", "new"]
    assert merge["after"] is None and merge["check"]["ran"] is False
    assert "dry run runs no check" in merge["check"]["note"]
    assert merge_cmd.run(repo, ["done", "new"], into="target", dry_run=True) == 0
    text = capsys.readouterr().out
    assert "would merge (1): new" in text and "already merged (1): done" in text
    assert "dry run runs no check" in text
    for shown in re.findall(r"\b[0-9a-f]{12}\b", text):  # every id shown names a commit
        done = subprocess.run(["git", "cat-file", "-e", f"{shown}^{{commit}}"], cwd=repo)
        assert done.returncode == 0, shown
