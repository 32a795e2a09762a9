"""`conflicts` says which on_conflict strategies can resolve each conflicted path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genesis_par.commands import conflicts as conflicts_cmd
from genesis_par.plan.on_conflict import strategies_for
from tests.conftest import branch, commit

ALL = ["rerun", "agent", "prefer-target", "prefer-task", "manual"]


def test_strategies_by_kind() -> None:
    assert strategies_for(["content"]) == ALL
    assert strategies_for(["add/add", "content"]) == ALL
    assert strategies_for(["modify/delete"]) == ["rerun", "agent", "manual"]
    assert strategies_for(["content", "rename/rename"]) == ["rerun", "agent", "manual"]


def test_conflicts_names_the_strategies_of_each_file(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit(repo, {"same.txt": "x\n", "gone.txt": "g\n"})
    branch(repo, "a", {"same.txt": "a\n", "gone.txt": None})
    branch(repo, "b", {"same.txt": "b\n", "gone.txt": "edited\n"})
    assert conflicts_cmd.run(repo, ["a", "b"], into="main", as_json=True) == 3
    files = {f["path"]: f for f in json.loads(capsys.readouterr().out)["files"]}
    assert files["same.txt"]["strategies"] == ALL
    assert files["gone.txt"]["strategies"] == ["rerun", "agent", "manual"]
    assert conflicts_cmd.run(repo, ["a", "b"], into="main") == 3
    text = capsys.readouterr().out
    assert (
        "gone.txt: modify/delete between a, b; on_conflict can resolve it by rerun, agent, manual"
        in text
    )
