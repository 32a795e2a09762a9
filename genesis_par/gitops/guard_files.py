"""The files that steer the user's later git commands: read, compare, put back."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from genesis_par.gitops.refs import RepoPaths
from genesis_par.gitops.run import _run_git

MAX_FILES = 2000  # a hooks or info folder holding more is not read past this


class FileState(NamedTuple):
    mode: int  # st_mode: a hook that becomes executable is a change
    data: bytes  # the content, or a symlink's target


class PutBack(NamedTuple):
    ok: bool
    why: str = ""

    def __bool__(self) -> bool:
        return self.ok


def watched_files(repo: RepoPaths, env: Mapping[str, str]) -> list[Path]:
    """config, config.worktree, HEAD, index, shallow, hooks/ and info/ of the repository, the
    alternates file and the user's global config files. shallow: commits it names end the
    history git walks, so the user's next `git gc` deletes every commit behind them."""
    common = repo.common_dir
    paths = [common / n for n in ("config", "config.worktree", "HEAD", "index", "shallow")]
    paths.append(common / "objects" / "info" / "alternates")
    # hooks/ whole, its `*.sample` files too: git runs none of them, but a user enables one by
    # renaming it, as its header says, and would enable what an agent planted there
    for folder in (common / "hooks", common / "info"):
        paths += _walk(folder)
    paths += _global_configs(env)
    return paths


def _walk(folder: Path) -> Iterator[Path]:
    count = 0
    for top, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            count += 1
            if count > MAX_FILES:
                return
            yield Path(top) / name


def _global_configs(env: Mapping[str, str]) -> list[Path]:
    if env.get("GIT_CONFIG_GLOBAL"):
        return [Path(env["GIT_CONFIG_GLOBAL"])]
    home = Path(env.get("HOME") or Path.home())
    xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    return [home / ".gitconfig", xdg / "git" / "config"]


def read_files(paths: Mapping[Path, object] | list[Path]) -> dict[Path, FileState | None]:
    """Each path's state, None for a missing one. The index is read as its stat only (it can
    be large, and the user's own `git status` rewrites it): a change is only noted."""
    states: dict[Path, FileState | None] = {}
    for path in list(paths):
        states[path] = _read(path)
    return states


_OPEN = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _read(path: Path) -> FileState | None:
    """A file's state, None when it is missing or unreadable. A symlink is read as its target;
    a FIFO or a device (an agent may make one in hooks/) as its mode alone, never read: opening
    a FIFO for reading waited for a writer forever, and the run with it."""
    try:
        fd = os.open(path, _OPEN)
    except OSError as e:
        if e.errno != errno.ELOOP:
            return None
        try:  # a symlink (O_NOFOLLOW)
            return FileState(os.lstat(path).st_mode, os.readlink(path).encode())
        except OSError:
            return None
    try:
        st = os.fstat(fd)
        if path.name == "index":
            return FileState(st.st_mode, f"{st.st_size} {st.st_mtime_ns} {st.st_ino}".encode())
        if not stat.S_ISREG(st.st_mode):
            return FileState(st.st_mode, b"")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return FileState(st.st_mode, b"".join(chunks))
    except OSError:
        return None
    finally:
        os.close(fd)


def differences(
    before: Mapping[Path, FileState | None], after: Mapping[Path, FileState | None]
) -> Iterator[tuple[Path, str]]:
    """(path, "changed" | "created" | "deleted") for each path whose state differs; files
    that appeared in a watched folder are found by walking it again."""
    for path in sorted(set(before) | set(after)):
        old, new = before.get(path), after.get(path)
        if old == new:
            continue
        yield path, "created" if old is None else "deleted" if new is None else "changed"


def new_files(repo: RepoPaths, known: Mapping[Path, object]) -> dict[Path, FileState | None]:
    """Files now in hooks/ and info/ that were not there before."""
    found: dict[Path, FileState | None] = {}
    for folder in (repo.common_dir / "hooks", repo.common_dir / "info"):
        for path in _walk(folder):
            if path not in known:
                found[path] = _read(path)
    return found


