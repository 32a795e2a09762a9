"""Every ref of a repository, read straight from git's "files" ref backend.

The fence around each agent (guard.py) lists all refs before and after the process
(guard_refs.all_refs): one `git for-each-ref` each time, two git processes per task. Reading
the files takes none. The rules follow git 2.39's refs/files-backend.c and
refs/packed-backend.c, checked against git in tests/gitops/test_ref_files.py. Where a
repository holds something they do not model (reftable, a symbolic link, a line git never
writes in packed-refs, a symbolic ref to a file outside refs/), the answer is None and the
caller asks git, whose answer (or error) is then the right one.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

SYMREF_MAXDEPTH = 5  # refs.h: git reads at most 5 refs to resolve one (4 symbolic hops)
_SPACE = b" \t\n\r"  # git's isspace()
_HEX = b"0123456789abcdefABCDEF"
_OID_ENDS = (b"", b" ", b"\t", b"\n", b"\r")  # what may follow a loose ref's object name
_HEX_LENGTHS = {b"sha1": 40, b"sha256": 64}  # extensions.objectFormat

# check_refname_format() for names under refs/, on names each followed by "\n": no control
# character, space, ~ ^ : ? * [ \ (_BAD_BYTES); no "..", no "@{"; no component empty, starting
# with "." or ending with ".lock"; no name ending with "." or "/" (_BAD_PARTS).
_BAD_BYTES = bytes(c for c in range(0x21) if c != 0x0A) + b"\x7f~^:?*[\\"
_BAD_PARTS = (b"..", b"@{", b"/.", b"//", b".lock/", b".lock\n", b".\n", b"/\n")

# packed-refs as git writes it, after its header: `<oid> <ref>` lines, each optionally
# followed by its peeled `^<oid>` line (an annotated tag's commit: not a ref)
_PACKED_RECORD = {
    n: re.compile(rb"([0-9a-f]{%d}) (refs/[^\n]*)\n(\^[0-9a-f]{%d}\n)?" % (n, n))
    for n in _HEX_LENGTHS.values()
}


class Refs(NamedTuple):
    values: dict[str, str]  # every ref -> the object it names (a symbolic one: its target's)
    symbolic: dict[str, str]  # the symbolic refs -> the ref each chain ends at


class _Unknown(Exception):
    """Something these rules do not model: git must be asked."""


def read_refs_and_links(common_dir: Path) -> Refs | None:
    """Every ref and the object it names, and the ref each symbolic ref resolves to (the end
    of the chain, not the next link), as `git for-each-ref` run in the main worktree lists
    them with the format `%(objectname) %(refname) %(symref)`; None where git must be asked
    (refs not in files: reftable; anything this reader does not understand)."""
    common = os.fsencode(common_dir)
    try:
        hexlen = _hex_length(common)
        oids: dict[bytes, bytes | None] = {}
        symrefs: dict[bytes, bytes] = {}
        # Loose refs first, packed-refs second: `git pack-refs --prune` renames a new
        # packed-refs into place before it removes the loose files, so a ref that exists
        # throughout is seen in at least one of the two (read the other way round, a ref
        # packed and pruned between the two reads would be missed).
        _scan(common + b"/refs", b"refs/", hexlen, oids, symrefs)
        packed = _packed(common + b"/packed-refs", hexlen)
        _drop_bad_names(oids)
        _drop_bad_names(symrefs)
        return _merged(packed, oids, symrefs, hexlen)
    except (_Unknown, OSError):
        return None


def _hex_length(common: bytes) -> int:
    """The length of an object name in hex, from the config's extensions; _Unknown for refs
    not in files. Git reads extensions from this one file, without its includes."""
    if os.path.lexists(common + b"/reftable"):
        raise _Unknown
    extensions = _extensions(_read(common + b"/config"))
    if extensions.get(b"refstorage", b"files") != b"files":
        raise _Unknown
    try:
        return _HEX_LENGTHS[extensions.get(b"objectformat", b"sha1")]
    except KeyError:
        raise _Unknown from None


def _extensions(config: bytes) -> dict[bytes, bytes]:
    """The [extensions] keys of a config file's text and their values, lowercased."""
    found: dict[bytes, bytes] = {}
    text = config.lower()
    if b"extensions" not in text:
        return found
    section = b""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(b"["):
            head, _, line = line[1:].partition(b"]")
            section, line = head.strip(), line.strip()
        key, equals, value = line.partition(b"=")
        if section == b"extensions" and equals:
            value = value.partition(b"#")[0].partition(b";")[0].strip().strip(b'"')
            found[key.strip()] = value
    return found


def _scan(
    folder: bytes,
    prefix: bytes,
    hexlen: int,
    oids: dict[bytes, bytes | None],
    symrefs: dict[bytes, bytes],
) -> None:
    """Read the loose refs under folder into oids (None: broken) and symrefs (their targets)."""
    with os.scandir(folder) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith(b".") or name.endswith(b".lock"):
                continue  # git skips these first: `<ref>.lock` is a ref being written
            if entry.is_dir(follow_symlinks=False):
                # removed meanwhile (git removes the folders it empties): its refs are gone
                with contextlib.suppress(FileNotFoundError):
                    _scan(entry.path, prefix + name + b"/", hexlen, oids, symrefs)
                continue
            if not entry.is_file(follow_symlinks=False):
                raise _Unknown  # git reads a link to refs/... as a symbolic ref: rare, ask git
            try:
                content = _read(entry.path)
            except FileNotFoundError:
                continue  # deleted meanwhile: the ref is gone
            _parse_loose(prefix + name, content, hexlen, oids, symrefs)


