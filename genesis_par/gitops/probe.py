"""Merges and diffs checked without touching any worktree, index or ref."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from genesis_par.errors import GitError
from genesis_par.gitops.run import _out, _run_git


@contextlib.contextmanager
def scratch_objects(repo: Path) -> Iterator[dict[str, str]]:
    """Environment under which git writes new objects to a throwaway directory, not the repo."""
    objects = Path(_out(["rev-parse", "--path-format=absolute", "--git-path", "objects"], repo))
    with tempfile.TemporaryDirectory(prefix="genesis-probe-", dir=_memory_dir()) as scratch:
        yield {
            "GIT_OBJECT_DIRECTORY": scratch,
            "GIT_ALTERNATE_OBJECT_DIRECTORIES": alternate_entry(objects),
        }


def alternate_entry(objects: Path) -> str:
    """objects as one entry of GIT_ALTERNATE_OBJECT_DIRECTORIES, a list git splits at colons:
    a path holding one (or opening with a quote) goes in double quotes, which git 2.11+ reads
    C-style, else a repository at `/work/ci:main` had its objects looked for in `/work/ci`."""
    text = str(objects)
    if ":" not in text and not text.startswith('"'):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


RAM_DIR = Path("/dev/shm")


RAM_DIR_MIN_FREE = 1 << 30


def _memory_dir() -> Path | None:
    """A RAM-backed folder with room to spare, else None (the usual temporary folder).

    Every probed merge writes its trees as loose objects; on a slow disk those writes, not the
    merges, take most of the time. Small /dev/shm mounts (64 MiB in Docker) are passed over."""
    try:
        stat = os.statvfs(RAM_DIR)
    except OSError:
        return None
    roomy = stat.f_bavail * stat.f_frsize >= RAM_DIR_MIN_FREE
    return RAM_DIR if roomy and os.access(RAM_DIR, os.W_OK | os.X_OK) else None


def merge_tree_batch(repo: Path, pairs: Sequence[tuple[str, str]], env: Mapping[str, str]) -> str:
    """The raw `-z` output of one `git merge-tree --write-tree --stdin` over every pair."""
    if not pairs:
        return ""
    lines = "".join(f"{a} {b}\n" for a, b in pairs)
    # unrelated histories: without the flag one such pair ends the whole batch (exit 128)
    args = ["merge-tree", "--write-tree", "-z", "--allow-unrelated-histories", "--stdin"]
    done = _run_git(args, repo, env=env, input=lines, check=False)
    if done.returncode not in (0, 1):
        raise GitError(f"git merge-tree --stdin failed in {repo}: {done.stderr.strip()}")
    return done.stdout


def trees_exist(repo: Path, specs: Sequence[str], env: Mapping[str, str]) -> list[bool]:
    """For each `<commit>:<path>`, whether it names a tree, in one git process."""
    if not specs:
        return []
    done = _run_git(
        ["cat-file", "--batch-check=%(objecttype)"],
        repo,
        env=env,
        input="".join(f"{s}\n" for s in specs),
        check=False,
    )
    return [line == "tree" for line in done.stdout.splitlines()]


class BranchDiff(NamedTuple):
    merge_base: str | None
    commits: frozenset[str]  # merge_base..tip
    changes: tuple[tuple[str, tuple[str, ...]], ...]  # (status letter, paths)
    related: bool = True  # False: tip shares no commit with target (an unrelated history)


def branch_diffs(
    repo: Path, target: str, tips: Sequence[str], env: Mapping[str, str] | None = None
) -> list[BranchDiff]:
    """What each tip changed since it forked from target, renames detected: one `rev-list`
    for every tip's commits, one `diff-tree --stdin` for every diff."""
    if not tips:
        return []
    listed = _out(["rev-list", "--parents", *dict.fromkeys(tips), f"^{target}"], repo, env=env)
    parents = {line[0]: line[1:] for line in map(str.split, listed.splitlines())}
    forks = [_fork(tip, parents) for tip in tips]
    known = [(tip, base) for tip, (base, _, _) in zip(tips, forks, strict=True) if base is not None]
    changes = dict(zip(known, _diff_many(repo, known, env), strict=True))
    return [
        BranchDiff(base, commits, changes[(tip, base)], True)
        if base is not None
        else BranchDiff(
            None, commits, _diff_from_merge_base(repo, target, tip, env) if related else (), related
        )
        for tip, (base, commits, related) in zip(tips, forks, strict=True)
    ]


