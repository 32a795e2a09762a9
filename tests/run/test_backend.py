"""The backend seam: plan keys, options, and Ray kept off every path that does not ask for it."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from genesis_par.errors import PlanError, UsageError
from genesis_par.plan import load
from genesis_par.run.backend import choose
from tests.conftest import genesis_env, git
from tests.plans import write_plan


def test_backend_and_resources_load_into_the_plan(tmp_path: Path) -> None:
    plan = write_plan(
        tmp_path / "repo",
        """
        [[tasks]]
        id = "train"
        command = "true"
        resources = { gpu = 1, licence = 0.5 }
        """,
        header='[run]\nbackend = "ray"\n',
    )
    loaded = load(plan)
    assert loaded.run.backend == "ray"
    assert loaded.task("train").resources == (("gpu", 1.0), ("licence", 0.5))
    assert choose(loaded, "local").run.backend == "local"  # --backend wins over the plan


@pytest.mark.parametrize(
    ("header", "task_lines", "message"),
    [
        (
            '[run]\nbackend = "rey"\n',
            "",
            '[run] backend must be "local" or "ray", not "rey" (did you mean "ray"?)',
        ),
        ("", 'resources = { gpu = "one" }', "resources.gpu must be a number, not 'one'"),
        ("", "resources = { gpu = -1 }", "resources.gpu must be a non-negative number"),
        ("", 'resources = "gpu"', "resources must be a table of names and amounts"),
    ],
)
def test_bad_backend_keys_get_one_line(
    tmp_path: Path, header: str, task_lines: str, message: str
) -> None:
    body = f'[[tasks]]\nid = "a"\ncommand = "true"\n{task_lines}\n'
    plan = write_plan(tmp_path / "repo", body, header=header)
    with pytest.raises(PlanError, match=re.escape(message)):
        load(plan)


def test_an_unknown_backend_option_is_refused(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "repo", '[[tasks]]\nid = "a"\ncommand = "true"\n')
    with pytest.raises(UsageError, match='--backend must be "local" or "ray", not "k8s"'):
        choose(load(plan), "k8s")


def test_a_local_run_never_imports_ray(repo: Path) -> None:
    plan = write_plan(repo, '[[tasks]]\nid = "a"\ncommand = "echo a > a.txt"\n')
    probe = textwrap.dedent(
        f"""
        import atexit, sys
        atexit.register(lambda: print("ray imported:", "ray" in sys.modules, file=sys.stderr))
        sys.argv = ["genesis-par", "run", {str(plan)!r}, "--no-merge"]
        from genesis_par.cli import main
        main()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=repo,
        env=genesis_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "ray imported: False" in done.stderr
    assert git(repo, "show", "genesis/plan/a:a.txt") == "a"