def _read(path: bytes) -> bytes:
    """A whole small file, in as few system calls as Python allows."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = [os.read(fd, 4096)]
        while len(chunks[-1]) == 4096:
            chunks.append(os.read(fd, 65536))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _parse_loose(
    refname: bytes,
    content: bytes,
    hexlen: int,
    oids: dict[bytes, bytes | None],
    symrefs: dict[bytes, bytes],
) -> None:
    """parse_loose_ref_contents: `ref: <target>`, or an object name followed by nothing or by
    whitespace (and anything after it, as in FETCH_HEAD). Git trims trailing whitespace, then
    reads the text as a C string (up to a NUL)."""
    text = content.rstrip(_SPACE).partition(b"\0")[0]
    if text.startswith(b"ref:"):
        symrefs[refname] = text[4:].lstrip(_SPACE)
        return
    oid = text[:hexlen]
    valid = len(oid) == hexlen and not oid.strip(_HEX) and text[hexlen : hexlen + 1] in _OID_ENDS
    oids[refname] = oid.lower() if valid and oid.strip(b"0") else None  # all zeros: broken


def _packed(path: bytes, hexlen: int) -> dict[bytes, bytes]:
    """The refs of packed-refs (none without the file); _Unknown for a file git would refuse
    or read its own way (a name twice, a name git skips, a line git never writes)."""
    try:
        data = _read(path)
    except FileNotFoundError:
        return {}
    if data.startswith(b"#"):
        header, newline, data = data.partition(b"\n")
        if not newline or not header.startswith(b"# pack-refs with:"):
            raise _Unknown
    records = _PACKED_RECORD[hexlen].findall(data)
    oids, names, peeled = zip(*records, strict=True) if records else ((), (), ())
    # the records' lengths add up to the file's only if they cover all of it, line by line
    covered = sum(map(len, names)) + sum(map(len, peeled)) + (hexlen + 2) * len(records)
    refs = dict(zip(names, oids, strict=True))
    if covered != len(data) or len(refs) != len(records) or not _valid_names(names):
        raise _Unknown
    return refs


def _valid_names(names: Sequence[bytes]) -> bool:
    """Whether check_refname_format() accepts every one of names, all under refs/."""
    if not names:
        return True
    text = b"\n".join(names) + b"\n"
    return (
        text.count(b"\n") == len(names)
        and len(text.translate(None, _BAD_BYTES)) == len(text)
        and not any(part in text for part in _BAD_PARTS)
    )


def _drop_bad_names(loose: dict[bytes, bytes | None] | dict[bytes, bytes]) -> None:
    """Leave out the loose refs git skips ("ignoring ref with broken name"): all are checked
    at once, one by one only when one of them is bad."""
    if not _valid_names(list(loose)):
        for name in [name for name in loose if not _valid_names([name])]:
            del loose[name]


def _merged(
    packed: dict[bytes, bytes],
    oids: dict[bytes, bytes | None],
    symrefs: dict[bytes, bytes],
    hexlen: int,
) -> Refs:
    """Loose over packed (a broken loose ref hides its packed value too), symbolic refs
    resolved, sorted by name as for-each-ref sorts them, decoded as gitops decodes git's
    output."""
    refs: dict[bytes, bytes | None] = {**packed, **oids, **dict.fromkeys(symrefs)}
    ends: dict[bytes, bytes] = {}
    for name in symrefs:
        end = _resolve(name, packed, oids, symrefs)
        if end is not None and refs[end] != b"0" * hexlen:
            ends[name], refs[name] = end, refs[end]
    return Refs(_decoded(refs), _decoded(ends))


def _decoded(pairs: Mapping[bytes, bytes | None]) -> dict[str, str]:
    """pairs but None values, sorted by name, decoded as gitops decodes git's output (UTF-8,
    other bytes kept as surrogates)."""
    return {
        name.decode("utf-8", "surrogateescape"): value.decode("utf-8", "surrogateescape")
        for name, value in sorted(pairs.items())
        if value is not None
    }


def _resolve(
    name: bytes,
    packed: dict[bytes, bytes],
    oids: dict[bytes, bytes | None],
    symrefs: dict[bytes, bytes],
) -> bytes | None:
    """The ref a symbolic ref's chain ends at, or None where git leaves the symbolic ref out:
    the end does not resolve, a name in the chain is bad, the chain is too long."""
    for _ in range(SYMREF_MAXDEPTH - 1):
        name = symrefs[name]
        inside = name.startswith(b"refs/")
        if name == b"@" or not _valid_names([name if inside else b"refs/" + name]):
            return None  # git checks each name in the chain (one-level names allowed)
        if not inside:
            raise _Unknown  # HEAD, main-worktree/HEAD, ...: files outside refs/, ask git
        if name not in symrefs:
            return name if oids.get(name, packed.get(name)) is not None else None
    return None
