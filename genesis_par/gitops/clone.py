"""Task clones (`[run] isolation = "clone"`): a repository of the task's own that borrows the
user's objects (alternates, nothing copied), so its refs, config and hooks are its own and
nothing an agent does with git there reaches the user's repository. The clone has no remote:
its work comes home by a fetch that genesis-par runs from the user's repository, then a
compare-and-swap of the task's ref there.

Cost: `git init` + one `reset --hard` to make one (a worktree is one `worktree add`), and one
`fetch` from the clone to bring the task's commits home (`python -m bench.isolation_clone`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from pathlib import Path

from genesis_par.errors import GitError
from genesis_par.gitops.located import alternates_file, clone_git_dir
from genesis_par.gitops.run import _run_git

INCOMING = "refs/genesis/incoming/"  # where a clone's ref lands before its compare-and-swap
# The clone's whole config, written by genesis-par when it makes the clone and again after
# each of its agent's processes: what the agent set there (a filter, an fsmonitor, hooks, a
# repository format) is its own business while it runs, but never steers genesis-par's git.
_CONFIG = (
    "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n"
    "\tlogallrefupdates = true\n"
)


class ForeignHistory(GitError):
    """A clone's branch whose history lacks the task's start commit."""


def add_clone(common_dir: Path, path: Path, branch: str, start: str, user_repo: Path) -> None:
    """A new repository at path with branch at start checked out, borrowing common_dir's objects.

    No refs, config or hooks of the user's repository are copied: the agent sees none of them,
    but the user's name and e-mail (wherever they are configured), so commits work as they
    would in a worktree."""
    path.mkdir(parents=True, exist_ok=True)
    # --template= : no sample hooks, no info/exclude from the templates (nothing to run)
    _run_git(["init", "--quiet", "--template=", f"--initial-branch={branch}", str(path)], path)
    reclaim(path, common_dir, user_repo)
    # on the unborn branch, `reset --hard` sets the branch to start and checks its files out
    _run_git(clone_args(path, "reset", "--quiet", "--hard", start), path)


def reclaim(path: Path, common_dir: Path, user_repo: Path) -> None:
    """Write the clone's config and alternates as genesis-par made them (after an agent ran)."""
    git_dir = clone_git_dir(path)
    config = _CONFIG + "".join(
        f'[user]\n\t{key} = "{_quoted(value)}"\n' for key, value in _identity(user_repo)
    )
    _replace(git_dir / "config", config)
    alternates = alternates_file(git_dir)
    alternates.parent.mkdir(parents=True, exist_ok=True)
    _replace(alternates, f"{(common_dir / 'objects').resolve()}\n")


def _replace(path: Path, text: str) -> None:
    """Write text at path atomically; a symlink an agent left there is replaced, not followed."""
    temp = path.with_name(f".{path.name}.genesis-par")
    temp.unlink(missing_ok=True)
    temp.write_text(text)
    os.replace(temp, path)


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


@functools.lru_cache(maxsize=8)
def _identity(user_repo: Path) -> tuple[tuple[str, str], ...]:
    """The user's user.name and user.email as the user's repository resolves them (read once)."""
    args = ["config", "--get-regexp", r"^user\.(name|email)$"]
    done = _run_git(args, user_repo, check=False)
    found = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    return tuple((k.removeprefix("user."), v) for k, v in sorted(found.items()))


def clone_args(path: Path, *args: str) -> list[str]:
    """git arguments that name the clone's git dir and work tree (never discovered)."""
    return [f"--git-dir={clone_git_dir(path)}", f"--work-tree={path}", *args]


def clone_head(path: Path) -> str | None:
    """The commit the clone's HEAD names, or None (a clone half made: HEAD unborn)."""
    args = clone_args(path, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    done = _run_git(args, path, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def borrows_from(path: Path, common_dir: Path) -> bool:
    """Whether the clone at path borrows common_dir's objects (and only those)."""
    try:
        text = alternates_file(path / ".git").read_text().strip()
    except OSError:
        return False
    return text == str((common_dir / "objects").resolve())


def fetch_home(
    repo: Path,
    path: Path,
    source: str,
    target: str,
    old: str | None,
    commit: str,
    *,
    start: str | None = None,
    tip: str | None = None,
) -> None:
    """Bring commit, the clone's ref source (and the objects it needs), into repo as target,
    by compare-and-swap from old (None: target must not exist); GitError, nothing moved, when
    source no longer names commit or target no longer holds old.

    start: the commit target's history must hold (else ForeignHistory, nothing moved).
    tip: a ref of repo whose history the clone shares (the fetch tells only it as known)."""
    incoming = f"{INCOMING}{target.removeprefix('refs/')}"
    source_dir = clone_git_dir(path)
    args = [
        "-c",
        "transfer.fsckObjects=true",  # a tree with a .git entry, a broken object: refused
        "fetch",
        "--quiet",
        "--no-tags",
        "--no-write-fetch-head",  # the user's FETCH_HEAD is not ours to change
        "--no-auto-gc",
        *([f"--negotiation-tip={tip}"] if tip else []),
        str(source_dir),
        f"+{source}:{incoming}",
    ]
    _run_git(args, repo)
    try:
        if start is not None and not _holds(repo, start, commit):
            raise ForeignHistory(
                f"its branch {source.removeprefix('refs/heads/')} in its clone was moved to "
                f"history without its start commit {start[:12]}; nothing of it was taken"
            )
        # one transaction: the incoming ref must hold commit, target must still hold old
        moves = f"update {target} {commit} {old or '0' * len(commit)}\ndelete {incoming} {commit}\n"
        _run_git(["update-ref", "-m", "genesis-par: from its clone", "--stdin"], repo, input=moves)
    except BaseException:
        _run_git(["update-ref", "-d", incoming], repo, check=False)
        raise


def _holds(repo: Path, ancestor: str, commit: str) -> bool:
    done = _run_git(["merge-base", "--is-ancestor", ancestor, commit], repo, check=False)
    return done.returncode == 0


def made_in(path: Path, commits: Iterable[str]) -> set[str]:
    """Which of commits are objects of the clone's own store (not borrowed): made, or
    fetched, by its agent. Loose objects by their file, packed ones by the packs' indexes."""
    objects = path / ".git" / "objects"
    wanted = {c for c in commits if len(c) in (40, 64)}  # SHA-1 or SHA-256
    found = {c for c in wanted if (objects / c[:2] / c[2:]).is_file()}
    width = len(next(iter(wanted), "0" * 40)) // 2
    for index in sorted((objects / "pack").glob("*.idx")) if wanted - found else []:
        found |= _in_index(index, width) & wanted
    return found


def _in_index(index: Path, width: int = 20) -> set[str]:
    """The object ids (width bytes each) a pack index (version 2) lists; empty for one that
    cannot be read."""
    try:
        data = index.read_bytes()
    except OSError:
        return set()
    if data[:8] != b"\xfftOc\x00\x00\x00\x02" or len(data) < 8 + 1024:
        return set()
    count = int.from_bytes(data[8 + 1020 : 8 + 1024], "big")
    ids = data[8 + 1024 : 8 + 1024 + width * count]
    return {ids[i : i + width].hex() for i in range(0, len(ids), width)}
