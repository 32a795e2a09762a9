"""A worktree's index, read from `$GIT_DIR/index` itself: its entries and its cache tree.

The only use of a `git ls-files --stage -z` after each task was to find gitlinks (mode 160000:
submodules, embedded repositories). That process costs about 3 ms per task, and the index it
reads was written a moment before by `git add --all`: reading the file here costs a fraction of
that (0.2-0.3 ms for 200 entries against 1.5 ms for the process, on a busy 2-core machine). The
same walk gives `index_tree` the entries and the valid directories of the cache tree, so that
the root tree is made without a `git write-tree`. The format is git's
Documentation/gitformat-index.txt (index-format.txt before git 2.38), versions 2, 3 and 4.

Whatever this reader does not fully understand it refuses (None) rather than guesses, and the
caller asks git: a split index (its entries live partly in a `sharedindex.*` file), a sparse
index (a directory entry stands for the paths below it; git 2.39 keeps gitlinks out of those, but
that is git's choice, not the format's), any other extension git must understand to read the
index (a lowercase signature: git 2.39 fails on those it does not know), a version or flag bit
it does not know, entries out of git's order, data that is cut short or does not add up.
"""

from __future__ import annotations

import re
import struct
from bisect import bisect_left
from pathlib import Path
from typing import NamedTuple

_HEADER = struct.Struct(">4sLL")  # "DIRC", version, number of entries
_EXTENSION = struct.Struct(">4sL")  # signature, size of the data that follows
_U16 = struct.Struct(">H")
# An entry opens with ctime, mtime (seconds, nanoseconds), dev, ino, mode, uid, gid and size,
# 32 bits each, then the object name, then 16 bits of flags: (mode, oid, flags) by hash size.
_HASH_AT = 40
_ENTRY = {size: struct.Struct(f">24xL{_HASH_AT - 28}x{size}sH") for size in (20, 32)}
_HASHES = {20: "sha1", 32: "sha256"}  # the index's checksum is made with the repository's hash
_TYPE_BITS = 0o170000
_GITLINK = 0o160000
_DIRECTORY = 0o040000  # only a sparse index has directory entries
_EXTENDED = 0x4000  # flags: two more flag bytes follow (version 3 and later)
_STAGE_SHIFT = 12  # flags: 2 bits of stage (0, or 1-3 for the sides of a conflict)
_SKIP_WORKTREE = 0x4000  # extended flags
_INTENT_TO_ADD = 0x2000
_KNOWN_EXTENDED = _SKIP_WORKTREE | _INTENT_TO_ADD  # git 2.39 dies on any other bit
# Entry.flags bits of a stage (a path in conflict) or of intent-to-add: one test for both, a
# third of the time of asking each entry its `stage` and `intent_to_add`.
CONFLICT_OR_INTENT_TO_ADD = 3 << _STAGE_SHIFT | _INTENT_TO_ADD << 16
_NAME_MASK = 0xFFF  # flags: the path's length, or 0xFFF for "0xFFF or more"
# A cache tree node after its NUL-ended name: "<entry_count> <subtrees>\n", entry_count -1 for
# invalid. git parses these with strtol; this is the only form git writes (cache-tree.c).
_COUNTS = re.compile(rb"(-1|0|[1-9][0-9]{0,9}) (0|[1-9][0-9]{0,9})\n")


class Entry(NamedTuple):
    """One index entry as the file holds it; oid, stage and the two flags below are worked
    out when asked for, so that the walk builds no more than `gitlinks` needs."""

    mode: int
    raw_oid: bytes  # the object name, as the index holds it
    path: bytes
    flags: int  # the 16 bits of flags, and the extended flags (version 3+) above them

    @property
    def oid(self) -> str:
        """The object id, lowercase hex."""
        return self.raw_oid.hex()

    @property
    def stage(self) -> int:
        """0, or 1-3 for the sides of a path in conflict."""
        return (self.flags >> _STAGE_SHIFT) & 3

    @property
    def intent_to_add(self) -> bool:
        """Added with `git add -N`: in the index, left out of trees."""
        return bool(self.flags & _INTENT_TO_ADD << 16)

    @property
    def skip_worktree(self) -> bool:
        """Left out of the worktree (sparse checkout), still in trees."""
        return bool(self.flags & _SKIP_WORKTREE << 16)


class Index(NamedTuple):
    """The entries in index order, and the tree ids of the cache tree's valid directories."""

    entries: list[Entry]
    trees: dict[bytes, str]  # b"" for the root, b"a/b" for a nested directory


_new_entry = tuple.__new__  # Entry(...) without the Python-level __new__: a third of the walk


class _Unreadable(Exception):
    """The index is not one this reader can vouch for: git must be asked."""


