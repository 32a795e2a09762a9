"""The warden: one supervisor process per run that starts every attempt (issue 19).

A shim per attempt costs a Python start each time. The warden is that Python process started
once: `proc` asks it, over a pipe, to start an attempt; it forks, and the fork becomes the
attempt's shim (`shim.supervise`: a subreaper that runs the agent, writes its exit code, stops
what it left), with no interpreter to start. The warden reaps the forks, reports their exits,
and is a subreaper itself, so whatever escapes a killed fork still stays below it.

It dies with genesis-par: the pipe's end closes when genesis-par's process dies, however it
dies, and the kernel also sends SIGUSR1 (PR_SET_PDEATHSIG, checked against the parent pid, as
it also fires when the thread that started the warden ends). Then it tells every attempt's
fork (SIGUSR1, as the kernel tells a shim), each of which lets a finishing agent finish and
stops its tree; whatever is left below the warden after that is frozen and killed.

Protocol: requests are frames (4-byte length, then `marshal` of (id, argv, cwd, env, log,
exit file)); answers are lines: `R` ready, `S <id> <pid> <start ticks>` started, `E <id>
<reason>` could not fork, `X <pid> <exit code>` an attempt's fork exited (negative: killed by
that signal).
"""

from __future__ import annotations

import marshal
import os
import select
import signal
import sys
import time

from genesis_par import proc_tree, shim

SHUTDOWN_S = shim.FINISHING_GRACE_S + 10.0  # attempts' own stop, before the warden's own sweep
_HEADER = 4


def main(argv: list[str]) -> int:
    """Serve start requests on stdin until genesis-par (pid argv[0]) dies, then stop it all."""
    parent = int(argv[0])
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)  # SIGCHLD and SIGUSR1 wake the select below
    signal.signal(signal.SIGCHLD, _noted)
    signal.signal(signal.SIGUSR1, _noted)
    shim._prctl(shim.PR_SET_CHILD_SUBREAPER, 1)
    shim._prctl(shim.PR_SET_PDEATHSIG, signal.SIGUSR1)
    attempts: dict[int, int] = {}  # the forks running an attempt: pid -> start time
    if os.getppid() == parent:
        _say("R")
        _serve(parent, attempts, (wake_r, wake_w))
    _shut_down(attempts)
    return 0


def _noted(signum: int, frame: object) -> None:
    """The wakeup fd carries the signal; the handler only has to exist."""


def _serve(parent: int, attempts: dict[int, int], wake: tuple[int, int]) -> None:
    pending = b""
    while os.getppid() == parent:
        ready = select.select([0, wake[0]], [], [], 1.0)[0]
        if wake[0] in ready:
            os.read(wake[0], 4096)
        _reap(attempts)
        if 0 not in ready:
            continue
        chunk = os.read(0, 1 << 16)
        if not chunk:
            return  # genesis-par's end of the pipe closed: it died or is done
        pending += chunk
        while len(pending) >= _HEADER:
            size = int.from_bytes(pending[:_HEADER], "big")
            if len(pending) < _HEADER + size:
                break
            request = marshal.loads(pending[_HEADER : _HEADER + size])
            pending = pending[_HEADER + size :]
            _start(request, attempts, wake)


def _say(line: str) -> None:
    try:  # noqa: SIM105 (contextlib is not imported: the warden starts with few modules)
        os.write(1, line.encode() + b"\n")
    except OSError:  # genesis-par is gone (EPIPE): the shutdown goes on without it
        pass


def _reap(attempts: dict[int, int]) -> None:
    """Reap every exited child: an attempt's fork is reported, an adopted orphan just reaped."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if attempts.pop(pid, None) is not None:
            _say(f"X {pid} {os.waitstatus_to_exitcode(status)}")


def _start(request: tuple[object, ...], attempts: dict[int, int], wake: tuple[int, int]) -> None:
    ident, env = request[0], request[3]
    me = os.getpid()
    cgroup = env.get(shim.CGROUP_VARIABLE) if isinstance(env, dict) else None
    try:
        pid = shim.fork_into(cgroup) if cgroup else None
        born_in = pid is not None
        if pid is None:
            pid = os.fork()
    except OSError as e:
        _say(f"E {ident} {e.strerror}")
        return
    if pid == 0:
        code = 255
        try:
            code = _attempt(me, request, wake, born_in)
        finally:
            os._exit(code)
    found = proc_tree._read(pid)  # read before it can be reaped: its start names it for good
    attempts[pid] = found.start if found else 0
    _say(f"S {ident} {pid} {attempts[pid]}")


def _attempt(warden: int, request: tuple[object, ...], wake: tuple[int, int], born_in: bool) -> int:
    """In the fork: become the attempt's shim, in a session of its own, logging to its log.
    born_in: the fork was born in the attempt's cgroup."""
    _, argv, cwd, env, log, exit_file = request
    assert isinstance(argv, list) and isinstance(env, dict)
    signal.set_wakeup_fd(-1)
    for fd in wake:
        os.close(fd)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    os.setsid()  # its own session and process group, as a shim started with start_new_session
    out = os.open(str(log), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    nothing = os.open(os.devnull, os.O_RDONLY)
    os.dup2(nothing, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    os.close(nothing)
    # posix_spawnp looks the program up on the PATH of this process's C environment: only
    # that is set (os.environ's clear and update took 0.5 ms of every attempt's start)
    if "PATH" in env:
        os.putenv("PATH", env["PATH"])
    else:
        os.unsetenv("PATH")
    try:
        os.chdir(str(cwd))
    except OSError as e:
        sys.stderr.write(f"genesis-par: cannot start {argv[0]!r}: {e.strerror}: {cwd}\n")
        return 126
    return shim.supervise(warden, str(exit_file), [str(a) for a in argv], env, born_in)


def _shut_down(attempts: dict[int, int]) -> None:
    """genesis-par is gone: each attempt stops its own tree (a finishing agent may finish
    first); then nothing below the warden outlives it."""
    for pid, start in attempts.items():
        proc_tree.send(pid, start, signal.SIGUSR1)
    deadline = time.monotonic() + SHUTDOWN_S
    while attempts and time.monotonic() < deadline:
        _reap(attempts)
        time.sleep(0.02)
    proc_tree.stop_forcibly(os.getpid())


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
