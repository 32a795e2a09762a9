"""The batched merge queue (land/batch.py) on real repositories with real check commands."""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from genesis_par import gitops
from genesis_par.land.checks import BatchSettings
from genesis_par.land.merge_queue import land
from genesis_par.land.queue import Candidate, QueueResult, QueueSpec
from genesis_par.plan.model import Command, MergeMethod, Task
from genesis_par.worktrees.allocate import merge_worktree
from tests.conftest import branch, git

# The check: fails when a file named in BAD is in the checked tree, or when every file of a
# pair in PAIR is; FLAKY fails the first run of each tip. Every run appends to runs.txt.
CHECK = """
import os, pathlib, sys
here = pathlib.Path.cwd()
spec = pathlib.Path(sys.argv[1])
runs = spec / "runs.txt"
with runs.open("a") as f:
    f.write(os.environ["GENESIS_TASK"] + "\\n")
bad = [l for l in (spec / "bad").read_text().split() if l] if (spec / "bad").exists() else []
pair = (spec / "pair").read_text().split() if (spec / "pair").exists() else []
if (spec / "flaky").exists():
    files = "-".join(sorted(p.name for p in here.iterdir() if p.name.endswith(".txt")))
    seen = spec / ("seen-" + files)
    if not seen.exists():
        seen.write_text("")
        print("flaky failure"); sys.exit(1)
if any((here / name).exists() for name in bad):
    print("a bad file is here"); sys.exit(1)
if pair and all((here / name).exists() for name in pair):
    print("these two fail together"); sys.exit(1)
print("ok")
"""


def make_tasks(repo: Path, n: int) -> list[Candidate]:
    """n clean branches, each adding its own file t<i>.txt."""
    out = []
    for i in range(n):
        commit = branch(repo, f"t{i}", {f"t{i}.txt": f"{i}\n"})
        out.append(
            Candidate(Task(f"t{i}", Command(("true",)), index=i), f"t{i}", commit, frozenset())
        )
    return out


def spec_for(repo: Path, tmp: Path, target: str, settings: BatchSettings) -> QueueSpec:
    paths = gitops.discover(repo)
    base = git(repo, "rev-parse", "main")
    checks = tmp / "checks"
    checks.mkdir(exist_ok=True)
    (checks / "check.py").write_text(CHECK)
    return QueueSpec(
        repo=paths,
        run=target,
        into_ref=f"refs/heads/{target}",
        start=base,
        check=Command((sys.executable, str(checks / "check.py"), str(checks))),
        check_worktree=merge_worktree(paths, target, base),
        log_dir=tmp / "logs" / target,
        git_env=gitops.identity_env(repo),
        env=dict(os.environ),
        batching=settings,
    )


def check_runs(tmp: Path) -> int:
    runs = tmp / "checks" / "runs.txt"
    return len(runs.read_text().split()) if runs.exists() else 0


def queue(
    repo: Path, tmp: Path, cands: Sequence[Candidate], target: str, settings: BatchSettings
) -> tuple[QueueResult, int]:
    """Land cands on target; the result and how many check runs it took."""
    before = check_runs(tmp)
    result = land(spec_for(repo, tmp, target, settings), cands)
    return result, check_runs(tmp) - before


def set_check(tmp: Path, bad: Sequence[str] = (), pair: Sequence[str] = ()) -> None:
    folder = tmp / "checks"
    folder.mkdir(exist_ok=True)
    (folder / "bad").write_text(" ".join(bad))
    (folder / "pair").write_text(" ".join(pair))


def tree(repo: Path, ref: str) -> str:
    return git(repo, "rev-parse", f"{ref}^{{tree}}")


ONE_BY_ONE = BatchSettings(1, 1, 0)
AUTO = BatchSettings(None, 1, 0)
AUTO_2 = BatchSettings(None, 2, 0)


def test_all_passing_is_one_check_and_the_one_by_one_queues_tree(
    repo: Path, tmp_path: Path
) -> None:
    cands = make_tasks(repo, 8)
    set_check(tmp_path)
    one, one_checks = queue(repo, tmp_path, cands, "seq", ONE_BY_ONE)
    batched, checks = queue(repo, tmp_path, cands, "batched", AUTO)
    assert one_checks == 8 and checks == 1
    assert batched.merged == one.merged == [c.task.id for c in cands]
    assert tree(repo, "batched") == tree(repo, "seq")
    # each task still its own merge commit, in queue order, published with one swap
    subjects = git(repo, "log", "--first-parent", "--format=%s", "batched").splitlines()
    assert subjects[:8] == [f"Merge t{i} (t{i})" for i in reversed(range(8))]
    assert len(batched.steps) == 1
    (record,) = batched.batches
    assert list(record.members) == batched.merged and record.outcome == "published"
    assert record.check_runs == 1


