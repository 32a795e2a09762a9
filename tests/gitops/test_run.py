"""gitops.run: what git says on stderr reaches its caller whole: call after call, thread after
thread, and beside a forked child."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from genesis_par.gitops.run import _run_git, _stderr_file


def test_each_call_gets_only_its_own_stderr(repo: Path) -> None:
    """Calls in one thread share a file for stderr: a long message then a short one must not
    leave the end of the first behind the second."""
    long = _run_git(["log", "x" * 2000], repo, check=False)
    assert long.returncode != 0 and len(long.stderr) > 2000
    short = _run_git(["rev-parse", "--verify", "nope"], repo, check=False)
    assert short.returncode != 0
    assert short.stderr == "fatal: Needed a single revision\n"
    assert _run_git(["rev-parse", "HEAD"], repo).stderr == ""


def test_threads_keep_their_stderr_apart(repo: Path) -> None:
    said: dict[str, list[str]] = {}

    def ask(name: str) -> None:
        said[name] = [
            _run_git(["log", name], repo, check=False).stderr.splitlines()[0] for _ in range(20)
        ]

    names = [f"missing-{i}" for i in range(4)]
    threads = [threading.Thread(target=ask, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for name in names:
        assert (
            said[name]
            == [
                f"fatal: ambiguous argument '{name}': unknown revision or path not in the working tree."
            ]
            * 20
        )


def test_a_forked_child_does_not_write_into_the_parents_stderr(repo: Path) -> None:
    """A forked child's calls go to a file of its own: the parent's, shared with it (offset
    and all), would be emptied and written over under a call of the parent's."""
    _run_git(["log", "in-parent"], repo, check=False)
    pid = os.fork()
    if pid == 0:
        _run_git(["log", "in-child"], repo, check=False)
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    assert "'in-parent'" in _stderr_file().text()
