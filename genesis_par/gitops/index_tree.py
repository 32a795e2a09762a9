"""The root tree of a worktree's index, made without a `git write-tree` process.

Recording a task's work runs `git add --all`, then `git write-tree` (about 1.8 ms of CPU for the
process), then `git commit-tree`. `git add` leaves the cache tree (the index's TREE extension)
valid for every directory it did not touch: after a `git reset --hard` and a few changes, only
the root and the directories above the changes are invalid (all of them when `git add` re-added
the racily clean files a checkout leaves). The invalid ones are built here, in git's tree format
(mode, name, object id; in tree order, which within a directory is index order) and written by
the caller (loose_objects); the others are taken from the cache tree, as `git write-tree` takes
them (cache-tree.c update_one). What git would do differently, or what this module cannot
vouch for, is refused (None) and left to `git write-tree`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from pathlib import Path

from genesis_par.gitops import index_file
from genesis_par.gitops.index_file import Entry

# A tree entry opens with its mode as git writes it ("%o": 40000 for a tree), a space, then its
# name, a NUL and the object id in bytes.
_MODES = {mode: b"%o " % mode for mode in (0o100644, 0o100755, 0o120000, 0o160000)}
_TREE = b"40000 "

_Content = list[bytes | int]  # a tree's content; an int is the number of a tree made before


def tree_of_index(
    index: Path, hash_size: int, make_tree: Callable[[bytes], str], most: int = 16
) -> str | None:
    """The root tree id `git write-tree` would print for the index, or None when git must be
    asked: an index the reader refuses, a path in conflict (write-tree fails), an intent-to-add
    entry (write-tree leaves it out), a null object id (write-tree fails), a mode other than
    100644, 100755, 120000 and 160000 (an old git's 100664, which write-tree writes as is: not
    worth matching), or more than `most` trees to make.

    make_tree(content) writes one tree of that content (git's tree format, without the
    object header) and returns its id; trees are made children before their parent, the root
    last. Whatever make_tree raises is raised. Like write-tree, the ids the cache tree holds
    are taken as they are; unlike it, the objects the entries name are not looked up: `git
    add` wrote or found each of them a moment before, and git counts what an index names as
    reachable, so no `git gc` prunes them meanwhile."""
    read = index_file.read(index, hash_size)
    if read is None:
        return None
    null = bytes(hash_size)
    refused = index_file.CONFLICT_OR_INTENT_TO_ADD
    for entry in read.entries:
        if entry.flags & refused or entry.mode not in _MODES or entry.raw_oid == null:
            return None
    if b"" in read.trees:
        return read.trees[b""]
    plan = _plan(read.entries, read.trees, most)
    if plan is None:
        return None
    made: list[str] = []
    for content in plan:
        made.append(make_tree(b"".join(_resolved(part, made) for part in content)))
    return made[-1]


def _resolved(part: bytes | int, made: list[str]) -> bytes:
    return part if isinstance(part, bytes) else bytes.fromhex(made[part])


def _plan(entries: list[Entry], trees: dict[bytes, str], most: int) -> list[_Content] | None:
    """The contents of the trees to make, children before their parent, the root last; None
    when a name is both a file and a directory (write-tree would write both) or more than `most`
    trees are to be made. One pass in index order, which within a directory is tree order (a
    directory sorts as its name and "/" in both), keeping the directories being listed open."""
    paths = [e.path for e in entries]
    plan: list[_Content] = []
    listing_open: list[tuple[bytes, _Content]] = [(b"", [])]  # (path and "/", content)
    i = 0
    while i < len(paths):
        path = paths[i]
        while not path.startswith(listing_open[-1][0]):
            _close(listing_open, plan)
        base, listing = listing_open[-1]
        slash = path.find(b"/", len(base))
        if slash < 0:
            entry, name = entries[i], path[len(base) :]
            listing.append(_MODES[entry.mode] + name + b"\0" + entry.raw_oid)
            i += 1
            continue
        directory = path[:slash]
        j = bisect_left(paths, directory, 0, i)
        if j < i and paths[j] == directory:
            return None
        if directory in trees:  # valid: its entries are skipped, they sort up to directory + "0"
            name = path[len(base) : slash]
            listing.append(_TREE + name + b"\0" + bytes.fromhex(trees[directory]))
            i = bisect_left(paths, directory + b"0", i)
        elif len(plan) + len(listing_open) >= most:
            return None
        else:
            listing_open.append((directory + b"/", []))
    while listing_open:
        _close(listing_open, plan)
    return plan if len(plan) <= most else None


def _close(listing_open: list[tuple[bytes, _Content]], plan: list[_Content]) -> None:
    """Move the innermost open directory to the plan, and name it in its parent's content."""
    base, listing = listing_open.pop()
    plan.append(listing)
    if listing_open:
        parent = listing_open[-1]
        parent[1].extend((_TREE + base[len(parent[0]) : -1] + b"\0", len(plan) - 1))