@pytest.mark.parametrize(
    "settings", [AUTO, AUTO_2, BatchSettings(3, 1, 0), BatchSettings(3, 2, 0)], ids=str
)
@pytest.mark.parametrize(
    "culprits", [["t5.txt"], ["t2.txt", "t6.txt"], ["t0.txt", "t7.txt", "t3.txt"]], ids=len
)
def test_culprits_are_found_and_never_published(
    repo: Path, tmp_path: Path, settings: BatchSettings, culprits: list[str]
) -> None:
    cands = make_tasks(repo, 8)
    set_check(tmp_path, bad=culprits)
    one, _ = queue(repo, tmp_path, cands, "seq", ONE_BY_ONE)
    batched, checks = queue(repo, tmp_path, cands, "batched", settings)
    guilty = sorted(c.removesuffix(".txt") for c in culprits)
    assert batched.merged == one.merged
    assert sorted(u.task for u in batched.unmerged) == guilty
    assert tree(repo, "batched") == tree(repo, "seq")
    for name in culprits:  # in no commit the target ever held
        assert git(repo, "log", "--format=%H", "batched", "--", name) == ""
    for u in batched.unmerged:
        assert u.reason == "merge check failed"
        assert u.log is not None
        # the check of it alone on the tip: the newest merge of the checked commit, every
        # other member of that check landed under it
        header, *_ = u.log.read_text().splitlines()
        members = header.split(": ")[2].split(" on top of")[0].split(", ")
        assert members[-1] == u.task and set(members[:-1]) <= set(u.on_top_of)
        assert "a bad file is here" in u.log.read_text()
    if len(culprits) == 1 and settings == AUTO:
        assert checks <= 2 * math.log2(8) + 2


def test_a_pair_that_fails_together_convicts_the_second_on_top_of_the_first(
    repo: Path, tmp_path: Path
) -> None:
    cands = make_tasks(repo, 8)
    set_check(tmp_path, pair=["t1.txt", "t5.txt"])
    one, _ = queue(repo, tmp_path, cands, "seq", ONE_BY_ONE)
    batched, _ = queue(repo, tmp_path, cands, "batched", AUTO_2)
    assert [u.task for u in batched.unmerged] == [u.task for u in one.unmerged] == ["t5"]
    (u,) = batched.unmerged
    assert "t1" in u.on_top_of and u.as_json()["on_top_of"] == list(u.on_top_of)
    assert "t1" in batched.merged
    assert tree(repo, "batched") == tree(repo, "seq")


def test_a_flaky_check_with_retries_convicts_nothing_and_every_run_is_logged(
    repo: Path, tmp_path: Path
) -> None:
    cands = make_tasks(repo, 4)
    set_check(tmp_path)
    (tmp_path / "checks" / "flaky").write_text("")
    result, checks = queue(repo, tmp_path, cands, "retried", BatchSettings(None, 1, 1))
    assert result.unmerged == [] and len(result.merged) == 4
    assert checks == 2
    logs = sorted((tmp_path / "logs" / "retried" / "merge-checks").glob("*.log"))
    assert [("flaky failure" in p.read_text()) for p in logs] == [True, False]
    # without the retry, the same flakiness convicts
    for seen in (tmp_path / "checks").glob("seen-*"):
        seen.unlink()
    bare, _ = queue(repo, tmp_path, cands, "bare", BatchSettings(None, 1, 0))
    assert bare.unmerged


def test_a_commit_to_the_target_mid_batch_is_kept_and_the_batch_rebuilt_on_it(
    repo: Path, tmp_path: Path
) -> None:
    cands = make_tasks(repo, 4)
    set_check(tmp_path)
    spec = spec_for(repo, tmp_path, "moving", AUTO)
    gitops.update_ref(repo, "refs/heads/moving", spec.start, None)
    # the user commits to the target while the first batch is checked
    user = tmp_path / "checks" / "user.py"
    user.write_text(f"""
import pathlib, subprocess, sys
flag = pathlib.Path({str(tmp_path / "moved")!r})
if not flag.exists():
    flag.write_text("")
    r = {str(repo)!r}
    tip = subprocess.run(['git', 'rev-parse', 'moving'], cwd=r, capture_output=True, text=True, check=True).stdout.strip()
    tree = subprocess.run(['git', 'rev-parse', tip + '^{{tree}}'], cwd=r, capture_output=True, text=True, check=True).stdout.strip()
    new = subprocess.run(['git', 'commit-tree', tree, '-p', tip, '-m', 'the user'], cwd=r, capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(['git', 'update-ref', 'refs/heads/moving', new, tip], cwd=r, check=True)
""")
    moving = dataclasses.replace(
        spec,
        check=Command(
            (
                "sh",
                "-c",
                f"{sys.executable} {user} && {sys.executable} {tmp_path}/checks/check.py {tmp_path}/checks",
            )
        ),
    )
    result = land(moving, cands)
    assert len(result.merged) == 4, result.unmerged
    log = git(repo, "log", "--first-parent", "--format=%s", "moving").splitlines()
    assert "the user" in log  # kept, under the batch rebuilt on it
    assert log.index("the user") == 4
    assert result.after == git(repo, "rev-parse", "moving")
    assert [b.check_runs for b in result.batches] == [2]  # checked again on the new tip