def put_back(path: Path, old: FileState | None, seen: FileState | None, kept: Path) -> PutBack:
    """Restore old at path, keeping its current version at kept; only if path still holds
    what we saw (else someone changed it again since, and we leave it)."""
    if _read(path) != seen:
        return PutBack(False, "it changed again since: left as it is")
    kept.parent.mkdir(parents=True, exist_ok=True)
    try:
        if seen is not None and stat.S_ISLNK(seen.mode):
            kept.write_bytes(seen.data)
        elif seen is not None and stat.S_ISREG(seen.mode):
            shutil.copy2(path, kept, follow_symlinks=False)
        elif seen is not None:
            _move_special(path, kept)  # nothing is left at path
        if old is not None:
            write_state(path, old)
        else:
            path.unlink(missing_ok=True)
    except OSError as e:
        why = e.strerror or str(e)
        return PutBack(False, f"could not put it back ({why}): restore it by hand")
    return PutBack(True)


def _move_special(path: Path, kept: Path) -> None:
    """A FIFO (or a device) an agent left: moved aside whole, never opened for reading. A FIFO
    is then opened for writing once, so that a git already waiting to read it (ours, another
    task's, the user's) reads its end instead of waiting forever."""
    os.replace(path, kept)
    if stat.S_ISFIFO(os.lstat(kept).st_mode):
        with contextlib.suppress(OSError):  # ENXIO: no reader is waiting
            os.close(os.open(kept, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC))


def write_state(path: Path, state: FileState) -> None:
    """Write state at path atomically (a temporary file renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if stat.S_ISLNK(state.mode):
        temp = path.with_name(f".{path.name}.genesis-par")
        temp.unlink(missing_ok=True)
        os.symlink(state.data.decode(), temp)
        os.replace(temp, path)
        return
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "wb") as out:
        out.write(state.data)
    os.chmod(name, stat.S_IMODE(state.mode))
    os.replace(name, path)


def config_keys(old: FileState | None, new: FileState | None) -> str:
    """The config keys that differ between two versions of a config file, comma-separated."""
    before, after = _entries(old), _entries(new)
    if before is None or after is None:
        return "" if old is None or new is None else "unreadable"
    keys = {k for k, _ in before ^ after}
    return ", ".join(sorted(keys))


def _entries(state: FileState | None) -> set[tuple[str, str]] | None:
    if state is None:
        return set()
    with tempfile.TemporaryDirectory(prefix="genesis-config-") as tmp:
        (Path(tmp) / "config").write_bytes(state.data)
        args = ["config", "--file", "config", "--no-includes", "--list", "-z"]
        done = _run_git(args, Path(tmp), check=False)
    if done.returncode != 0:
        return None
    pairs = set()
    for item in done.stdout.split("\0"):
        if item:
            key, _, value = item.partition("\n")
            pairs.add((key, value))
    return pairs


def hides_history(repo: Path, before: FileState | None, after: FileState | None) -> bool:
    """Whether a changed `shallow` file now names a commit whose parents this repository has:
    git would treat them as cut off, and the user's next `git gc` would delete them. Entries
    only removed (`fetch --unshallow`) or replaced by commits whose parents are not here
    (`fetch --deepen`, fetched up to that boundary) hide nothing; a commit that is not here
    at all is never trusted."""
    old = set(before.data.split()) if before is not None else set()
    added = sorted(set(after.data.split()) - old) if after is not None else []
    parents: list[str] = []
    for commit in added:
        shown = _run_git(["cat-file", "-p", commit.decode(errors="replace")], repo, check=False)
        if shown.returncode != 0 or not shown.stdout.startswith("tree "):
            return True
        header = shown.stdout.partition("\n\n")[0].splitlines()
        parents += [line[len("parent ") :] for line in header if line.startswith("parent ")]
    if not parents:
        return False
    listed = _run_git(
        ["cat-file", "--batch-check=%(objecttype)"],
        repo,
        input="".join(f"{p}\n" for p in parents),
        check=False,
    )
    return "commit" in listed.stdout.split()