def read(index: Path, hash_size: int) -> Index | None:
    """The whole index, or None when this reader cannot vouch for it and git must be asked.

    Unlike `gitlinks`, this checks the trailing checksum (when git writes zeros there,
    `index.skipHash` of git 2.40+, it refuses): the tree ids of the cache tree are taken on
    trust, where git would also check that each object exists. A valid directory's entry count
    must match the entries below it, as git counts on it when it skips them."""
    return _load(index, hash_size, whole=True)


def count(index: Path) -> int | None:
    """The number of entries the index's header announces; None if it has no header."""
    try:
        with open(index, "rb") as handle:
            header = handle.read(_HEADER.size)
    except OSError:
        return None
    if len(header) < _HEADER.size:
        return None
    return int(_HEADER.unpack(header)[2])


def gitlinks(index: Path, hash_size: int) -> list[str] | None:
    """The paths of the index's gitlink entries (mode 160000), in index order, each once;
    None when this reader cannot tell and git must be asked (`git ls-files --stage`).

    hash_size is 20 (SHA-1) or 32 (SHA-256). The trailing checksum is not verified: git
    itself skips it when reading an index (only fsck checks it, and since git 2.40
    `index.skipHash` writes zeros there); git replaces the file by a rename, so it is never
    seen half-written, and a file cut short fails the walk from header to trailer here."""
    found = _load(index, hash_size, whole=False)
    if found is None:
        return None
    links = (e.path for e in found.entries if e.mode & _TYPE_BITS == _GITLINK)  # S_ISGITLINK
    # a path in conflict has an entry per stage: keep it once; decoded as gitops.run decodes
    return list(dict.fromkeys(path.decode("utf-8", "surrogateescape") for path in links))


# The last few reads, by path and hash size: (the file's bytes, what they gave, whole or not).
# A task's index is read for its tree, then again for its gitlinks: the second read finds the
# same bytes and takes the first one's walk (the bytes are compared, not the file's times).
_last: dict[tuple[Path, int], tuple[bytes, Index | None, bool]] = {}
_MOST_KEPT = 8
_LARGEST_KEPT = 1 << 20  # bytes of an index kept: a 100,000-entry one with its walk is 28 MB


def _load(index: Path, hash_size: int, whole: bool) -> Index | None:
    if hash_size not in _ENTRY:
        raise ValueError(f"hash_size {hash_size}: 20 for SHA-1 or 32 for SHA-256")
    try:
        data = index.read_bytes()
    except OSError:
        return None
    kept = _last.get((index, hash_size))
    if kept is not None and kept[0] == data and (kept[2] or not whole):
        return kept[1]
    try:
        found: Index | None = _read(data, hash_size, whole)
    except _Unreadable:
        found = None
    if len(_last) >= _MOST_KEPT:
        _last.clear()
    if len(data) <= _LARGEST_KEPT:
        _last[(index, hash_size)] = (data, found, whole)
    return found


def _read(data: bytes, hash_size: int, whole: bool) -> Index:
    end = len(data) - hash_size  # where the entries and extensions end: the checksum follows
    if end < _HEADER.size:
        raise _Unreadable("shorter than a header and a checksum")
    signature, version, count = _HEADER.unpack_from(data)
    if signature != b"DIRC" or version not in (2, 3, 4):
        raise _Unreadable(f"signature {signature!r}, version {version}")
    if whole:
        import hashlib  # here, not at start-up: loading OpenSSL's hashes takes 3 ms

        checksum = hashlib.new(_HASHES[hash_size], memoryview(data)[:end]).digest()
        if checksum != data[end:]:
            raise _Unreadable("a checksum that does not match")
    entries: list[Entry] = []
    at, previous = _HEADER.size, Entry(0, b"", b"", 0)
    for _ in range(count):
        entry, at = _entry(data, at, end, hash_size, version, previous.path)
        if entry.mode & _TYPE_BITS == _DIRECTORY:
            raise _Unreadable("a sparse directory entry")
        # git's order (read-cache.c check_ce_order): by path, then stage; a path once at stage 0
        if entry.path <= previous.path and not (
            entry.path == previous.path and 0 < previous.stage < entry.stage
        ):
            raise _Unreadable("entries out of order")
        entries.append(entry)
        previous = entry
    tree = _extensions(data, at, end)
    if not whole or tree is None:
        return Index(entries, {})
    return Index(entries, _cache_tree(tree, hash_size, [e.path for e in entries]))


