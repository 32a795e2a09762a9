"""Find and classify merge conflicts among branches, exactly as git's merge-ort sees them.

Classification is pure (merge_results.py). Probing runs every merge
that could conflict in one `git merge-tree --stdin` process, against a throwaway object
directory, so the repository is left byte-for-byte as it was.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from genesis_par import gitops
from genesis_par.errors import GitError, UsageError
from genesis_par.land.merge_results import (
    CLEAN,
    OBJECT_ID,
    Conflict,
    Kind,
    MergeResult,
    classify,
    parse_batch,
    relabel,
)

__all__ = ["CLEAN", "Conflict", "Kind", "MergeResult", "classify", "parse_batch", "relabel"]


# --- which pairs can be skipped without changing the answer ---


def _may_skip(a: gitops.BranchDiff, b: gitops.BranchDiff) -> bool:
    """True only when the merge of a and b is certainly clean.

    Both sides must share their merge base with the target and no commit past it (so that base
    is their own merge base); neither may empty a directory by deleting or renaming (checked by
    the caller: that is what makes git detect a directory rename and move the other side's
    files); and no path may be touched by both sides or be a directory of a path on the other
    side (file/directory). Each change, renames included, then touches paths only one side did.
    """
    if a.merge_base is None or a.merge_base != b.merge_base or a.commits & b.commits:
        return False
    if any(s == "C" for s, _ in (*a.changes, *b.changes)):
        return False
    paths_a = {p for _, ps in a.changes for p in ps}
    paths_b = {p for _, ps in b.changes for p in ps}
    if paths_a & paths_b:
        return False
    dirs_a = {d for p in paths_a for d in _parents(p)}
    dirs_b = {d for p in paths_b for d in _parents(p)}
    return not (dirs_a & paths_b or dirs_b & paths_a)


def _emptied_dirs(
    repo: Path,
    diffs: Mapping[str, gitops.BranchDiff],
    commits: Mapping[str, str],
    env: Mapping[str, str],
) -> set[str]:
    """Branches that delete or rename away the last file of some directory (one git process)."""
    queries: list[tuple[str, str]] = []
    for name, diff in diffs.items():
        removed = {ps[0] for status, ps in diff.changes if status in "DR"}
        queries += [(name, d) for d in {p.rpartition("/")[0] for p in removed} if d]
    exists = gitops.trees_exist(repo, [f"{commits[name]}:{d}" for name, d in queries], env)
    return {name for (name, _), found in zip(queries, exists, strict=True) if not found}


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


# --- the report ---


@dataclass
class BranchReport:
    name: str
    commit: str
    uncommitted: bool  # commit is then the one the worktree's files are based on (its HEAD)
    against_target: MergeResult = CLEAN
    probed: str = ""  # the commit merged when not commit: a snapshot of uncommitted files
    broken: str | None = None  # why it cannot be merged at all (gone, an unrelated history)

    @property
    def tip(self) -> str:
        """The commit the probe merges."""
        return self.probed or self.commit


@dataclass
class Report:
    target: str
    target_commit: str
    branches: list[BranchReport]
    pairs: dict[tuple[str, str], MergeResult] = field(default_factory=dict)
    skipped: int = 0  # pairs proven clean without running a merge
    touched: dict[str, set[str]] = field(default_factory=dict)  # branch -> paths it changed

    @property
    def clean(self) -> bool:
        """No conflict anywhere, and no branch that cannot be merged at all."""
        return all(b.against_target.clean and not b.broken for b in self.branches) and all(
            r.clean for r in self.pairs.values()
        )

    @property
    def broken(self) -> dict[str, str]:
        """Branch -> why it cannot be merged at all."""
        return {b.name: b.broken for b in self.branches if b.broken}

    def conflicting(self, name: str) -> set[str]:
        """The branches that name conflicts with."""
        return {
            b if a == name else a
            for (a, b), r in self.pairs.items()
            if not r.clean and name in (a, b)
        }

    def files(self) -> list[tuple[str, list[str], list[str]]]:
        """(path, branches, kinds) for every conflicted path, by path."""
        by_path: dict[str, tuple[set[str], set[str]]] = {}
        pairs = [((a, b), r) for (a, b), r in self.pairs.items()]
        pairs += [((b.name, self.target), b.against_target) for b in self.branches]
        for names, result in pairs:
            for path, found in result.kinds_by_path().items():
                branches, kinds = by_path.setdefault(path, (set(), set()))
                branches.update(names)
                kinds.update(found)
        return [(p, sorted(bs), sorted(ks)) for p, (bs, ks) in sorted(by_path.items())]


def check(
    repo: Path,
    branches: Sequence[str],
    target: str,
    worktrees: Mapping[str, Path] | None = None,
    known: Mapping[str, str | None] | None = None,
) -> Report:
    """Every pair of branches and every branch against target, as merge-ort says.

    A branch listed in worktrees is probed with its worktree's current files when they hold
    uncommitted work (marked uncommitted). known: the commit the tool last recorded for each
    of a run's branches (None: none yet); such a branch that is gone is reported broken, where
    a branch the user names that does not exist is refused. A branch whose history shares no
    commit with target is reported broken too: one agent's doing never stops the others."""
    if len(set(branches)) != len(branches):
        raise UsageError("a branch is named twice: name each branch once")
    commits = gitops.resolve_many(repo, [target, *branches])
    if commits[target] is None:
        raise UsageError(f'target "{target}" does not name a commit: check --into')
    for name in branches:
        if commits[name] is None and name not in (known or {}):
            raise UsageError(
                f'branch "{name}" does not name a commit: check the name '
                "(`git branch --list` shows them)"
            )
    with gitops.scratch_objects(repo) as env:
        reports = [
            _branch(name, commit, (worktrees or {}).get(name), env)
            if (commit := commits[name])
            else _gone(name, (known or {}).get(name))
            for name in branches
        ]
        return _probe(repo, target, commits[target] or "", reports, env)


