"""Find and classify merge conflicts among branches, exactly as git's merge-ort sees them.

Classification is pure (git's `-z` output in, typed conflicts out). Probing runs every merge
that could conflict in one `git merge-tree --stdin` process, against a throwaway object
directory, so the repository is left byte-for-byte as it was.
"""

from __future__ import annotations

import enum
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from genesis_par import gitops
from genesis_par.errors import GitError, UsageError


class Kind(enum.Enum):
    """What kind of conflict git reported."""

    CONTENT = "content"
    ADD_ADD = "add/add"
    BINARY = "binary"
    SUBMODULE = "submodule"
    MODIFY_DELETE = "modify/delete"
    RENAME_DELETE = "rename/delete"
    RENAME_RENAME = "rename/rename"
    RENAME_COLLISION = "rename-collision"
    FILE_DIRECTORY = "file/directory"
    DISTINCT_TYPES = "distinct-types"
    DIR_RENAME_SUGGESTED = "dir-rename-suggested"
    DIR_RENAME_FILE_IN_WAY = "dir-rename-file-in-way"
    DIR_RENAME_COLLISION = "dir-rename-collision"
    DIR_RENAME_SPLIT = "dir-rename-split"
    OTHER = "other"


# git's conflict type strings (merge-ort.c, type_short_descriptions) -> kinds.
_KINDS = {
    "CONFLICT (contents)": Kind.CONTENT,
    "CONFLICT (binary)": Kind.BINARY,
    "CONFLICT (modify/delete)": Kind.MODIFY_DELETE,
    "CONFLICT (rename/delete)": Kind.RENAME_DELETE,
    "CONFLICT (rename/rename)": Kind.RENAME_RENAME,
    "CONFLICT (rename involved in collision)": Kind.RENAME_COLLISION,
    "CONFLICT (file/directory)": Kind.FILE_DIRECTORY,
    "CONFLICT (distinct modes)": Kind.DISTINCT_TYPES,
    "CONFLICT (directory rename suggested)": Kind.DIR_RENAME_SUGGESTED,
    "CONFLICT (file in way of directory rename)": Kind.DIR_RENAME_FILE_IN_WAY,
    "CONFLICT(directory rename collision)": Kind.DIR_RENAME_COLLISION,
    "CONFLICT(directory rename unclear split)": Kind.DIR_RENAME_SPLIT,
}


@dataclass(frozen=True, slots=True)
class Conflict:
    """One conflict message of git's."""

    path: str
    kind: Kind
    paths: tuple[str, ...] = ()
    message: str = ""
    git_type: str = ""

    def as_json(self) -> dict[str, object]:
        """The JSON form; `other` keeps git's own type string."""
        obj: dict[str, object] = {
            "path": self.path,
            "kind": self.kind.value,
            "paths": list(self.paths),
            "message": self.message,
        }
        if self.kind is Kind.OTHER:
            obj["git_type"] = self.git_type
        return obj


@dataclass(frozen=True, slots=True)
class MergeResult:
    """What git says of one merge."""

    clean: bool
    tree: str = ""
    conflicts: tuple[Conflict, ...] = ()
    conflicted: tuple[str, ...] = ()  # the paths git leaves conflicted (`--name-only`)

    @property
    def paths(self) -> list[str]:
        """Every path named by a conflict or left conflicted."""
        return sorted({p for c in self.conflicts for p in (c.path, *c.paths)} | {*self.conflicted})

    def kinds_by_path(self) -> dict[str, set[str]]:
        """Each conflicted path, with the kinds of the messages that name it.

        git's list of conflicted paths is the measure: a rename/rename leaves both new names
        conflicted, a file/symlink clash the `PATH~SIDE` one side moved to; each message's own
        path is there too (a directory rename conflict may leave nothing in the index)."""
        found: dict[str, set[str]] = {}
        for c in self.conflicts:
            found.setdefault(c.path, set()).add(c.kind.value)
        for path in self.conflicted:
            kinds = {c.kind.value for c in self.conflicts if path in (c.path, *c.paths)}
            found.setdefault(path, set()).update(kinds or {Kind.OTHER.value})
        return found


