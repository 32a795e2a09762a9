"""The one door to processes: start agents, watch their whole tree, stop it in three steps.

Each attempt runs below a small shim (`shim.py`), a child subreaper, so every descendant of the
agent, even one that called setsid() or double-forked, stays below it, where the supervisor
finds it with one tree walk; and the shim kills the whole tree if genesis-par dies, even by
SIGKILL: no agent runs unsupervised. The shim is a process of its own; this module is the
one that starts, watches and stops processes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

from genesis_par import cgroups as cgroups_mod
from genesis_par import proc_tree, warden_link
from genesis_par.model import Failure
from genesis_par.shim import CGROUP_VARIABLE
from genesis_par.watch import MEMORY_GRACE_S, SAMPLE_S, Sample, Watch, next_every, sample
from genesis_par.watch import Limits as Limits  # proc.Limits, as every caller names it

if TYPE_CHECKING:
    import psutil

FORCED_STOP_S = 10.0  # freeze and kill: then the pids still alive are reported, not waited on

_hurry = threading.Event()  # a second Ctrl-C: skip the grace

# The shim is found by path, so the agent's environment (PYTHONPATH included) stays its own.
_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)
_SHIM_BOOT = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from genesis_par.shim import main; raise SystemExit(main(sys.argv[1:]))"
)


class Outcome(NamedTuple):
    exit_code: int | None  # None when we stopped it
    failure: Failure | None  # None | EXIT | TIMEOUT | MEMORY | CPU | BUDGET | CANCELLED
    peak_rss_bytes: int
    duration_s: float
    left_running: tuple[int, ...] = ()  # pids of the attempt that could not be stopped


class Started(NamedTuple):
    pid: int
    create_time: float  # with the pid, names the process even after the pid is reused


def hurry() -> None:
    """Make every stop in progress skip its grace (a second Ctrl-C)."""
    _hurry.set()


_PROC = os.path.exists("/proc/self/stat")  # Linux: read there, without importing psutil


def identity(pid: int | None = None) -> Started:
    """A process's pid and create time (this process by default), as psutil counts it."""
    pid = os.getpid() if pid is None else pid
    if not _PROC:
        import psutil

        return Started(pid, psutil.Process(pid).create_time())
    found = proc_tree._read(pid)
    if found is None:
        raise ProcessLookupError(errno.ESRCH, f"no process {pid}")
    return Started(pid, proc_tree.started_at(found.start))


def alive(pid: int, create_time: float) -> bool:
    """True when that very process (not a reuse of its pid) still runs."""
    if _PROC:
        found = proc_tree._read(pid)
        return (
            found is not None
            and found.state not in "ZX"
            and proc_tree.started_at(found.start) == create_time
        )
    import psutil

    try:
        proc = psutil.Process(pid)
        return proc.create_time() == create_time and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def available_memory() -> int:
    """Memory the machine can still give, in bytes."""
    import psutil

    return int(psutil.virtual_memory().available)


def total_memory() -> int:
    """The machine's memory, in bytes."""
    import psutil

    return int(psutil.virtual_memory().total)


