"""`genesis-par validate` on a generated 2,000-task plan, beside `python -c pass`."""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

from bench.common import GENESIS, best_of, sh


def generate(path: Path, n: int = 2000, seed: int = 1, chain: bool = False) -> None:
    """n tasks, each depending on up to three earlier ones (or, for a chain, on the one before)."""
    rng = random.Random(seed)
    lines = ["version = 1", "[run]", 'name = "big"', "[defaults]", 'timeout = "10m"']
    for i in range(n):
        deps = sorted({f"t{rng.randrange(i)}" for _ in range(rng.randrange(4))} if i else set())
        if chain:
            deps = [f"t{i - 1}"] if i else []
        lines += [
            "[[tasks]]",
            f'id = "t{i}"',
            f'command = "echo {i}"',
            f"depends_on = {deps!r}".replace("'", '"'),
            f"cost = {rng.randrange(1, 5)}",
        ]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        plan, chain = Path(tmp) / "big.toml", Path(tmp) / "chain.toml"
        generate(plan)
        generate(chain, chain=True)
        baseline = best_of(5, lambda: sh([sys.executable, "-c", "pass"]))
        version = best_of(5, lambda: sh([*GENESIS, "--version"]))
        validate = best_of(3, lambda: sh([*GENESIS, "validate", str(plan)]))
        in_chain = best_of(3, lambda: sh([*GENESIS, "validate", str(chain)]))
    print(f"python -c pass             {baseline * 1000:7.1f} ms")
    print(f"genesis-par --version      {version * 1000:7.1f} ms  ({version / baseline:.1f}x)")
    print(f"genesis-par validate 2000  {validate * 1000:7.1f} ms  ({validate / baseline:.1f}x)")
    print(f"  the same, one long chain  {in_chain * 1000:7.1f} ms  ({in_chain / baseline:.1f}x)")


if __name__ == "__main__":
    main()