def _entry(
    data: bytes, at: int, end: int, hash_size: int, version: int, previous: bytes
) -> tuple[Entry, int]:
    """(the entry at `at`, where the next entry starts)."""
    flags_at = at + _HASH_AT + hash_size
    name_at = flags_at + 2
    if name_at > end:
        raise _Unreadable("an entry cut short")
    mode, oid, flags = _ENTRY[hash_size].unpack_from(data, at)
    extended = 0
    if flags & _EXTENDED:
        if version < 3 or name_at + 2 > end:
            raise _Unreadable("extended flags in version 2, or cut short")
        extended = _U16.unpack_from(data, name_at)[0]
        if extended & ~_KNOWN_EXTENDED:
            raise _Unreadable("an extended flag git 2.39 does not know")
        name_at += 2
    if version == 4:
        strip, name_at = _varint(data, name_at, end)
        if strip > len(previous):
            raise _Unreadable("strips more than the previous path")
        nul = data.find(b"\0", name_at, end)
        path = previous[: len(previous) - strip] + data[name_at:nul]
        following = nul + 1  # version 4 has no padding
    else:
        nul = data.find(b"\0", name_at, end)
        path = data[name_at:nul]
        # 1 to 8 NULs pad the entry to a multiple of 8 bytes, counted from its start
        following = at + ((name_at - at + len(path) + 8) & ~7)
    named = flags & _NAME_MASK  # the path's length, or 0xFFF for "0xFFF or more"
    if nul < 0 or following > end or not (len(path) == named or len(path) > named == _NAME_MASK):
        raise _Unreadable("a path with no end, or not the length its flags say")
    return _new_entry(Entry, (mode, oid, path, extended << 16 | flags)), following


def _varint(data: bytes, at: int, end: int) -> tuple[int, int]:
    """(value, where it ends) of git's varint at `at` (varint.c decode_varint): big-endian
    groups of 7 bits, and each continuation adds 1 before shifting, so that no value has two
    encodings (0x80 0x00 is 128, not 0)."""
    if at >= end:
        raise _Unreadable("a varint cut short")
    value = data[at] & 0x7F
    while data[at] & 0x80:
        at += 1
        if at >= end:
            raise _Unreadable("a varint cut short")
        value = ((value + 1) << 7) | (data[at] & 0x7F)
    return value, at + 1


def _extensions(data: bytes, at: int, end: int) -> bytes | None:
    """The data of the TREE extension, if any, walking the extensions after the entries; they
    must end exactly at the checksum. git 2.39 skips an extension whose signature starts with
    A-Z when it does not know it, and fails on any other it does not know (read-cache.c
    read_index_extension); of those it knows, `link` and `sdir` are refused (see above)."""
    tree = None
    while at < end:
        if at + _EXTENSION.size > end:
            raise _Unreadable("an extension header cut short")
        signature, size = _EXTENSION.unpack_from(data, at)
        if not b"A" <= signature[:1] <= b"Z":
            raise _Unreadable(f"a {signature!r} extension")
        if signature == b"TREE":
            if tree is not None:
                raise _Unreadable("two cache trees")
            tree = data[at + _EXTENSION.size : at + _EXTENSION.size + size]
        at += _EXTENSION.size + size
    if at != end:
        raise _Unreadable("extensions that run past the checksum")
    return tree


def _cache_tree(tree: bytes, hash_size: int, paths: list[bytes]) -> dict[bytes, str]:
    """{directory: tree id} of the valid nodes of a TREE extension. Each node is its name
    (relative to its parent, b"" for the root), NUL, counts, the tree id when valid, then its
    subtrees; the walk keeps a stack of (path, subtrees still to read) instead of recursing."""
    valid: dict[bytes, str] = {}
    seen: set[bytes] = set()  # git dies on a name twice under one parent
    stack: list[tuple[bytes, int]] = []
    at = 0
    while True:
        nul = tree.find(b"\0", at)
        counts = _COUNTS.match(tree, nul + 1) if nul >= 0 else None
        if counts is None:
            raise _Unreadable("a cache tree node cut short or not as git writes it")
        name = tree[at:nul]
        if stack:
            parent, left = stack[-1]
            stack[-1] = (parent, left - 1)
            if not name or b"/" in name:
                raise _Unreadable("a cache tree node with no name, or a slash in it")
            path = parent + b"/" + name if parent else name
        elif name:
            raise _Unreadable("a cache tree that does not start at the root")
        else:
            path = b""
        if path in seen:
            raise _Unreadable("a directory twice in the cache tree")
        seen.add(path)
        at = counts.end()
        if counts[1] != b"-1":
            if at + hash_size > len(tree):
                raise _Unreadable("a cache tree node cut short")
            _check_count(path, int(counts[1]), paths)
            valid[path] = tree[at : at + hash_size].hex()
            at += hash_size
        stack.append((path, int(counts[2])))
        while stack and stack[-1][1] == 0:
            stack.pop()
        if not stack:
            break
    if at != len(tree):
        raise _Unreadable("a cache tree followed by more data")
    return valid


def _check_count(directory: bytes, count: int, paths: list[bytes]) -> None:
    """A valid node counts the entries below its directory: git skips that many (update_one)."""
    lo, hi = 0, len(paths)
    if directory:  # the paths below a/b sort from b"a/b/" up to b"a/b0" ("0" follows "/")
        lo = bisect_left(paths, directory + b"/")
        hi = bisect_left(paths, directory + b"0", lo)
    if hi - lo != count:
        raise _Unreadable("a cache tree node whose entry count does not match")
