"""`genesis-par demo`: a throwaway repository, scripted agents, the whole flow in a minute."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from genesis_par import gitops
from genesis_par.commands import run as run_cmd
from genesis_par.demo import project
from genesis_par.errors import UsageError
from genesis_par.report import demo_view

# What the demo shows on purpose; anything else is a real problem.
EXPECTED_FAILED = {"give-up"}
EXPECTED_SKIPPED = {"follow-up"}


def _make_repo(root: Path) -> Path:
    repo = root / "calc"
    try:
        repo.mkdir(parents=True)
    except OSError as e:  # a --dir under a folder that cannot hold it (read-only, /proc, a file)
        raise UsageError(
            f"--dir {root}: cannot make the demo there ({e.strerror}): give a folder you can "
            "write to"
        ) from None
    for name, text in project.FILES.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    gitops.init_repo(repo, "genesis-par demo: a tiny calculator")
    return repo


def program(argv0: str = sys.argv[0], python: str = sys.executable) -> str:
    """This genesis-par as a shell command that runs it again from anywhere: `genesis-par` when
    that name on PATH is this very program, else its absolute path (a venv's bin/ is often not
    on PATH), or `python -m genesis_par`."""
    if Path(argv0).name == "__main__.py":
        return f"{shlex.quote(python)} -m genesis_par"
    path = Path(argv0).absolute()
    found = shutil.which(path.name)
    if found and Path(found).resolve() == path.resolve():
        return path.name
    return shlex.quote(str(path))


def run(
    directory: Path | None = None,
    *,
    clean: bool = False,
    as_json: bool = False,
    argv0: str = sys.argv[0],
) -> int:
    """Build the demo repository and plan, run the whole flow, explain what happened; the
    repository stays for the tour that follows unless clean."""
    if directory is not None and directory.exists() and any(directory.iterdir()):
        raise UsageError(f"{directory} is not empty: give --dir a new or empty folder")
    root = (directory or Path(tempfile.mkdtemp(prefix="genesis-par-demo-"))).absolute()
    repo = _make_repo(root)
    package_parent = str(Path(__file__).resolve().parent.parent.parent)
    plan = root / "plan.toml"
    plan.write_text(project.plan_text(str(root), package_parent))
    demo_view.intro(repo, plan, as_json)
    code = run_cmd.run(
        repo, plan, as_json=as_json, env={**os.environ, "GENESIS_DEMO_DIR": str(root)}
    )
    if clean:
        shutil.rmtree(root, ignore_errors=True)
    chosen = directory is not None  # a folder the user named is theirs to remove
    demo_view.outro(
        root, repo, program(argv0), kept=not clean, temporary=not chosen, as_json=as_json
    )
    # The demo fails a task and leaves work unmerged on purpose: exit 0 when that is all.
    return 0 if code in (0, 1, 3) else code
