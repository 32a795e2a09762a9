"""Helpers for the index tests: repositories of either hash, entries written straight into
an index, and a changed index given its checksum again."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from tests.conftest import commit, git


def make_repo(tmp_path: Path, object_format: str = "sha1", name: str = "repo") -> Path:
    """A repository with one commit (README.md) in the given object format."""
    path = tmp_path / name
    path.mkdir(parents=True)
    git(path, "init", "-q", f"--object-format={object_format}")
    commit(path, {"README.md": "hello\n"}, "initial")
    return path


def index_info(repo: Path, entries: list[tuple[str, str, str]]) -> None:
    """Add (mode, object, path) entries straight to the index: no file is needed."""
    lines = "".join(f"{mode} {oid}\t{path}\0" for mode, oid, path in entries)
    subprocess.run(
        ["git", "update-index", "-z", "--index-info"],
        cwd=repo,
        check=True,
        input=lines.encode("utf-8", "surrogateescape"),
    )


def version(repo: Path) -> int:
    return int.from_bytes((repo / ".git" / "index").read_bytes()[4:8], "big")


def hash_size(repo: Path) -> int:
    return len(git(repo, "rev-parse", "HEAD")) // 2


def with_checksum(data: bytes | bytearray, size: int = 20) -> bytes:
    """data, its trailing checksum made again (as if git had written it)."""
    body = bytes(data[:-size])
    return body + hashlib.new({20: "sha1", 32: "sha256"}[size], body).digest()
