"""Helpers shared by the benchmarks: timing, repositories, running genesis-par."""

from __future__ import annotations

import compileall
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENESIS = [sys.executable, "-m", "genesis_par"]


def compile_package() -> None:
    """Write the package's bytecode, as `pip install` does: an editable checkout under
    PYTHONDONTWRITEBYTECODE=1 (this machine's setting) would otherwise compile every module at
    every start, and time that instead of genesis-par. compileall writes it regardless of the
    variable, and only for the modules changed since."""
    compileall.compile_dir(ROOT / "genesis_par", quiet=1)


compile_package()  # once, when a benchmark imports this module


def env() -> dict[str, str]:
    """This checkout first on the path, a fixed git identity, no colours."""
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), out.get("PYTHONPATH")]))
    out.update(
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.com",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.com",
        NO_COLOR="1",
    )
    return out


def best_of(n: int, fn: Callable[[], object]) -> float:
    """The fastest of n timed calls, in seconds."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def sh(
    args: Sequence[str],
    cwd: Path | None = None,
    input: str | None = None,
    extra: dict[str, str] | None = None,
) -> str:
    """Run a command (extra: more environment), fail loudly, return stdout."""
    done = subprocess.run(
        list(args),
        cwd=cwd,
        env={**env(), **(extra or {})},
        input=input,
        capture_output=True,
        text=True,
    )
    if done.returncode not in (0, 1, 3):
        raise SystemExit(f"{args} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def git(repo: Path, *args: str, input: str | None = None) -> str:
    """git in repo."""
    return sh(["git", *args], cwd=repo, input=input).strip()


def init_repo(path: Path, files: dict[str, str]) -> Path:
    """A repository on main holding files, committed with fast-import (one process)."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    stream = ["commit refs/heads/main", "committer bench <b@e> 0 +0000", "data 4", "init"]
    for name, text in files.items():
        data = text.encode()
        stream += [f"M 100644 inline {name}", f"data {len(data)}", text]
    git(path, "fast-import", "--quiet", input="\n".join(stream) + "\n")
    git(path, "reset", "-q", "--hard", "main")
    return path