CLEAN = MergeResult(True)
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_MOVED_ASIDE = re.compile(r"~[0-9a-f]{7,64}$")


def classify(git_type: str, message: str) -> Kind | None:
    """The kind of a message, or None for an informational one (e.g. Auto-merging)."""
    if not git_type.startswith("CONFLICT"):
        return None
    if git_type == "CONFLICT (contents)" and message.startswith("CONFLICT (add/add)"):
        return Kind.ADD_ADD
    if git_type.startswith("CONFLICT (submodule") or message.startswith("CONFLICT (submodule"):
        return Kind.SUBMODULE
    return _KINDS.get(git_type, Kind.OTHER)


def parse_batch(raw: str, count: int) -> list[MergeResult]:
    """Split the output of `git merge-tree --write-tree -z --stdin` into count results."""
    tokens = raw.split("\0")
    results, i = [], 0
    for _ in range(count):
        status, tree = tokens[i], tokens[i + 1]
        i += 2
        conflicted: dict[str, None] = {}
        if status == "0":  # conflicted file info (`<mode> <object> <stage>\t<path>`), then ""
            while tokens[i]:
                conflicted[tokens[i].partition("\t")[2]] = None
                i += 1
            i += 1
        conflicts, i = _messages(tokens, i)
        found = tuple(_dedupe(conflicts))
        results.append(MergeResult(status == "1", tree, found, tuple(conflicted)))
    return results


def _messages(tokens: list[str], i: int) -> tuple[list[Conflict], int]:
    conflicts: list[Conflict] = []
    while tokens[i]:
        if not tokens[i].isdigit():
            # Free text (git's advice on submodule conflicts) comes last and takes the place of
            # the empty token that ends the messages; skip that token too if a git prints one.
            i += 1
            return conflicts, i + (i < len(tokens) and tokens[i] == "")
        n = int(tokens[i])
        paths = tuple(tokens[i + 1 : i + 1 + n])
        git_type, message = tokens[i + 1 + n], tokens[i + 2 + n].rstrip("\n")
        i += n + 3
        kind = classify(git_type, message)
        if kind is not None:
            conflicts.append(Conflict(_main_path(paths), kind, paths, message, git_type))
    return conflicts, i + 1


def _main_path(paths: tuple[str, ...]) -> str:
    """The path a person knows: not the `name~<commit>` git moved a side to."""
    return next((p for p in paths if not _MOVED_ASIDE.search(p)), paths[0])


def _dedupe(conflicts: list[Conflict]) -> list[Conflict]:
    """A binary file also gets a contents message: keep the more specific binary one."""
    binary = {c.path for c in conflicts if c.kind is Kind.BINARY}
    return [c for c in conflicts if not (c.kind is Kind.CONTENT and c.path in binary)]


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
    shown = target[:12] if _OBJECT_ID.fullmatch(target) else target
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


def relabel(result: MergeResult, labels: Mapping[str, str]) -> MergeResult:
    """Name each side as git would had it been given names, not commits: `path~branch` (a `/`
    in the name becomes `_`) and the names in messages."""
    if result.clean:
        return result

    def named(path: str) -> str:
        for commit, name in labels.items():
            if path.endswith("~" + commit):
                return path[: -len(commit)] + name.replace("/", "_")
        return path

    def told(message: str) -> str:
        for commit, name in labels.items():
            message = message.replace("~" + commit, "~" + name.replace("/", "_"))
            message = message.replace(commit, name)
        return message

    conflicts = tuple(
        replace(c, path=named(c.path), paths=tuple(map(named, c.paths)), message=told(c.message))
        for c in result.conflicts
    )
    return replace(result, conflicts=conflicts, conflicted=tuple(map(named, result.conflicted)))


def merge_one(
    repo: Path, ours: str, theirs: str, env: Mapping[str, str] | None = None
) -> MergeResult:
    """One merge; its tree goes into the repository (or env's scratch object dir)."""
    return parse_batch(gitops.merge_tree_batch(repo, [(ours, theirs)], env or {}), 1)[0]