def _branch(name: str, commit: str, worktree: Path | None, env: Mapping[str, str]) -> BranchReport:
    # a task clone's files and commits are its own until they come home: the branch as is
    if worktree is None or not worktree.exists() or gitops.is_clone(worktree):
        return BranchReport(name, commit, False)
    try:
        if gitops.has_uncommitted(worktree):
            snapshot, head = gitops.worktree_snapshot(worktree, env)
            return BranchReport(name, head, True, probed=snapshot)
    except gitops.WorktreeBroken:  # its .git was removed or replaced: the branch as committed
        pass
    return BranchReport(name, commit, False)


def _gone(name: str, last: str | None) -> BranchReport:
    why = f"its branch {name} is gone (deleted by someone else, an agent perhaps)"
    if last:
        why += f"; its work is commit {last[:12]}: `git branch {name} {last[:12]}` restores it"
    return BranchReport(name, last or "", False, broken=why)


def _unrelated(name: str, target: str) -> str:
    shown = target[:12] if OBJECT_ID.fullmatch(target) else target
    return (
        f"its history shares no commit with {shown}: git cannot merge an unrelated history; "
        f"look at it with `git log {name}`"
    )


def _probe(
    repo: Path,
    target: str,
    target_commit: str,
    branches: list[BranchReport],
    env: Mapping[str, str],
) -> Report:
    report = Report(target, target_commit, branches)
    healthy = [b for b in branches if not b.broken]
    try:
        found = gitops.branch_diffs(repo, target_commit, [b.tip for b in healthy], env)
    except GitError:  # some history git cannot walk: name those, probe the rest
        bad = gitops.unreadable(repo, target_commit, [b.tip for b in healthy], env)
        if not bad:
            raise
        for b in healthy:
            if b.tip in bad:
                b.broken = f"its history cannot be read ({bad[b.tip]}): git cannot merge it"
        healthy = [b for b in healthy if not b.broken]
        found = gitops.branch_diffs(repo, target_commit, [b.tip for b in healthy], env)
    for b, diff in zip(healthy, found, strict=True):
        if not diff.related:
            b.broken = _unrelated(b.name, target)
    diffs = {b.name: d for b, d in zip(healthy, found, strict=True) if d.related}
    branches = [b for b in healthy if not b.broken]
    report.touched = {n: {p for _, ps in d.changes for p in ps} for n, d in diffs.items()}
    unsafe = _emptied_dirs(repo, diffs, {b.name: b.tip for b in branches}, env)
    merges: list[tuple[str, str]] = []
    keys: list[tuple[str, str] | str] = []
    for b in branches:
        # the target is where the branch forked (or the branch is in the target already): git
        # takes the branch's side of every path, a merge that cannot conflict (most of a run's
        # branches, until the queue moves the target)
        if diffs[b.name].merge_base in (target_commit, b.tip):
            continue
        merges.append((target_commit, b.tip))
        keys.append(b.name)
    for a, b in itertools.combinations(branches, 2):
        safe = a.name not in unsafe and b.name not in unsafe
        if safe and _may_skip(diffs[a.name], diffs[b.name]):
            report.pairs[(a.name, b.name)] = CLEAN
            report.skipped += 1
            continue
        merges.append((a.tip, b.tip))
        keys.append((a.name, b.name))
    results = parse_batch(gitops.merge_tree_batch(repo, merges, env), len(merges))
    by_name = {b.name: b for b in branches}
    for key, (ours, theirs), result in zip(keys, merges, results, strict=True):
        if isinstance(key, str):
            labels = {ours: target, theirs: key}
            by_name[key].against_target = relabel(result, labels)
        else:
            report.pairs[key] = relabel(result, {ours: key[0], theirs: key[1]})
    order = {b.name: i for i, b in enumerate(branches)}
    report.pairs = dict(
        sorted(report.pairs.items(), key=lambda kv: (order[kv[0][0]], order[kv[0][1]]))
    )
    return report


def merge_one(
    repo: Path, ours: str, theirs: str, env: Mapping[str, str] | None = None
) -> MergeResult:
    """One merge; its tree goes into the repository (or env's scratch object dir)."""
    return parse_batch(gitops.merge_tree_batch(repo, [(ours, theirs)], env or {}), 1)[0]
