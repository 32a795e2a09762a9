"""gitops loads a submodule when one of its names is first used (issue 19: start-up)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import genesis_env


def _fresh(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=genesis_env()
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_name_loads_its_submodule_and_no_more() -> None:
    loaded = _fresh(
        "import sys\n"
        "from genesis_par import gitops\n"
        "assert not [m for m in sys.modules if m.startswith('genesis_par.gitops.')]\n"
        "gitops.discover\n"
        "print(sorted(m for m in sys.modules if m.startswith('genesis_par.gitops.')))\n"
    )
    assert "genesis_par.gitops.refs" in loaded
    assert "guard" not in loaded and "worktree" not in loaded and "clone" not in loaded


def test_every_public_name_is_its_submodule_s_object_whatever_the_order() -> None:
    """`guard` is both a submodule and the function it exports: the package names the function,
    even when another of the submodule's names is used first."""
    _fresh(
        "import importlib, inspect\n"
        "from genesis_par import gitops\n"
        "assert gitops.Fence.__module__ == 'genesis_par.gitops.guard'\n"
        "assert inspect.isfunction(gitops.guard), gitops.guard\n"
        "for name in gitops.__all__:\n"
        "    value = getattr(gitops, name)\n"
        "    home = getattr(value, '__module__', None)\n"
        "    if home and home.startswith('genesis_par.gitops.'):\n"
        "        assert getattr(importlib.import_module(home), name) is value, name\n"
        "try:\n"
        "    gitops.no_such_name\n"
        "except AttributeError as e:\n"
        "    assert 'no_such_name' in str(e)\n"
        "else:\n"
        "    raise AssertionError('no AttributeError')\n"
        "from genesis_par.gitops import bundle\n"
        "assert bundle.__name__ == 'genesis_par.gitops.bundle'\n"
    )


def test_importing_the_guard_submodule_keeps_the_guard_function() -> None:
    """The import system names a submodule on its package: for gitops/guard.py that would
    hide the function `gitops.guard` (worker threads call it while another imports it)."""
    _fresh(
        "import inspect\n"
        "import genesis_par.gitops.guard\n"
        "from genesis_par import gitops\n"
        "assert inspect.isfunction(gitops.guard), gitops.guard\n"
        "from genesis_par.gitops import guard\n"
        "assert guard is gitops.guard\n"
    )
