"""A SHA-256 repository (`git init --object-format=sha256`): git's null object id there is 64
zeros, not 40. Creating a ref only if it is missing, and reading a deletion from the fence's
hook log, must not assume SHA-1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genesis_par.commands import run as run_cmd
from tests.conftest import commit, git
from tests.plans import write_plan


@pytest.fixture
def sha256_repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", "--object-format=sha256", str(path))
    commit(path, {"README.md": "hello\n"}, "initial")
    git(path, "branch", "feature")
    assert len(git(path, "rev-parse", "HEAD")) == 64
    return path


def run(repo: Path, capsys: pytest.CaptureFixture[str], body: str) -> tuple[int, dict[str, dict]]:  # type: ignore[type-arg]
    plan = write_plan(repo, body, header='[run]\nname = "s"\nmax_parallel = 2\n')
    code = run_cmd.run(repo, plan, as_json=True)
    tasks = {t["id"]: t for t in json.loads(capsys.readouterr().out)["tasks"]}
    return code, tasks


def test_a_sha256_repository_runs_and_merges(
    sha256_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = """
        [[tasks]]
        id = "t"
        command = "echo t > t.txt"

        [[tasks]]
        id = "u"
        command = "echo u > u.txt && git add u.txt && git commit -qm u"
    """
    code, tasks = run(sha256_repo, capsys, body)
    assert code == 0, tasks
    assert git(sha256_repo, "show", "genesis/s/integration:t.txt") == "t"
    assert git(sha256_repo, "show", "genesis/s/integration:u.txt") == "u"


def test_an_agent_deleting_a_user_branch_there_is_refused_and_named(
    sha256_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feature = git(sha256_repo, "rev-parse", "feature")
    body = """
        [[tasks]]
        id = "bad"
        command = "echo w > w.txt; git branch -D feature; exit 0"
    """
    code, tasks = run(sha256_repo, capsys, body)
    assert code == 1, tasks
    assert tasks["bad"]["failure"] == "escaped", tasks["bad"]
    assert "tried to delete refs/heads/feature (refused)" in tasks["bad"]["reason"]
    assert git(sha256_repo, "rev-parse", "feature") == feature
