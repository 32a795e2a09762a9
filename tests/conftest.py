"""Shared fixtures: real git repositories in tmp_path with an isolated configuration."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path

import pytest

import genesis_par

PACKAGE_ROOT = Path(genesis_par.__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """--dist loadgroup must group: the ray tests share one cluster. pytest-xdist 3.8 does not
    group on pytest 9.2 (it sets a node id field that pytest no longer reads: pytest-xdist issue
    1386), and then each worker starts a cluster of its own, silently."""
    if config.getoption("dist", "no") == "loadgroup" and _loadgroup_cannot_group():
        raise pytest.UsageError(
            f"pytest {pytest.__version__} with pytest-xdist {metadata.version('pytest-xdist')} "
            "does not group --dist loadgroup: install pytest<9.2 (pip install -e '.[dev]')"
        )


def _loadgroup_cannot_group() -> bool:
    xdist = tuple(int(part) for part in metadata.version("pytest-xdist").split(".")[:2])
    return pytest.version_tuple[:2] >= (9, 2) and xdist <= (3, 8)


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every test sees a clean global git config and a fixed author."""
    home = tmp_path_factory.mktemp("home")
    config = home / ".gitconfig"
    config.write_text(
        "[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n"
    )
    saved = dict(os.environ)
    os.environ.update(
        {
            "GIT_CONFIG_GLOBAL": str(config),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
            "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
            "NO_COLOR": "1",
        }
    )
    yield
    os.environ.clear()
    os.environ.update(saved)


def wait_for(condition: Callable[[], object], what: str, bound: float = 30.0) -> None:
    """Poll condition until it holds; fail the test after bound seconds (never sleep for luck)."""
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {bound} s waiting for {what}"
        time.sleep(0.02)


def git(repo: Path, *args: str) -> str:
    """Run git in repo and return its stdout (tests only; the package goes through gitops)."""
    out = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def commit(repo: Path, files: Mapping[str, str | None], message: str = "change") -> str:
    """Write (or delete, for None) files, commit them all, return the new commit."""
    for name, text in files.items():
        path = repo / name
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def branch(repo: Path, name: str, files: Mapping[str, str | None], start: str = "main") -> str:
    """Create branch name from start with one commit of files; HEAD stays where it was."""
    current = git(repo, "rev-parse", "--abbrev-ref", "HEAD")
    git(repo, "checkout", "-q", "-b", name, start)
    try:
        return commit(repo, files, f"{name}: change")
    finally:
        git(repo, "checkout", "-q", current)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh repository on main with one commit holding README.md."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    commit(path, {"README.md": "hello\n"}, "initial")
    return path


def genesis_cmd() -> list[str]:
    """argv that runs this checkout's genesis-par in a subprocess."""
    return [sys.executable, "-m", "genesis_par"]


def genesis_env() -> dict[str, str]:
    """Environment for genesis-par subprocesses: this checkout first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
    return env


def user_error(args: Sequence[str], cwd: Path | None = None) -> str:
    """The one line genesis-par prints for a user's mistake; asserts exit 2 and nothing else
    on stderr (no traceback)."""
    out = subprocess.run(
        [*genesis_cmd(), *args], cwd=cwd, capture_output=True, text=True, env=genesis_env()
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


@pytest.fixture(scope="session")
def junit_xsd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Jenkins/Surefire junit-10.xsd that pytest's own tests validate against, read from
    pytest's source distribution on PyPI (kept out of this repository). .ci/run fetches it once
    and names it in GENESIS_JUNIT_XSD; elsewhere it is downloaded, or the test skips and says why."""
    named = os.environ.get("GENESIS_JUNIT_XSD")
    if named and Path(named).is_file():
        return Path(named)
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the folder all xdist workers' folders are in: one download
    with open(shared / "junit-xsd.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other workers wait for the first one's download
        folder = shared / "junit-xsd"
        if (folder / "junit-10.xsd").is_file():
            return folder / "junit-10.xsd"
        folder.mkdir(exist_ok=True)
        try:
            return fetch_junit_xsd(folder)
        except (OSError, subprocess.SubprocessError, KeyError) as e:
            pytest.skip(f"junit-10.xsd not available (set GENESIS_JUNIT_XSD, or reach PyPI): {e}")


def fetch_junit_xsd(folder: Path) -> Path:
    """Extract testing/example_scripts/junit-10.xsd from the installed pytest's sdist."""
    version = pytest.__version__
    pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:"]
    subprocess.run(
        [*pip, f"pytest=={version}", "-d", str(folder)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (sdist,) = folder.glob("pytest-*.tar.gz")
    with tarfile.open(sdist) as archive:
        member = archive.extractfile(f"pytest-{version}/testing/example_scripts/junit-10.xsd")
        if member is None:
            raise KeyError("junit-10.xsd")
        target = folder / "junit-10.xsd"
        target.write_bytes(member.read())
    return target