@pytest.mark.parametrize("method", [MergeMethod.SQUASH, MergeMethod.REBASE], ids=str)
def test_squash_and_rebase_batches_land_the_one_by_one_queues_tree(
    repo: Path, tmp_path: Path, method: MergeMethod
) -> None:
    cands = make_tasks(repo, 6)
    set_check(tmp_path, bad=["t2.txt"])
    results = {}
    for name, settings in (("seq", ONE_BY_ONE), ("batched", AUTO_2)):
        spec = dataclasses.replace(spec_for(repo, tmp_path, name, settings), method=method)
        results[name] = land(spec, cands)
    assert results["batched"].merged == results["seq"].merged
    assert [u.task for u in results["batched"].unmerged] == ["t2"]
    assert tree(repo, "batched") == tree(repo, "seq")
    assert git(repo, "rev-list", "--count", "--merges", "batched") == "0"


def test_a_dependent_of_a_culprit_and_a_conflict_stay_out_as_one_by_one(
    repo: Path, tmp_path: Path
) -> None:
    cands = make_tasks(repo, 3)  # t0 t1 t2
    a = branch(repo, "a", {"a.txt": "a\n", "same.txt": "a\n"})
    c = branch(repo, "c", {"c.txt": "c\n"}, start="a")
    other = branch(repo, "other", {"same.txt": "other\n"})
    cands += [
        Candidate(Task("a", Command(("true",)), index=3), "a", a, frozenset({"other"})),
        Candidate(Task("c", Command(("true",)), depends_on=("a",), index=4), "c", c, frozenset()),
        Candidate(Task("other", Command(("true",)), index=5), "other", other, frozenset({"a"})),
    ]
    set_check(tmp_path, bad=["a.txt"])
    one, _ = queue(repo, tmp_path, cands, "seq", ONE_BY_ONE)
    batched, _ = queue(repo, tmp_path, cands, "batched", AUTO)
    why = {u.task: u.reason for u in batched.unmerged}
    assert why == {u.task: u.reason for u in one.unmerged}
    assert why["a"] == "merge check failed" and why["c"] == "dependency a not merged"
    assert "other" in batched.merged  # a, which it conflicts with, never landed
    assert tree(repo, "batched") == tree(repo, "seq")


def test_a_conflicting_pair_is_never_in_one_batch(repo: Path, tmp_path: Path) -> None:
    x = branch(repo, "x", {"same.txt": "x\n"})
    y = branch(repo, "y", {"same.txt": "y\n"})
    cands = [
        *make_tasks(repo, 2),
        Candidate(Task("x", Command(("true",)), index=2), "x", x, frozenset({"y"})),
        Candidate(Task("y", Command(("true",)), index=3), "y", y, frozenset({"x"})),
    ]
    set_check(tmp_path)
    touched = lambda task: {"same.txt"} if task in ("x", "y") else set()  # noqa: E731
    result = land(spec_for(repo, tmp_path, "batched", AUTO), cands, touched)
    assert result.merged == ["t0", "t1", "x"] and check_runs(tmp_path) == 1
    (u,) = result.unmerged
    assert (u.task, u.reason, u.conflicts) == ("y", "conflicts", (("same.txt", "add/add", "x"),))


def test_a_queue_run_again_finds_its_work_there_and_checks_nothing(
    repo: Path, tmp_path: Path
) -> None:
    cands = make_tasks(repo, 4)
    set_check(tmp_path)
    first, _ = queue(repo, tmp_path, cands, "again", AUTO)
    tip = git(repo, "rev-parse", "again")
    second, checks = queue(repo, tmp_path, cands, "again", AUTO)
    assert second.merged == first.merged and checks == 0
    assert git(repo, "rev-parse", "again") == tip
