"""The root tree of a worktree's index, made without a `git write-tree` process.

Recording a task's work runs `git add --all`, then `git write-tree` (about 1.5 ms of CPU for the
process), then `git commit-tree`. `git add` leaves the cache tree (the index's TREE extension)
valid for every directory it did not touch: after a `git reset --hard` and a few changes, only
the root and the directories above the changes are invalid. Those few are made by the caller's
long-lived `git mktree --batch -z`; the others are taken from the cache tree, as `git write-tree`
takes them (cache-tree.c update_one). What git would do differently, or what this module cannot
vouch for, is refused (None) and left to `git write-tree`.
"""

from __future__ import annotations

from binascii import hexlify
from bisect import bisect_left
from collections.abc import Callable
from pathlib import Path

from genesis_par.gitops import index_file
from genesis_par.gitops.index_file import Entry

# The `git mktree` text before an object id: mode and type, which mktree checks agree. mktree
# parses the mode with strtoul(8) and writes it back with "%o", as write-tree writes a mode.
_KINDS = {
    0o100644: b"100644 blob ",
    0o100755: b"100755 blob ",
    0o120000: b"120000 blob ",
    0o160000: b"160000 commit ",
}
_TREE = b"40000 tree "

_Listing = list[bytes | int]  # mktree -z input; an int is the number of a tree made before it


def tree_of_index(
    index: Path, hash_size: int, make_tree: Callable[[bytes], str], most: int = 16
) -> str | None:
    """The root tree id `git write-tree` would print for the index, or None when git must be
    asked: an index the reader refuses, a path in conflict (write-tree fails), an intent-to-add
    entry (write-tree leaves it out), a null object id (write-tree fails; mktree would take it
    for a gitlink), a mode other than 100644, 100755, 120000 and 160000 (an old git's 100664,
    which write-tree writes as is: not worth matching), or more than `most` trees to make.

    make_tree(listing) makes one tree from its `git mktree -z` input (entries in tree order,
    each NUL-ended; b"" for the empty tree) and returns its id; trees are made children before
    their parent, the root last. Whatever make_tree raises is raised. mktree fails where
    write-tree fails (a blob missing) and where it does not: a subtree id from the cache tree
    missing (write-tree makes that tree again), an object of another type than its mode says
    (write-tree writes it as is); the caller then asks git."""
    read = index_file.read(index, hash_size)
    if read is None:
        return None
    null = bytes(hash_size)
    refused = index_file.CONFLICT_OR_INTENT_TO_ADD
    for entry in read.entries:
        if entry.flags & refused or entry.mode not in _KINDS or entry.raw_oid == null:
            return None
    if b"" in read.trees:
        return read.trees[b""]
    plan = _plan(read.entries, read.trees, most)
    if plan is None:
        return None
    made: list[str] = []
    for listing in plan:
        text = b"".join(
            part if isinstance(part, bytes) else made[part].encode() for part in listing
        )
        made.append(make_tree(text))
    return made[-1]


def _plan(entries: list[Entry], trees: dict[bytes, str], most: int) -> list[_Listing] | None:
    """The listings of the trees to make, children before their parent, the root last; None
    when a name is both a file and a directory (write-tree would write both) or more than `most`
    trees are to be made. One pass in index order, which within a directory is tree order (a
    directory sorts as its name and "/" in both), keeping the directories being listed open."""
    paths = [e.path for e in entries]
    plan: list[_Listing] = []
    listing_open: list[tuple[bytes, _Listing]] = [(b"", [])]  # (path and "/", listing)
    i = 0
    while i < len(paths):
        path = paths[i]
        while not path.startswith(listing_open[-1][0]):
            _close(listing_open, plan)
        base, listing = listing_open[-1]
        slash = path.find(b"/", len(base))
        if slash < 0:
            entry, name = entries[i], path[len(base) :]
            listing.append(_KINDS[entry.mode] + hexlify(entry.raw_oid) + b"\t" + name + b"\0")
            i += 1
            continue
        directory = path[:slash]
        j = bisect_left(paths, directory, 0, i)
        if j < i and paths[j] == directory:
            return None
        if directory in trees:  # valid: its entries are skipped, they sort up to directory + "0"
            name = path[len(base) : slash]
            listing.append(_TREE + trees[directory].encode() + b"\t" + name + b"\0")
            i = bisect_left(paths, directory + b"0", i)
        elif len(plan) + len(listing_open) >= most:
            return None
        else:
            listing_open.append((directory + b"/", []))
    while listing_open:
        _close(listing_open, plan)
    return plan if len(plan) <= most else None


def _close(listing_open: list[tuple[bytes, _Listing]], plan: list[_Listing]) -> None:
    """Move the innermost open directory to the plan, and name it in its parent's listing."""
    base, listing = listing_open.pop()
    plan.append(listing)
    if listing_open:
        parent = listing_open[-1]
        parent[1].extend((_TREE, len(plan) - 1, b"\t" + base[len(parent[0]) : -1] + b"\0"))
