"""Plan-writing and run helpers shared by the tests (a fixtures module, not a test module)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from genesis_par.commands import run as run_cmd

PY = sys.executable


def write_plan(repo: Path, body: str, name: str = "plan.toml", header: str = "") -> Path:
    """A plan file beside the repository (outside it, so it is not part of any commit)."""
    path = repo.parent / name
    path.write_text(f"version = 1\n{textwrap.dedent(header)}\n{textwrap.dedent(body)}")
    return path


def py(code: str) -> str:
    """A TOML list command running a Python snippet."""
    return json.dumps([PY, "-c", textwrap.dedent(code)])


def writer(path: str, text: str) -> str:
    """A TOML list command that writes text to path (its folders made first)."""
    return py(
        f"import pathlib; p = pathlib.Path({path!r}); p.parent.mkdir(exist_ok=True, parents=True); p.write_text({text!r})"
    )


def run_json(
    repo: Path, plan: Path, capsys: pytest.CaptureFixture[str], **kw: Any
) -> tuple[int, dict[str, Any]]:
    """`run --json` through the commands API: its exit code and printed result."""
    code = run_cmd.run(repo, plan, as_json=True, **kw)
    out = capsys.readouterr().out
    return code, json.loads(out)


def tasks_by_id(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A run result's tasks by id (JSON: Any is what it is)."""
    return {t["id"]: t for t in result["tasks"]}
