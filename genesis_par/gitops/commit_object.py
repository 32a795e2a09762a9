"""A commit written here, byte for byte what `git commit-tree TREE -p PARENT -m MESSAGE` writes.

The author and committer are git's own: `git var GIT_AUTHOR_IDENT` and `GIT_COMMITTER_IDENT`,
asked once per repository, environment and config (two processes a run instead of a
`commit-tree` a task, issue 19). They carry the time git was asked; unless the environment
fixes it (GIT_AUTHOR_DATE, GIT_COMMITTER_DATE), each commit takes the time it is written, in
seconds and the local offset, as git's ident_default_date does. The content is git's:
"tree", "parent", "author", "committer" lines, a blank line, the message with a newline added
if it lacks one (commit-tree's strbuf_complete_line). A repository with i18n.commitEncoding
set (git adds an "encoding" header) is left to `git commit-tree`, and so is anything git would
not tell (no identity it accepts).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from genesis_par.gitops import loose_objects
from genesis_par.gitops.run import _run_git, config_stamp, git_environment, repo_config


class _Idents(NamedTuple):
    author: str  # "Name <email>", or the whole ident when its date is fixed
    committer: str
    author_dated: bool  # the environment fixed its date: the ident is used as git gave it
    committer_dated: bool


_known: dict[tuple[object, ...], _Idents | None] = {}
_MOST_KNOWN = 16
_asking = threading.Lock()


def write_commit(
    common_dir: Path,
    tree: str,
    parents: Sequence[str],
    message: str,
    env: Mapping[str, str] | None,
) -> str | None:
    """The id of the commit of tree on parents with message, written to the repository's
    objects; None when `git commit-tree` must write it (env naming more than an identity: an
    index or object store of its own; a message no argument can hold)."""
    assert not isinstance(parents, str), "parents: a list of commits"
    if "\0" in message or not plain_env(env):
        return None
    idents = _idents(common_dir, env or {})
    writer = loose_objects.object_writer(common_dir, len(tree) // 2, b"commit")
    if idents is None or writer is None:
        return None
    now = int(time.time())
    stamp = f"{now} {_offset(now)}"
    author = idents.author if idents.author_dated else f"{idents.author} {stamp}"
    committer = idents.committer if idents.committer_dated else f"{idents.committer} {stamp}"
    body = message if not message or message.endswith("\n") else message + "\n"
    lines = [f"tree {tree}", *(f"parent {p}" for p in parents)]
    lines += [f"author {author}", f"committer {committer}", "", body]
    text = "\n".join(lines)
    try:
        return writer(text.encode("utf-8", "surrogateescape"))
    except loose_objects.NotWritten:
        return None


def plain_env(env: Mapping[str, str] | None) -> bool:
    """Whether env sets no more than the identity (no index, no object directory of its own)."""
    return all(k.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_")) for k in env or {})


def _offset(now: int) -> str:
    """The local time's offset from UTC as git writes it: +0100, -0330."""
    minutes = (time.localtime(now).tm_gmtoff or 0) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _idents(common_dir: Path, env: Mapping[str, str]) -> _Idents | None:
    """git's author and committer for this repository and environment, asked once for each
    config file state and environment."""
    seen = git_environment(env)
    relevant = sorted((k, v) for k, v in seen.items() if k.startswith("GIT_") or k in _ALSO)
    key = (common_dir, config_stamp(common_dir), tuple(relevant))
    with _asking:  # the first commits of a run come at once: one asks, the others wait for it
        if key not in _known:
            if len(_known) >= _MOST_KNOWN:
                _known.clear()
            _known[key] = _ask(common_dir, env, seen)
        return _known[key]


_ALSO = frozenset({"HOME", "XDG_CONFIG_HOME", "EMAIL", "TZ"})  # what git's ident reads


def _ask(common_dir: Path, env: Mapping[str, str], seen: Mapping[str, str]) -> _Idents | None:
    config = repo_config(common_dir)
    encoding = None if config is None else config.get("i18n.commitencoding", "")
    if encoding is None or encoding.strip().lower() not in ("", "utf-8", "utf8"):
        return None
    where = f"--git-dir={common_dir}"
    found = []
    for name in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"):
        said = _run_git([where, "var", name], common_dir, env=env, check=False)
        ident = said.stdout.strip()
        if said.returncode != 0 or ident.count(" ") < 2 or "\n" in ident:
            return None
        found.append(ident)
    author, committer = found
    author_dated, committer_dated = "GIT_AUTHOR_DATE" in seen, "GIT_COMMITTER_DATE" in seen
    return _Idents(
        author if author_dated else author.rsplit(" ", 2)[0],
        committer if committer_dated else committer.rsplit(" ", 2)[0],
        author_dated,
        committer_dated,
    )
