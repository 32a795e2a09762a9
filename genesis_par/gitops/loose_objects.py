"""Writing trees and commits as loose object files, the way git writes them (object-file.c).

A task's tree was made by a `git write-tree` process and its commit by `git commit-tree`: about
1.8 ms of git's CPU and 0.4 ms of ours to start each, where hashing and writing the object takes
a tenth of that here (issue 19). index_tree builds each tree's content from the index, and
commit_object a commit's; this module names the object (the repository's hash over
"<kind> <size>\\0" and the content) and writes it when the object directory lacks it:
deflated into a temporary file beside its final name, made read-only, then linked into place,
so that no git ever reads half an object. An object that exists has its time refreshed
instead, as git does, so that a `git gc` running at that moment does not prune it as old and
unreachable before the commit that needs it is written.

A repository shared between users (core.sharedRepository) is left to git, which gives its
files the group's permissions.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import zlib
from pathlib import Path

from genesis_par.gitops.run import repo_config

_HASHES = {20: "sha1", 32: "sha256"}  # by the size of an object id in bytes


def tree_writer(common_dir: Path, hash_size: int) -> ObjectWriter | None:
    """A writer of trees into the repository's objects, or None where git must write them:
    a shared repository, or a hash this module does not know."""
    return object_writer(common_dir, hash_size, b"tree")


def object_writer(common_dir: Path, hash_size: int, kind: bytes) -> ObjectWriter | None:
    """A writer of objects of that kind (b"tree", b"commit"), or None as tree_writer."""
    if hash_size not in _HASHES or _is_shared(common_dir):
        return None
    return ObjectWriter(common_dir / "objects", _HASHES[hash_size], kind)


class NotWritten(Exception):
    """The object could not be written here (git is asked to, and says why if it cannot)."""


class ObjectWriter:
    """Writes objects of one kind into one object directory."""

    def __init__(self, objects: Path, hash_name: str, kind: bytes) -> None:
        self.objects = objects
        self.hash_name = hash_name
        self.kind = kind

    def __call__(self, content: bytes) -> str:
        """The id of the object of that content (git's format for its kind), written if it
        was not; NotWritten if it could not be."""
        data = b"%s %d\0" % (self.kind, len(content)) + content
        import hashlib  # here, not at start-up: loading OpenSSL's hashes takes 3 ms

        oid = hashlib.new(self.hash_name, data).hexdigest()
        folder = self.objects / oid[:2]
        final = folder / oid[2:]
        try:
            if _there(final):
                return oid
            folder.mkdir(exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix="tmp_obj_", dir=folder)
        except OSError as e:
            raise NotWritten(f"{final}: {e.strerror}") from None
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(zlib.compress(data, 1))
            os.chmod(temporary, 0o444 & ~_umask())
            try:
                os.link(temporary, final)
            except FileExistsError:
                pass  # written by another at the same moment: the same bytes
            except OSError:  # a file system without hard links (git renames then, too)
                os.replace(temporary, final)
        except OSError as e:
            raise NotWritten(f"{final}: {e.strerror}") from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        return oid


def _there(final: Path) -> bool:
    """Whether the object's file is there: its time refreshed, as git's freshen_loose_object,
    or (another user's, in a shared folder) at least found."""
    try:
        os.utime(final)
        return True
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.lstat(final)
        except OSError:
            return False  # not there after all (a file where the folder should be): written
        return True


@functools.cache
def _umask() -> int:
    """The process's umask, read from /proc (os.umask can only be read by setting it, which
    would race with the run's other threads creating files); git's 022 where /proc has none."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022


def _is_shared(common_dir: Path) -> bool:
    """Whether core.sharedRepository is set (or the config cannot be read: git then writes)."""
    config = repo_config(common_dir)
    if config is None:
        return True
    value = config.get("core.sharedrepository")  # a bare line is true: "group"
    return value is not None and value.strip().lower() not in ("false", "umask", "0", "no", "off")