def unreadable(
    repo: Path, target: str, tips: Sequence[str], env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Tip -> git's complaint, for each tip whose history since target git cannot walk (a
    commit whose parent is missing). One git process per tip: only asked once a batch failed."""
    found = {}
    for tip in dict.fromkeys(tips):
        done = _run_git(["rev-list", "--quiet", tip, f"^{target}"], repo, env=env, check=False)
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            said = next((line for line in lines if not line.startswith("fatal")), "unreadable")
            found[tip] = said.removeprefix("error: ")
    return found


def _fork(tip: str, parents: Mapping[str, list[str]]) -> tuple[str | None, frozenset[str], bool]:
    """(fork point, commits since it, related) of tip, from the parents of every commit not in
    target.

    The fork point is the one commit of target that the walk from tip reaches; several (merges
    from elsewhere) leave it unknown, none means an unrelated history."""
    if tip not in parents:
        return tip, frozenset(), True  # tip is already in target
    seen, todo, boundary = {tip}, [tip], set()
    while todo:
        for parent in parents[todo.pop()]:
            if parent not in parents:
                boundary.add(parent)
            elif parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return (boundary.pop() if len(boundary) == 1 else None), frozenset(seen), bool(boundary)


def _diff_many(
    repo: Path, tips_and_bases: Sequence[tuple[str, str]], env: Mapping[str, str] | None
) -> list[tuple[tuple[str, tuple[str, ...]], ...]]:
    """The name-status diff of each (tip, base), base to tip, in one git process."""
    if not tips_and_bases:
        return []
    lines = "".join(f"{tip} {base}\n" for tip, base in tips_and_bases)
    raw = _run_git(
        ["diff-tree", "--stdin", "--always", "-r", "-M", "--name-status", "-z"],
        repo,
        env=env,
        input=lines,
    ).stdout
    diffs: list[list[tuple[str, tuple[str, ...]]]] = []
    tokens, i = raw.split("\0"), 0
    while i < len(tokens) and tokens[i]:
        if _is_object_id(tokens[i]):  # each (tip, base) starts with tip's id
            diffs.append([])
            i += 1
            continue
        count = 2 if tokens[i][0] in "RC" else 1
        diffs[-1].append((tokens[i][0], tuple(tokens[i + 1 : i + 1 + count])))
        i += 1 + count
    return [tuple(d) for d in diffs]


def _is_object_id(token: str) -> bool:
    return len(token) in (40, 64) and all(c in "0123456789abcdef" for c in token)


def _diff_from_merge_base(
    repo: Path, target: str, tip: str, env: Mapping[str, str] | None
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    raw = _run_git(["diff", "--name-status", "-M", "-z", f"{target}...{tip}"], repo, env=env).stdout
    return tuple(_parse_name_status(raw))


def _parse_name_status(raw: str) -> list[tuple[str, tuple[str, ...]]]:
    tokens = raw.split("\0")
    changes, i = [], 0
    while i < len(tokens) and tokens[i]:
        status = tokens[i][0]
        count = 2 if status in "RC" else 1
        changes.append((status, tuple(tokens[i + 1 : i + 1 + count])))
        i += 1 + count
    return changes


def landed(repo: Path, branch: str, target: str) -> bool:
    """Whether target already holds branch's work, however it landed (merged, squashed,
    rebased, or alongside other work on the same files): merging it would change nothing."""
    if _run_git(["merge-base", "--is-ancestor", branch, target], repo, check=False).returncode == 0:
        return True
    with scratch_objects(repo) as env:
        status, tree = merge_tree_batch(repo, [(target, branch)], env).split("\0")[:2]
    return status == "1" and tree == _out(["rev-parse", f"{target}^{{tree}}"], repo)
