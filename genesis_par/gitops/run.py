"""Running git: one bounded process per call, never pointed elsewhere by inherited variables,
the user's hooks off; git's failures turned into GitError."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from genesis_par import proc
from genesis_par.errors import EnvironmentProblem, GenesisError, GitError

MIN_GIT = (2, 38)

# Variables that tell git which repository, work tree, index, object store, refs or config
# to use, or how to read pathspecs. Set by a hook or an alias that started genesis-par (or by a
# user's shell), they would send our calls to the user's index or HEAD instead of a task's
# worktree (issue 13). `git rev-parse --local-env-vars` is git's own list; the rest steer
# discovery, ref namespaces and pathspecs. Kept on purpose: GIT_CONFIG_GLOBAL, _SYSTEM and
# _NOSYSTEM (which config files the user reads), the author and committer identity and dates
# (the user's to choose; tests pin them), GIT_EXEC_PATH and GIT_TRACE* (how git runs and
# reports). A caller's own env= (a scratch object directory, a temporary index) is applied
# after the removal.
REPOSITORY_VARIABLES = frozenset(
    {
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_ATTR_SOURCE",
        "GIT_CEILING_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_CONFIG",
        "GIT_CONFIG_COUNT",
        "GIT_CONFIG_PARAMETERS",
        "GIT_DIR",
        "GIT_DISCOVERY_ACROSS_FILESYSTEM",
        "GIT_GLOB_PATHSPECS",
        "GIT_GRAFT_FILE",
        "GIT_ICASE_PATHSPECS",
        "GIT_IMPLICIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_INTERNAL_SUPER_PREFIX",
        "GIT_LITERAL_PATHSPECS",
        "GIT_NAMESPACE",
        "GIT_NOGLOB_PATHSPECS",
        "GIT_NO_REPLACE_OBJECTS",
        "GIT_OBJECT_DIRECTORY",
        "GIT_PREFIX",
        "GIT_QUARANTINE_PATH",
        "GIT_REPLACE_REF_BASE",
        "GIT_SHALLOW_FILE",
        "GIT_WORK_TREE",
    }
)
REPOSITORY_VARIABLE_PREFIXES = ("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_")

# On every call of ours, over any config (as `-c` would, in the environment so that git's
# command lines stay as written): the user's hooks (and an fsmonitor command) are for the
# user's own git commands, and would run unsupervised under ours (an agent can set
# core.hooksPath); our commits are never signed (a missing key or a passphrase prompt would
# fail or hang an unattended run: see docs/commands.md); no auto-gc left running after us.
OUR_CONFIG = {
    "core.hooksPath": "/dev/null",
    "core.fsmonitor": "false",
    "commit.gpgSign": "false",
    "maintenance.auto": "false",
}
_OUR_CONFIG_ENV = {
    "GIT_CONFIG_COUNT": str(len(OUR_CONFIG)),
    **{f"GIT_CONFIG_KEY_{i}": key for i, key in enumerate(OUR_CONFIG)},
    **{f"GIT_CONFIG_VALUE_{i}": value for i, value in enumerate(OUR_CONFIG.values())},
}

TIMEOUT_S = 120.0  # refs, objects, config: milliseconds, unless something is stuck
LONG_TIMEOUT_S = 1800.0  # whatever reads or writes a whole worktree, index or history
_QUICK = frozenset(
    {
        "--version",
        "cat-file",
        "commit-tree",
        "config",
        "for-each-ref",
        "merge-base",
        "rev-parse",
        "show-ref",
        "symbolic-ref",
        "update-ref",
        "var",
        "write-tree",
    }
)
STOP_GRACE_S = 1.0  # per signal: git removes its lock files on SIGINT and SIGTERM


def git_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without the variables that point git elsewhere, our config, then env."""
    return {**_inherited(), **_OUR_CONFIG_ENV, **(env or {})}


_inherited_cache: tuple[dict[bytes, bytes], dict[str, str]] | None = None


def _inherited() -> dict[str, str]:
    """without_repository_variables(os.environ), made again only when os.environ changed.
    Reading os.environ decodes every variable in Python: about half of a git call's cost in
    our own process (issue 19); comparing its raw bytes with the last ones read is one C
    call. (`_data` is CPython's; elsewhere it is read every time.)"""
    global _inherited_cache
    raw: dict[bytes, bytes] | None = getattr(os.environ, "_data", None)
    cached = _inherited_cache
    if raw is not None and cached is not None and cached[0] == raw:
        return cached[1]
    clean = without_repository_variables(os.environ)
    if raw is not None:
        _inherited_cache = (dict(raw), clean)
    return clean


def without_repository_variables(env: Mapping[str, str]) -> dict[str, str]:
    """env without the variables that point git elsewhere (for the agents' git, too)."""
    return {
        k: v
        for k, v in env.items()
        if k not in REPOSITORY_VARIABLES and not k.startswith(REPOSITORY_VARIABLE_PREFIXES)
    }


