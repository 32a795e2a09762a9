"""N trivial tasks through `genesis-par run` beside a shell script doing the same by hand.

The script: `git worktree add` per task, the command, `git add -A && git commit`, all under
`xargs -P <max_parallel>`. genesis-par also records state, supervises each process tree and,
unless --no-merge, probes conflicts and merges; both figures are printed.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from bench.common import GENESIS, best_of, init_repo, sh

SCRIPT = """\
set -e
task="$1"
flock .git/byhand.lock git worktree add -q -b "byhand/$task" ".byhand/$task" main  # unlocked, it races
cd ".byhand/$task"
echo "$task" > "out-$task.txt"
git add -A && git commit -q -m "$task"
"""


def plan_text(n: int, parallel: int) -> str:
    tasks = "".join(
        f'[[tasks]]\nid = "t{i}"\ncommand = "echo t{i} > out-t{i}.txt"\n' for i in range(n)
    )
    return f'version = 1\n[run]\nname = "bench"\nmax_parallel = {parallel}\n{tasks}'


def fresh(tmp: Path, files: dict[str, str]) -> Path:
    repo = tmp / "repo"
    if repo.exists():
        shutil.rmtree(repo)
    return init_repo(repo, files)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    files = {f"src/f{i}.txt": f"file {i}\n" for i in range(args.files)}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        plan = tmp / "plan.toml"
        plan.write_text(plan_text(args.tasks, args.parallel))
        script = tmp / "task.sh"
        script.write_text(SCRIPT)
        ids = "\n".join(f"t{i}" for i in range(args.tasks)) + "\n"

        def by_hand() -> None:
            repo = fresh(tmp, files)
            sh(
                ["xargs", "-P", str(args.parallel), "-n", "1", "sh", str(script)],
                cwd=repo,
                input=ids,
            )

        def tool(*extra: str) -> None:
            repo = fresh(tmp, files)
            sh([*GENESIS, "run", str(plan), *extra], cwd=repo)

        # Interleaved, best of five each: this machine's disk speed drifts between minutes.
        times: dict[str, list[float]] = {"hand": [], "no_merge": [], "whole": []}
        for _ in range(5):
            times["hand"].append(best_of(1, by_hand))
            times["no_merge"].append(best_of(1, lambda: tool("--no-merge")))
            times["whole"].append(best_of(1, tool))
        hand, no_merge, whole = (min(times[k]) for k in ("hand", "no_merge", "whole"))
    print(f"{args.tasks} trivial tasks, max_parallel {args.parallel}, {args.files}-file repository")
    print(f"by hand (worktree add + command + commit, xargs -P)  {hand:6.2f} s")
    print(
        f"genesis-par run --no-merge (tasks + conflict probe)  {no_merge:6.2f} s  ratio {no_merge / hand:.2f}"
    )
    print(
        f"genesis-par run (tasks + conflicts + merge queue)    {whole:6.2f} s  ratio {whole / hand:.2f}"
    )


if __name__ == "__main__":
    main()
