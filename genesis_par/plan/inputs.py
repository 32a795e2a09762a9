"""Files a user names (a plan, a prompt file), read only when they are small regular files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from genesis_par.plan.values import format_size

MAX_INPUT_FILE = 8 * 2**20  # bytes of a plan or a prompt file: far above any real one

_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotReadable(Exception):
    """A file that must not be read: not a regular file, or over the size limit."""


def read_input(path: Path, limit: int = MAX_INPUT_FILE) -> bytes:
    """A file a user named, read only if it is a regular file of at most limit bytes: /dev/zero,
    a FIFO or a huge log would otherwise be read until memory runs out (or block forever).
    Raises OSError (missing, no permission) or NotReadable with the reason."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # never wait on a FIFO
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _FILE_KINDS if test(mode)), "a special file")
            raise NotReadable(f"is {kind}, not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise NotReadable(f"is larger than {format_size(limit)}, the most genesis-par reads")
    return data
