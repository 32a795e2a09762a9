"""Scripted agents (codemods) for bench/resolution.py: each re-applies its intent to the code
as it finds it, so a rerun on a new tip redoes the same change there.

`python -m bench.resolution_agents ACTION` in a task's worktree (or `resolve` for the resolver).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def _module_with(text: str) -> Path:
    """The module of calc/ that holds text (a renamed module is found where it is now)."""
    for path in sorted(Path("calc").glob("*.py")):
        if text in path.read_text():
            return path
    sys.exit(f"no module of calc/ holds {text!r}: nothing to redo")


def _test(name: str, body: str) -> None:
    Path(f"tests/test_{name}.py").write_text(
        f"import unittest\n\n\nclass T(unittest.TestCase):\n{body}"
    )


def scale_offset() -> None:
    ops = Path("calc/ops.py")
    ops.write_text(re.sub(r"return (.*)  # scale", r"return (\1) + 1  # scale", ops.read_text()))
    _test(
        "scale_offset",
        "    def test(self):\n        from calc.ops import scale\n        self.assertEqual(scale(0), 1)\n",
    )


def scale_triple() -> None:
    ops = Path("calc/ops.py")
    ops.write_text(ops.read_text().replace("x * 2", "x * 3"))
    _test(
        "scale_triple",
        "    def test(self):\n        from calc.ops import scale\n        self.assertEqual(scale(2) - scale(1), 3)\n",
    )


def register(name: str) -> None:
    reg = Path("calc/registry.py")
    reg.write_text(reg.read_text() + f'REGISTRY.append("{name}")\n')
    _test(
        name.replace("-", "_"),
        f'    def test(self):\n        from calc.registry import REGISTRY\n        self.assertIn("{name}", REGISTRY)\n',
    )


def rename_util() -> None:
    subprocess.run(["git", "mv", "calc/util.py", "calc/helpers.py"], check=True)
    for path in [*Path("calc").glob("*.py"), *Path("tests").glob("*.py")]:
        path.write_text(path.read_text().replace("calc.util", "calc.helpers"))
    helpers = Path("calc/helpers.py")
    helpers.write_text(
        helpers.read_text().replace(
            "def clamp(x, lo, hi):", "def clamp(x: int, lo: int, hi: int) -> int:"
        )
    )


def clamp_defaults() -> None:
    module = _module_with("def clamp(")
    text = re.sub(r"\b(lo(?:: int)?)([,)])", r"\1 = 0\2", module.read_text(), count=1)
    text = re.sub(r"\b(hi(?:: int)?)([,)])", r"\1 = 10\2", text, count=1)
    module.write_text(text)
    name = f"calc.{module.stem}"
    _test(
        "clamp_defaults",
        f"    def test(self):\n        from {name} import clamp\n        self.assertEqual(clamp(50), 10)\n",
    )


def drop_legacy() -> None:
    Path("calc/legacy.py").unlink()
    Path("tests/test_legacy.py").unlink()


def fix_legacy() -> None:
    legacy = Path("calc/legacy.py")
    if not legacy.exists():
        sys.exit("calc/legacy.py is gone: nothing to fix")
    legacy.write_text(legacy.read_text().replace("x + 0", "x"))


def resolve() -> None:
    """A resolver: keep both sides of each hunk; a file one side deleted stays deleted."""
    listed = subprocess.run(["git", "ls-files", "-u", "-z"], capture_output=True, text=True).stdout
    stages: dict[str, set[str]] = {}
    for entry in filter(None, listed.split("\0")):
        info, path = entry.split("\t", 1)
        stages.setdefault(path, set()).add(info.split()[2])
    for path, found in stages.items():
        if found != {"1", "2", "3"} and "1" in found:  # modify/delete: honour the deletion
            subprocess.run(["git", "rm", "-q", "--", path], check=True)
            continue
        lines = Path(path).read_text().splitlines(keepends=True)
        kept = [line for line in lines if not re.match(r"(<{7}|={7}|>{7}|\|{7})", line)]
        Path(path).write_text("".join(kept))
        subprocess.run(["git", "add", "--", path], check=True)


ACTIONS = {
    "scale-offset": scale_offset,
    "scale-triple": scale_triple,
    "rename-util": rename_util,
    "clamp-defaults": clamp_defaults,
    "drop-legacy": drop_legacy,
    "fix-legacy": fix_legacy,
    "resolve": resolve,
}

if __name__ == "__main__":
    action = sys.argv[1]
    if action.startswith("reg-"):
        register(action)
    else:
        ACTIONS[action]()
