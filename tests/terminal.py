"""Run genesis-par in a real terminal (a pty) of a given width and read what it drew."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
import threading
from collections.abc import Callable
from pathlib import Path

from tests.conftest import genesis_env


def run_in_terminal(
    argv: list[str],
    cwd: Path,
    columns: int,
    while_running: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> tuple[int, str]:
    """argv's exit code and what it printed to a terminal this many columns wide;
    while_running gets the process to act on (signal it) while its output is read."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in genesis_env().items() if k not in ("COLUMNS", "LINES")}
    chunks: list[bytes] = []
    with subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal
    ) as child:
        os.close(terminal)
        reader = threading.Thread(target=_read_all, args=(controller, chunks))
        reader.start()
        try:
            if while_running is not None:
                while_running(child)
            code = child.wait(timeout=120)
        finally:
            if child.poll() is None:
                child.kill()
            reader.join(timeout=30)
    os.close(controller)
    return code, b"".join(chunks).decode(errors="replace")


def _read_all(controller: int, chunks: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the child closed its side of the terminal
            return
        if not chunk:
            return
        chunks.append(chunk)