def _run_git(
    args: Sequence[str],
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    check: bool = True,
    timeout_s: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one git command; a failure becomes GitError carrying git's stderr.

    Inherited repository variables are removed, hooks are off, and the call is bounded in
    time (timeout_s, else by the kind of command): a stuck git is stopped, tree and all."""
    limit = timeout_s if timeout_s is not None else _default_timeout(args)
    argv = ["git", *args]
    errors = _stderr_file()
    try:
        child = subprocess.Popen(
            argv,
            cwd=cwd,
            env=git_environment(env),
            stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors.emptied(),
            # paths are bytes to git: a name that is not UTF-8 survives as surrogates (and
            # goes back to git as the same bytes) instead of failing to decode
            encoding="utf-8",
            errors="surrogateescape",
        )
    except OSError as e:
        raise _not_started(args, cwd, e) from None
    # A watchdog rather than communicate(timeout=): given a timeout, Popen waits for git's exit
    # by polling with growing sleeps, which cost about a millisecond on every call.
    _watchdog.watch(child, limit)
    expired = False
    try:
        stdout, _ = child.communicate(input)
    except BaseException:  # Ctrl-C while waiting: git is not left running unsupervised
        _stop(child)
        raise
    finally:
        expired = _watchdog.release(child)
    if expired:
        raise GitError(
            f"`{command_text(args)}` timed out after {limit:g} s in {cwd} and was stopped: "
            "something keeps git waiting there (a clean or smudge filter, a lock, a slow or "
            "network disk)"
        )
    done = subprocess.CompletedProcess(argv, child.returncode, stdout, errors.text())
    if check and done.returncode != 0:
        raise GitError(failure_text(args, cwd, done))
    return done


_threads = threading.local()


class _StderrFile:
    """A thread's file for git's stderr, reused by each of its calls: a descriptor of an
    unlinked temporary file, closed when the thread's locals go.

    A file rather than a second pipe: with one pipe, communicate() reads stdout to its end
    instead of polling two pipes (about 0.1 ms of our CPU a call, issue 19)."""

    def __init__(self) -> None:
        fd, name = tempfile.mkstemp(prefix="genesis-par-git-")
        os.unlink(name)
        self.fd = fd

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)

    def emptied(self) -> int:
        """The descriptor, its file emptied (the offset is git's too: it writes from 0)."""
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        return self.fd

    def text(self) -> str:
        """What git wrote there."""
        data = b""
        while chunk := os.pread(self.fd, 1 << 16, len(data)):
            data += chunk
        return data.decode("utf-8", "surrogateescape")


def _stderr_file() -> _StderrFile:
    errors: _StderrFile | None = getattr(_threads, "stderr", None)
    if errors is None:
        errors = _threads.stderr = _StderrFile()
    return errors


def _forget_stderr_files() -> None:
    """In a forked child: the parent's files share their offsets with it; make new ones."""
    global _threads
    _threads = threading.local()


os.register_at_fork(after_in_child=_forget_stderr_files)


def _default_timeout(args: Sequence[str]) -> float:
    return TIMEOUT_S if _subcommand(args) in _QUICK else LONG_TIMEOUT_S


def _subcommand(args: Sequence[str]) -> str:
    i = _past_global_options(args)
    return args[i] if i < len(args) else ""


def _past_global_options(args: Sequence[str]) -> int:
    """Where the git command starts in args, past global options (-c k=v, --git-dir=...)."""
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "--version":
        i += 2 if args[i] in ("-c", "-C") else 1
    return i


def command_text(args: Sequence[str], most: int = 6) -> str:
    """`git <command> <first arguments>` on one line, global options left out."""
    i = _past_global_options(args)
    shown = [" ".join(a.split())[:60] for a in args[i : i + most]]
    return " ".join(["git", *shown, *(["..."] if len(args) - i > most else [])])


_LOCK_EXISTS = re.compile(r"Unable to create '([^']+\.lock)': File exists")


def failure_text(args: Sequence[str], cwd: Path, done: subprocess.CompletedProcess[str]) -> str:
    """One line saying which git command failed where, and why (git's own words)."""
    text = (done.stderr or done.stdout or "").strip()
    command = command_text(args)
    lock = _LOCK_EXISTS.search(text)
    if lock:
        return (
            f"`{command}` failed in {cwd}: {lock[1]} exists: another git process works there, "
            f"or one was stopped mid-way; remove {lock[1]} only if no git process runs there"
        )
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return f"`{command}` exited with code {done.returncode} in {cwd} without saying why"
    said = next((line for line in lines if line.startswith(("fatal:", "error:"))), lines[-1])
    return f"`{command}` failed in {cwd} (exit code {done.returncode}): {said}"


def _not_started(args: Sequence[str], cwd: Path, e: OSError) -> GenesisError:
    if e.filename is None or str(e.filename) != str(cwd):  # git itself could not be started
        return EnvironmentProblem("git is not installed or not on PATH: install git 2.38 or newer")
    if not cwd.exists():
        return EnvironmentProblem(
            f"{cwd} does not exist, so `{command_text(args)}` cannot run there: if it was a "
            "git worktree, `git worktree prune` makes git forget it"
        )
    # a folder an agent replaced or made unreadable (chmod 000)
    return GitError(f"`{command_text(args)}` cannot run in {cwd}: {e.strerror}")


def _stop(child: subprocess.Popen[str]) -> None:
    """Stop git and whatever it started (a filter, a hook), then reap it."""
    _stop_tree(child)
    child.communicate()


class _Watchdog:
    """One thread that stops every git call past its limit: a timer thread per call cost
    more than the rest of our side of a quick call (about 0.16 ms of CPU, issue 19).

    A call past its limit is marked expired and its tree stopped, so that the call reads the
    end of git's output, reaps it and reports the timeout. The thread is woken only for a
    call due before it wakes anyway (at least once a minute): the usual limits are minutes,
    and waking it for each of a run's calls cost a switch of the GIL each."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Watch nothing, with no thread yet (also in a forked child, where the parent's
        thread is not)."""
        self._changed = threading.Condition()
        self._calls: dict[subprocess.Popen[str], float] = {}  # child -> its deadline
        self._expired: set[subprocess.Popen[str]] = set()
        self._wakes_at = 0.0
        self._thread: threading.Thread | None = None

    def watch(self, child: subprocess.Popen[str], limit_s: float) -> None:
        """Watch child for limit_s seconds."""
        deadline = time.monotonic() + limit_s
        with self._changed:
            self._calls[child] = deadline
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="git-watchdog", daemon=True)
                self._thread.start()
            elif deadline < self._wakes_at:
                self._changed.notify()

    def release(self, child: subprocess.Popen[str]) -> bool:
        """Stop watching child; whether it ran past its limit."""
        with self._changed:
            self._calls.pop(child, None)
            expired = child in self._expired
            self._expired.discard(child)
            return expired

    def _run(self) -> None:
        while True:
            with self._changed:
                now = time.monotonic()
                due = [child for child, deadline in self._calls.items() if deadline <= now]
                for child in due:
                    del self._calls[child]
                    self._expired.add(child)
                if not due:
                    self._wakes_at = min([*self._calls.values(), now + _IDLE_WAKE_S])
                    self._changed.wait(self._wakes_at - now)
                    continue
            for child in due:  # a stop takes seconds: the other calls stay watched
                threading.Thread(target=_stop_tree, args=(child,), daemon=True).start()


_IDLE_WAKE_S = 60.0  # below TIMEOUT_S: a call with the usual limits never wakes the thread
_watchdog = _Watchdog()
os.register_at_fork(after_in_child=_watchdog.reset)


def _stop_tree(child: subprocess.Popen[str]) -> None:
    import psutil  # imported late for start-up speed, like proc.py: most calls never stop git

    with contextlib.suppress(psutil.Error):
        proc.stop_tree(psutil.Process(child.pid), STOP_GRACE_S)
    child.kill()


def _out(args: Sequence[str], cwd: Path, **kw: object) -> str:
    return _run_git(args, cwd, **kw).stdout.strip()  # type: ignore[arg-type]


def config_stamp(git_dir: Path) -> tuple[int, int, int] | None:
    """The repository's config file's inode, modification time and size (None without one):
    what a cache of what git says of the repository is kept by, asked again when it changes
    (or when the repository is made again at the same path)."""
    try:
        st = (git_dir / "config").stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


_configs: dict[Path, tuple[tuple[int, int, int], dict[str, str]]] = {}


def repo_config(common_dir: Path) -> dict[str, str] | None:
    """Every config value git reads for the repository (its own file, the user's, the
    system's) by key, lower-cased as git lists them, the last one of a key kept as `git config
    --get` says it (a bare key, which is true, as ""): one `git config --list` for each state
    of the repository's config file. None without a config file git reads: the callers then
    leave the work to git."""
    stamp = config_stamp(common_dir)
    if stamp is None:
        return None
    known = _configs.get(common_dir)
    if known is not None and known[0] == stamp:
        return known[1]
    args = [f"--git-dir={common_dir}", "config", "--list", "-z"]
    listed = _run_git(args, common_dir, check=False)
    if listed.returncode != 0:  # a config git cannot read: git says so where it is used
        return None
    values = {}
    for entry in listed.stdout.split("\0"):
        key, _, value = entry.partition("\n")
        if key:
            values[key] = value
    _configs[common_dir] = (stamp, values)
    return values


FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "genesis-par",
    "GIT_AUTHOR_EMAIL": "genesis-par@localhost",
    "GIT_COMMITTER_NAME": "genesis-par",
    "GIT_COMMITTER_EMAIL": "genesis-par@localhost",
}


def identity_env(repo: Path) -> dict[str, str]:
    """Environment that lets git commit: empty when the user has an identity configured."""
    done = _run_git(["var", "GIT_COMMITTER_IDENT"], repo, check=False)
    return {} if done.returncode == 0 else dict(FALLBACK_IDENTITY)
