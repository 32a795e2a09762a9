"""Running git: one process per call, git's failures turned into GitError."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from genesis_par.errors import EnvironmentProblem, GitError

MIN_GIT = (2, 38)


def _run_git(
    args: Sequence[str],
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run one git command; a failure becomes GitError carrying git's stderr."""
    full_env = {**os.environ, **env} if env else None
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=full_env,
            input=input,
            capture_output=True,
            # paths are bytes to git: decoded like os.fsdecode, so a file name that is not
            # UTF-8 (an agent made it) round-trips to the same bytes instead of raising
            encoding=sys.getfilesystemencoding(),
            errors="surrogateescape",
            check=False,
        )
    except FileNotFoundError:
        raise EnvironmentProblem(
            "git is not installed or not on PATH: install git 2.38 or newer"
        ) from None
    if check and done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise GitError(f"git {args[0]} failed in {cwd}: {detail[-1] if detail else 'no output'}")
    return done


def _out(args: Sequence[str], cwd: Path, **kw: object) -> str:
    return _run_git(args, cwd, **kw).stdout.strip()  # type: ignore[arg-type]


FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "genesis-par",
    "GIT_AUTHOR_EMAIL": "genesis-par@localhost",
    "GIT_COMMITTER_NAME": "genesis-par",
    "GIT_COMMITTER_EMAIL": "genesis-par@localhost",
}


def identity_env(repo: Path) -> dict[str, str]:
    """Environment that lets git commit: empty when the user has an identity configured."""
    done = _run_git(["var", "GIT_COMMITTER_IDENT"], repo, check=False)
    return {} if done.returncode == 0 else dict(FALLBACK_IDENTITY)
