"""Helpers shared by the test modules (a fixtures module, not a test module): genesis-par in a
subprocess, whether a process still runs, a page rendered in a headless browser."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil
import pytest

from genesis_par.commands import worktrees as wt_cmd
from tests.conftest import genesis_cmd, genesis_env


def gp(repo: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """genesis-par with args, run to its end in repo: its exit code and its output."""
    return subprocess.run(
        [*genesis_cmd(), *args],
        cwd=repo,
        env=genesis_env(),
        text=True,
        capture_output=True,
        timeout=timeout,
    )


def start(repo: Path, *args: str) -> subprocess.Popen[str]:
    """genesis-par with args, started in repo in a session of its own (a test signals it)."""
    return subprocess.Popen(
        [*genesis_cmd(), *args],
        cwd=repo,
        env=genesis_env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def alive(pid: int) -> bool:
    """Whether pid runs (a zombie does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def gc_json(repo: Path, capsys: pytest.CaptureFixture[str], **kw: object) -> dict[str, Any]:
    """`worktrees gc --json` through the commands API: its printed result."""
    assert wt_cmd.gc(repo, as_json=True, **kw) == 0  # type: ignore[arg-type]
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def fsck(repo: Path) -> None:
    """git fsck finds nothing wrong in repo (dangling objects aside)."""
    subprocess.run(["git", "fsck", "--no-dangling"], cwd=repo, check=True, capture_output=True)


def render(page: Path) -> tuple[str, list[str]]:
    """The page's DOM after its scripts ran in a headless Chromium, and every line it wrote to
    the browser console (console calls and uncaught errors alike); skips without Chromium."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no Chromium here (apt-get install chromium) to render the page headless")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"]
    done = subprocess.run(
        [chromium, *flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


_PEAK_REPORTER = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss * 1024))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def with_peak_memory(argv: Sequence[str], peak_file: Path) -> list[str]:
    """argv run under a small Python that writes its peak resident memory (bytes) to peak_file.
    Measured on a child of the test process, the peak would be the test process's own: Linux
    keeps a process's peak across fork and exec, and a pytest worker grows to hundreds of MiB."""
    return [sys.executable, "-c", _PEAK_REPORTER, str(peak_file), *argv]


def user_files(repo: Path) -> dict[str, bytes]:
    """The files of the user's checkout, by path: .git and genesis-par's .genesis are never
    walked (gc empties .genesis/trash in the background while a test looks)."""
    return {
        str(path.relative_to(repo)): path.read_bytes()
        for top in sorted(repo.iterdir())
        if top.name not in (".git", ".genesis")
        for path in ([top] if not top.is_dir() else sorted(top.rglob("*")))
        if path.is_file()
    }
