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
_GITLINK = 0o160000

_Content = list[bytes | int]  # a tree's content; an int is the number of a tree made before


MOST_ENTRIES = 2_000  # beyond, git reads the index faster than Python (1.9 against 0.5 us an
# entry) and off the run's GIL: git write-tree makes the tree


def tree_of_index(
    index: Path,
    hash_size: int,
    make_tree: Callable[[bytes], str],
    exist: Callable[[list[bytes]], bool],
    most: int = 16,
) -> str | None:
    """The root tree id `git write-tree` would print for the index, or None when git must be
    asked: an index the reader refuses or of more than MOST_ENTRIES entries, a path in
    conflict (write-tree fails), an intent-to-add entry (write-tree leaves it out), a null
    object id (write-tree fails), a mode other than 100644, 100755, 120000 and 160000 (an old
    git's 100664, which write-tree writes as is: not worth matching), more than `most` trees
    to make, or an object the trees would name that the repository lacks.

    make_tree(content) writes one tree of that content (git's tree format, without the
    object header) and returns its id; trees are made children before their parent, the root
    last. Whatever make_tree raises is raised. exist(ids) says whether the repository has all
    of those objects (ids in bytes): asked, before any tree is made, of every object the new
    trees name (blobs, and the trees taken from the cache tree; not gitlinks' commits) or of
    the root when the cache tree holds it, as write-tree makes sure each exists (an agent's
    crafted index, or a `git gc --prune=now` between `git add` writing a blob and writing the
    index, must not give a tree that names what is not there)."""
    if (index_file.count(index) or 0) > MOST_ENTRIES:
        return None
    read = index_file.read(index, hash_size)
    if read is None:
        return None
    null = bytes(hash_size)
    refused = index_file.CONFLICT_OR_INTENT_TO_ADD
    for entry in read.entries:
        if entry.flags & refused or entry.mode not in _MODES or entry.raw_oid == null:
            return None
    if b"" in read.trees:
        root = read.trees[b""]
        return root if exist([bytes.fromhex(root)]) else None
    planned = _plan(read.entries, read.trees, most)
    if planned is None or not exist(planned[1]):
        return None
    made: list[str] = []
    for content in planned[0]:
        made.append(make_tree(b"".join(_resolved(part, made) for part in content)))
    return made[-1]


def _resolved(part: bytes | int, made: list[str]) -> bytes:
    return part if isinstance(part, bytes) else bytes.fromhex(made[part])


def _plan(
    entries: list[Entry], trees: dict[bytes, str], most: int
) -> tuple[list[_Content], list[bytes]] | None:
    """The contents of the trees to make, children before their parent, the root last, and
    the objects they name (gitlinks' commits left out); None
    when a name is both a file and a directory (write-tree would write both) or more than `most`
    trees are to be made. One pass in index order, which within a directory is tree order (a
    directory sorts as its name and "/" in both), keeping the directories being listed open."""
    paths = [e.path for e in entries]
    plan: list[_Content] = []
    named: list[bytes] = []
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
            if entry.mode != _GITLINK:
                named.append(entry.raw_oid)
            i += 1
            continue
        directory = path[:slash]
        j = bisect_left(paths, directory, 0, i)
        if j < i and paths[j] == directory:
            return None
        if directory in trees:  # valid: its entries are skipped, they sort up to directory + "0"
            name = path[len(base) : slash]
            named.append(bytes.fromhex(trees[directory]))
            listing.append(_TREE + name + b"\0" + named[-1])
            i = bisect_left(paths, directory + b"0", i)
        elif len(plan) + len(listing_open) >= most:
            return None
        else:
            listing_open.append((directory + b"/", []))
    while listing_open:
        _close(listing_open, plan)
    return (plan, named) if len(plan) <= most else None


def _close(listing_open: list[tuple[bytes, _Content]], plan: list[_Content]) -> None:
    """Move the innermost open directory to the plan, and name it in its parent's content."""
    base, listing = listing_open.pop()
    plan.append(listing)
    if listing_open:
        parent = listing_open[-1]
        parent[1].extend((_TREE + base[len(parent[0]) : -1] + b"\0", len(plan) - 1))