def version_of(program: str, timeout_s: float = 5.0) -> str | None:
    """The first line `program --version` prints, or None if it fails or hangs."""
    try:
        done = subprocess.run(
            [program, "--version"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if done.returncode == 0 and lines else None


def pid_running(pid: int) -> bool:
    """Whether some process (not a zombie) has this pid."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def delete_in_background(path: Path) -> None:
    """Delete a directory tree in a detached process, so that the caller need not wait."""
    # The shell exits at once; rm, orphaned, is nobody's child to wait for (no zombie).
    subprocess.run(
        ["/bin/sh", "-c", 'rm -rf -- "$1" &', "sh", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        check=False,
    )


def stop_tree(root: psutil.Process, grace_s: float = 5.0) -> list[int]:
    """stop_pid of a process."""
    return stop_pid(root.pid, grace_s)


def stop_pid(root: int, grace_s: float = 5.0, cgroup: Path | None = None) -> list[int]:
    """SIGINT, then SIGTERM, each to the whole tree with a grace; then freeze and kill what is
    left until nothing is; the pids that could not be stopped (none, unless it says so).

    A listing is old the moment it is read: an agent that forks and exits faster than it is
    killed outruns any stop that signals a list once (issue 13). Frozen first, it cannot.
    cgroup: the attempt's own cgroup (v2), frozen and killed by the kernel at once, every
    member, before the SIGSTOP sweeps look for anything left (none, unless it moved out)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        tree = proc_tree.live(proc_tree.members(root))
        if not tree:
            return []
        for pid, p in tree.items():
            proc_tree.send(pid, p.start, sig)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and proc_tree.live(proc_tree.members(root)):
            if _hurry.is_set():
                break  # a second Ctrl-C, even one pressed during this wait, skips the grace
            time.sleep(0.02)
    if cgroup is not None:
        cgroups_mod.kill(cgroup, FORCED_STOP_S)
    return proc_tree.stop_forcibly(root, FORCED_STOP_S)


def stop_recorded(pid: int, create_time: float, grace_s: float = 5.0) -> bool:
    """Stop a recorded tree if that very process still runs; True if it was running."""
    import psutil

    if not alive(pid, create_time):
        return False
    stop_tree(psutil.Process(pid), grace_s)
    return True


def exit_file_for(log_path: Path, role: str = "agent") -> Path:
    """Where the shim writes a process's exit code the moment it exits (read by resume).

    Each process logged to one log (setup, agent, check) has its own exit file: one of them
    must never be read as another's (a setup's exit 0 as an agent's that never ran)."""
    return log_path.with_suffix(".exit" if role == "agent" else f".{role}.exit")


def recorded_exit(exit_file: Path) -> int | None:
    """The exit code the shim wrote in exit_file, if the process got as far as exiting."""
    return _recorded(exit_file)[0]


def _recorded(exit_file: Path) -> tuple[int | None, int]:
    """(exit code, peak resident bytes) from the shim's exit file; (None, 0) if none."""
    try:
        code, peak = exit_file.read_text().split()
        return int(code), int(peak)
    except (OSError, ValueError):
        return None, 0


class _Child(Protocol):
    """An attempt's shim: a Popen, or a fork of the run's warden."""

    pid: int
    returncode: int | None

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


prestart = warden_link.start_ahead  # the local backend's door to it


def _spawn(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    shell: bool,
    exit_path: Path,
    cgroup: Path | None = None,
) -> _Child:
    command = ["/bin/sh", "-c", argv[0]] if shell else list(argv)
    if cgroup is not None:  # the shim joins it, and takes the variable out of the agent's env
        env = {**env, CGROUP_VARIABLE: str(cgroup)}
    exit_path.unlink(missing_ok=True)  # an earlier run of this process is not this one
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.open("ab").close()  # a log that cannot be written fails here, in genesis-par
    if warden_link.usable():
        try:  # a fork of the run's warden: no Python to start for this attempt
            return warden_link.link().start(command, cwd, env, log_path, exit_path)
        except warden_link.Gone:
            pass  # the warden cannot be had: a shim of its own, as below
    # -I -S: the shim's own Python ignores PYTHON* variables and site-packages (it needs
    # neither, and starts faster); the agent still gets the environment as it is
    shim = [sys.executable, "-I", "-S", "-c", _SHIM_BOOT, _PACKAGE_PARENT, str(os.getpid())]
    shim += [str(exit_path), "--"]
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [*shim, *command],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    limits: Limits,
    cancel: threading.Event,
    shell: bool = False,
    on_start: Callable[[Started], None] = lambda s: None,
    on_sample: Callable[[int, float], Failure | None] = lambda rss, cpu_s: None,
    exit_file: Path | None = None,
    cgroups: Path | bool | None = True,
) -> Outcome:
    """Run one attempt to its end under limits; blocking; safe from many threads at once.
    exit_file: where its exit code is recorded (default: the agent's, beside log_path).
    on_sample gets the tree's resident bytes and cpu seconds at each sample; a failure it
    returns (BUDGET) stops the tree like a broken limit.
    cgroups: where to make the attempt's cgroup (True: genesis-par's own, if it may; None or
    False: none, the SIGSTOP sweeps alone stop it)."""
    cgroup = cgroups_mod.new(cgroups_mod.parent() if cgroups is True else cgroups or None)
    try:
        return _run(
            argv,
            cwd,
            env,
            log_path,
            limits,
            cancel,
            shell,
            on_start,
            on_sample,
            exit_file or exit_file_for(log_path),
            cgroup,
        )
    finally:
        cgroups_mod.remove(cgroup)


def _run(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    limits: Limits,
    cancel: threading.Event,
    shell: bool,
    on_start: Callable[[Started], None],
    on_sample: Callable[[int, float], Failure | None],
    exit_file: Path,
    cgroup: Path | None,
) -> Outcome:
    began = time.monotonic()
    try:
        child = _spawn(argv, cwd, env, log_path, shell, exit_file, cgroup)
    except OSError as e:  # E2BIG (arguments or environment too long), a bad working directory
        with log_path.open("a") as log:
            log.write(f"genesis-par: cannot start {argv[0]!r}: {e.strerror}\n")
        return Outcome(126, Failure.EXIT, 0, 0.0)
    on_start(Started(child.pid, _create_time(child)))
    watch = Watch(limits, began)
    failure: Failure | None = None
    stuck: list[int] = []
    every, due, last = SAMPLE_S, 0.0, Sample(0, 0.0, ())
    while not _exited(child, SAMPLE_S):
        now = time.monotonic()
        if cancel.is_set():
            failure = Failure.CANCELLED
        elif now < due:  # backed off: the tree was idle
            failure = watch.overdue(now)
        else:
            seen = sample(child.pid)
            failure = on_sample(seen.rss, seen.cpu_s) or watch.broken(now, seen.rss, seen.cpu_s)
            every = next_every(every, seen.shape == last.shape, limits)
            due, last = now + every, seen
        if failure:
            # over its memory the tree may grow fast: a short grace before SIGKILL
            grace = (
                min(limits.grace_s, MEMORY_GRACE_S) if failure is Failure.MEMORY else limits.grace_s
            )
            stuck = stop_pid(child.pid, grace, cgroup)
            child.kill()  # a stop that gave up left the shim stopped: it must not hang us
            child.wait()
            break
    # the shim outlives its agent's tree, unless it was killed (an agent may `kill -9 $PPID`)
    code = child.returncode
    assert code is not None
    killed = code < 0 and not failure
    left = _stop_stragglers(child.pid, log_path, stuck, cgroup) if killed or stuck else ()
    duration = time.monotonic() - began
    peak = max(watch.peak, _recorded(exit_file)[1])
    if failure:
        return Outcome(None, failure, peak, duration, left)
    return Outcome(code, None if code == 0 else Failure.EXIT, peak, duration, left)


def _create_time(child: _Child) -> float:
    """The shim's create time as psutil counts it. A fork of the warden running a quick agent
    may be reaped (its pid free for another process) before we look: the warden read its start."""
    ticks: int | None = getattr(child, "start_ticks", None)
    if ticks is None:  # a Popen: not reaped before we wait for it
        return identity(child.pid).create_time
    return proc_tree.started_at(ticks)


def _stop_stragglers(
    shim_pid: int, log_path: Path, stuck: list[int], cgroup: Path | None
) -> tuple[int, ...]:
    """After the shim was killed or a stop gave up: stop what still runs in the attempt's
    cgroup (whatever session it made) and in the shim's session (its orphans went to pid 1,
    but kept the session), and say so in the log.

    stuck: pids a stop already gave up on, reported with those left here."""
    in_session = proc_tree.live(proc_tree.members(shim_pid, session_only=True))
    escaped = set(in_session) | (cgroups_mod.members(cgroup) if cgroup else set())
    if cgroup is not None and escaped:
        cgroups_mod.kill(cgroup, FORCED_STOP_S)
    left = set(stuck)
    if in_session:
        # The attempt's process group (the shim led it) holds live members, so its id is not
        # reused: one kill of the whole group is atomic against fork, which sweeps are not.
        with contextlib.suppress(OSError):
            os.killpg(shim_pid, signal.SIGKILL)
        left |= set(proc_tree.stop_forcibly(shim_pid, FORCED_STOP_S, session_only=True))
    if not escaped and not left:
        return ()
    with log_path.open("a") as log:
        if escaped and not left:
            log.write(
                f"genesis-par: {len(escaped)} processes of this attempt outlived its "
                f"supervisor (pids {_pids(escaped)}); they were stopped\n"
            )
        if left:
            log.write(
                f"genesis-par: could not stop {len(left)} processes of this attempt: pids "
                f"{_pids(left)} still run; stop them with `kill -9 {_pids(left)}`\n"
            )
    return tuple(sorted(left))


def _pids(pids: Iterable[int]) -> str:
    return " ".join(map(str, sorted(pids)))


def _exited(child: _Child, wait_s: float) -> bool:
    try:
        child.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        return False
    return True
