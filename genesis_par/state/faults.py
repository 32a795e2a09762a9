"""Opening the state store on a full disk, in a read-only folder, when it is locked or damaged:
one sentence for the user, never SQLite's traceback (issue 20)."""

from __future__ import annotations

import errno
import shutil
import sqlite3
import stat
import time
from pathlib import Path
from urllib.parse import quote

from genesis_par.errors import StoreProblem

# SQLite's primary result codes (the low byte of sqlite_errorcode)
PERM, BUSY, LOCKED, READONLY, IOERR, CORRUPT = 3, 5, 6, 8, 10, 11
FULL, CANTOPEN, NOTADB = 13, 14, 26
DAMAGED = frozenset({CORRUPT, NOTADB})
CANNOT_WRITE = frozenset({PERM, READONLY, CANTOPEN})
FULL_BELOW_BYTES = 1 << 20  # free space under which an I/O error is taken for a full disk
READ_ONLY_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


def code_of(e: sqlite3.Error) -> int:
    """SQLite's primary result code of an error (0 when it has none)."""
    return int(getattr(e, "sqlite_errorcode", 0) or 0) & 0xFF


def is_damage(e: sqlite3.Error) -> bool:
    """The file is not a database, or its pages are corrupt."""
    return code_of(e) in DAMAGED


def problem(e: sqlite3.Error | OSError, db_path: Path) -> StoreProblem:
    """What is wrong with the store and how to fix it, in one sentence."""
    code = code_of(e) if isinstance(e, sqlite3.Error) else 0
    number = e.errno if isinstance(e, OSError) else None
    what = (e.strerror or str(e)) if isinstance(e, OSError) else str(e)
    folder = db_path.parent
    if code == FULL or number == errno.ENOSPC or (code == IOERR and _nearly_full(folder)):
        return StoreProblem(
            f"no space left for the state store {db_path} ({what}): free some space "
            "(`genesis-par worktrees gc` removes the worktrees of finished runs) and run the "
            "command again"
        )
    if code in (BUSY, LOCKED):
        return StoreProblem(
            f"the state store {db_path} is locked by another process ({what}): let it finish "
            "(another genesis-par writing, or a sqlite3 shell inside a transaction) and run the "
            "command again"
        )
    if code in CANNOT_WRITE or number in READ_ONLY_ERRNOS:
        return StoreProblem(
            f"the state store {db_path} cannot be written ({what}): make {folder} and its files "
            f"writable (chmod -R u+w {folder}); status, runs, logs and worktrees list/gc work "
            "without writing"
        )
    if code in DAMAGED:
        return StoreProblem(
            f"the state store {db_path} is damaged ({what}): the next command that writes it "
            "(run, resume, merge, rollback) moves it aside and starts a new one; the run history "
            "is lost, branches and worktrees are kept"
        )
    return StoreProblem(
        f"the state store {db_path} cannot be used ({what}): check the disk and the "
        "permissions of its folder, then run the command again"
    )


def _nearly_full(folder: Path) -> bool:
    """SQLite reports a full disk as an I/O error when it cannot grow its WAL index."""
    try:
        return shutil.disk_usage(folder).free < FULL_BELOW_BYTES
    except OSError:
        return False


def refuse_read_only_file(db_path: Path) -> None:
    """A state.db without its owner's write bit is read-only by intent: writing it anyway (as
    root can) would give its -wal and -shm the same read-only mode, which then stops every
    other user's genesis-par."""
    try:
        mode = db_path.stat().st_mode
    except FileNotFoundError:
        return
    if not mode & stat.S_IWUSR:
        raise problem(OSError(errno.EACCES, "the file is read-only"), db_path) from None


def connect_writable(db_path: Path, timeout_s: float) -> sqlite3.Connection:
    """A read-write connection in WAL mode; sqlite3.Error when the file is damaged."""
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise problem(e, db_path) from None
    refuse_read_only_file(db_path)
    db = sqlite3.connect(db_path, check_same_thread=False, timeout=timeout_s, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL (in WAL mode): a committed transaction survives genesis-par's crash, however it
        # dies, since it is in the OS's cache the moment COMMIT returns; power loss can undo the
        # last transactions before a checkpoint (never damage the store), which resume redoes
        # from git, where the work is (docs/benchmarks.md). FULL cost an fsync per transition.
        db.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        db.close()
        raise
    return db


def connect_read_only(db_path: Path, timeout_s: float) -> sqlite3.Connection:
    """A connection that never writes the store: it works in a read-only folder, on a full
    disk and beside a writer holding a lock; it never leaves a -shm the writers cannot open."""
    wal, shm = Path(f"{db_path}-wal"), Path(f"{db_path}-shm")
    settled = not wal.exists() or wal.stat().st_size == 0  # the database file holds it all
    if settled and not shm.exists() and not db_path.stat().st_mode & stat.S_IWUSR:
        return _connect_uri(db_path, "immutable=1", timeout_s)  # nobody writes it: no -shm
    try:
        db = _connect_uri(db_path, "mode=ro", timeout_s)
        db.execute("PRAGMA user_version").fetchone()  # opens the file (and the WAL index)
        return db
    except sqlite3.Error as e:
        # The WAL index (-shm) cannot be made here (read-only folder, full disk): with no WAL
        # content waiting, the database file alone is the whole store.
        if settled and code_of(e) in {*CANNOT_WRITE, IOERR, FULL}:
            return _connect_uri(db_path, "immutable=1", timeout_s)
        raise problem(e, db_path) from None


def _connect_uri(db_path: Path, flag: str, timeout_s: float) -> sqlite3.Connection:
    uri = f"file:{quote(str(db_path))}?{flag}"
    return sqlite3.connect(
        uri, uri=True, check_same_thread=False, timeout=timeout_s, isolation_level=None
    )


def move_aside(db_path: Path, now: float | None = None) -> Path:
    """Rename a damaged state.db (and its -wal, -shm) to state.db.damaged-<time>; its new name."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now))
    aside = db_path.with_name(f"{db_path.name}.damaged-{stamp}")
    try:
        for suffix in ("-wal", "-shm", ""):  # the database last: a -wal alone is never used
            source = Path(f"{db_path}{suffix}")
            if source.exists():
                source.rename(Path(f"{aside}{suffix}"))
    except OSError as e:
        raise problem(e, db_path) from None
    return aside


def moved_notice(db_path: Path, aside: Path, e: sqlite3.Error) -> str:
    """What the user is told when a damaged store was moved aside."""
    return (
        f"the state store {db_path} was damaged ({e}): moved it to {aside.name} and started a new "
        "one; the run history is lost, branches and worktrees are kept"
    )
