"""Tables keep every name whole: in a pipe or a CI log, and in a narrow terminal."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from genesis_par.cli import app
from genesis_par.commands import run as run_cmd
from genesis_par.report.words import plural
from tests.conftest import genesis_cmd
from tests.plans import py, write_plan
from tests.terminal import run_in_terminal

RUN = "a-fairly-long-run-name-for-the-tables"
TASKS = [
    "implement-pagination-for-the-users-endpoint-first",
    "implement-pagination-for-the-users-endpoint-second",
    "implement-pagination-for-the-users-endpoint-third",
]


@pytest.fixture
def clashing_run(repo: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A finished run of three long-named tasks that each write the same file differently."""
    write = "open('shared.txt', 'w').write({!r})"
    body = "".join(
        f'[[tasks]]\nid = "{task}"\ncommand = {py(write.format(task))}\n' for task in TASKS
    )
    plan = write_plan(repo, body, header=f'[run]\nname = "{RUN}"\n')
    assert run_cmd.run(repo, plan, as_json=True, no_merge=True) == 3
    capsys.readouterr()
    return repo


@pytest.mark.parametrize("columns", ["80", "160"])
def test_piped_tables_print_whole_names(
    clashing_run: Path, monkeypatch: pytest.MonkeyPatch, columns: str
) -> None:
    """`conflicts | cat` showed `bra…`: without a terminal no value is cut, whatever COLUMNS."""
    monkeypatch.chdir(clashing_run)
    monkeypatch.setenv("COLUMNS", columns)
    runner = CliRunner()
    conflicts = runner.invoke(app, ["conflicts", "--run", RUN])
    assert conflicts.exit_code == 3, conflicts.output
    status = runner.invoke(app, ["status", RUN])
    runs = runner.invoke(app, ["runs"])
    for task in TASKS:
        assert f"genesis/{RUN}/{task}" in conflicts.output
        assert task in status.output
    assert RUN in runs.output
    assert "1 conflicted file:" in conflicts.output  # was "1 conflicted file(s)"
    assert "1 conflict add/add" in conflicts.output
    for output in (conflicts.output, status.output, runs.output):
        assert "…" not in output


def test_a_terminal_shows_what_tells_branches_apart(clashing_run: Path) -> None:
    """In a 120-column terminal the shared genesis/<run>/ goes to the header, the names stay."""
    code, output = run_in_terminal([*genesis_cmd(), "conflicts", "--run", RUN], clashing_run, 120)
    assert code == 3, output
    assert f"branch (genesis/{RUN}/…)" in output.replace("\r\n", "\n")
    for i, task in enumerate(TASKS, start=1):
        assert f"{i}. {task}" in output
    assert output.count("…") == 1  # the header's, no name is cut


def test_counts_agree_with_their_nouns(tmp_path: Path) -> None:
    """`1 tasks in 1 levels`, `1 branches`: one helper makes every count agree."""
    assert [plural(1, "task"), plural(2, "task"), plural(0, "task")] == [
        "1 task",
        "2 tasks",
        "0 tasks",
    ]
    assert plural(1, "branch") == "1 branch" and plural(3, "branch") == "3 branches"
    assert plural(2, "dependency") == "2 dependencies" and plural(2, "day") == "2 days"
    plan = tmp_path / "one.toml"
    plan.write_text('version = 1\n[[tasks]]\nid = "only"\ncommand = "true"\n')
    result = CliRunner().invoke(app, ["graph", str(plan)])
    assert result.exit_code == 0 and "run one: 1 task in 1 level" in result.output
