from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from genesis_par import plan
from genesis_par.cli import app
from tests.conftest import genesis_cmd, genesis_env, user_error

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"


def test_init_writes_a_plan_that_validates_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "plan.toml"
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    loaded = plan.load(target)
    assert {t.id for t in loaded.tasks} == {"notes", "listing", "summary"}
    for section in ("[run]", "[defaults]", "[agents.", "[merge]", "[[tasks]]"):
        assert section in target.read_text()
    target.write_text("mine")
    again = subprocess.run(
        [*genesis_cmd(), "init", str(target)], capture_output=True, text=True, env=genesis_env()
    )
    assert again.returncode == 2 and "--force" in again.stderr
    assert target.read_text() == "mine"
    assert runner.invoke(app, ["init", str(target), "--force"]).exit_code == 0
    assert target.read_text() != "mine"


def test_init_where_it_cannot_write_says_so_in_one_line(tmp_path: Path) -> None:
    """A missing folder, or a folder where the file should be: exit 2, no traceback."""
    (tmp_path / "taken").mkdir()
    for where, force in (
        (tmp_path / "no" / "such" / "plan.toml", []),
        (tmp_path / "taken", ["--force"]),
    ):
        line = user_error(["init", str(where), *force])
        assert line.startswith(f"error: {where}: cannot write the plan there ("), line


def test_validate_json_on_good_and_bad_plans(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(
        'version = 1\n[[tasks]]\nid = "a"\ncommand = "x"\n[[tasks]]\nid = "b"\ncommand = "x"\n'
        '[[tasks]]\nid = "c"\ncommand = "x"\ndepends_on = ["a"]\n'
    )
    result = runner.invoke(app, ["validate", "--json", str(good)])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "ok": True,
        "run": "good",
        "tasks": 3,
        "levels": [["a", "b"], ["c"]],
        "critical_path": ["a", "c"],
    }
    bad = tmp_path / "bad.toml"
    bad.write_text('version = 1\n[[tasks]]\nid = "a"\n')
    result = runner.invoke(app, ["validate", "--json", str(bad)])
    assert result.exit_code == 2
    obj = json.loads(result.stdout)
    assert obj["ok"] is False and "neither agent nor command" in obj["error"]


def test_graph_formats(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        'version = 1\n[[tasks]]\nid = "a"\ncommand = "x"\ncost = 2\n'
        '[[tasks]]\nid = "b"\ncommand = "x"\ndepends_on = ["a"]\npriority = "high"\n'
    )
    text = runner.invoke(app, ["graph", str(path)]).stdout
    assert "level 0:" in text and "* a" in text and "<- a" in text
    obj = json.loads(runner.invoke(app, ["graph", "--format", "json", str(path)]).stdout)
    assert obj == {
        "nodes": [
            {"id": "a", "depends_on": [], "level": 0, "priority": "normal", "cost": 2.0},
            {"id": "b", "depends_on": ["a"], "level": 1, "priority": "high", "cost": 1.0},
        ],
        "critical_path": ["a", "b"],
    }
    assert '"a" -> "b"' in runner.invoke(app, ["graph", "-f", "dot", str(path)]).stdout
    assert "t0 --> t1" in runner.invoke(app, ["graph", "-f", "mermaid", str(path)]).stdout
    assert runner.invoke(app, ["graph", "-f", "png", str(path)]).exit_code == 2


def test_examples_validate() -> None:
    plans = sorted(EXAMPLES.rglob("*.toml"))
    assert len(plans) >= 4
    for path in plans:
        plan.load(path)


def test_validate_does_not_import_git_or_psutil() -> None:
    code = (
        "import sys, genesis_par.cli, genesis_par.commands.validate, genesis_par.commands.graph\n"
        "bad = [m for m in ('git', 'psutil') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=genesis_env()
    )
    assert out.returncode == 0, out.stderr
