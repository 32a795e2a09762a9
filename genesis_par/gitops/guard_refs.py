"""The fence's view of the repository's refs, and what it puts back there after a process:
the branches an agent made (set aside), what its git tried (kept under escaped/), its own
branch deleted or cut from its start, and the symbolic refs an agent made.

git 2.39 runs no reference-transaction hook for `git symbolic-ref`, so the fence's hook never
sees an agent turn a ref into a symbolic one. Left in place, such a link would send a later
write of genesis-par's (the commit of the task's work, a retry's reset) to whatever it names:
the task's branch made a link to the user's `main` would move `main`; the user's `main` made
a link to the task's branch would follow every commit recorded there. A link made or
retargeted while the process ran, where either end is a branch or one of genesis-par's own
refs, is put back: no user would make one into genesis-par's namespace in the middle of a
run, and one among the user's branches would turn a merge into `main` into a merge into
another branch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from genesis_par.gitops.guard_scope import Scope
from genesis_par.gitops.located import WorktreeBroken, locate
from genesis_par.gitops.ref_files import Refs, read_refs_and_links
from genesis_par.gitops.refs import MUST_NOT_EXIST, OWN_REFS, RepoPaths, head_ref, is_null
from genesis_par.gitops.run import _out, _run_git

WATCHED = ("refs/heads/", "refs/genesis/")  # links from or to these are put back


# Above this many refs git lists them: reading them here costs about 12 us of our CPU a ref,
# all of it under the GIL the run's other threads wait for, where a `for-each-ref` costs our
# process 0.3-1.8 ms whatever the count and runs on another core (1,600 refs: 19 ms here,
# 24 ms of git's own time beside 1.8 ms of ours).
MOST_READ_HERE = 300
_counts: dict[Path, int] = {}  # common dir -> how many refs its last snapshot held


def all_refs(repo: RepoPaths) -> Refs:
    """Every ref, its value and, for a symbolic one, its target: read from the files where
    ref_files can and the repository holds few refs, else from one git process."""
    found = None
    if _counts.get(repo.common_dir, 0) <= MOST_READ_HERE:
        found = read_refs_and_links(repo.common_dir)
    found = found or _asked(repo.root)
    _counts[repo.common_dir] = len(found.values)
    return found


def _asked(root: Path) -> Refs:
    text = _out(["for-each-ref", "--format=%(objectname) %(refname) %(symref)"], root)
    values: dict[str, str] = {}
    symbolic: dict[str, str] = {}
    for line in text.split("\n") if text else []:  # not splitlines: U+2028 may be in a name
        sha, _, rest = line.partition(" ")
        ref, _, target = rest.partition(" ")  # the output's last space is stripped
        values[ref] = sha
        if target:
            symbolic[ref] = target
    return Refs(values, symbolic)


class Relinked(NamedTuple):
    ref: str
    what: str  # what was done, for the task's log and its failure reason


def put_back_links(repo: Path, before: Refs, after: Refs) -> list[Relinked]:
    """Undo each watched link made or retargeted between before and after."""
    done = []
    for ref, target in sorted(after.symbolic.items()):
        old_target = before.symbolic.get(ref)
        if target == old_target or not _watched(ref, target):
            continue
        made = f"made {ref} a symbolic ref to {target}"
        if old_target is not None:
            args = ["symbolic-ref", ref, old_target]
            back = f"put back to {old_target}"
        elif ref in before.values:
            args = ["update-ref", "--no-deref", ref, before.values[ref]]
            back = f"put back at {before.values[ref][:12]}"
        else:
            args = ["update-ref", "--no-deref", "-d", ref]
            back = "removed"
        ok = _run_git(args, repo, check=False).returncode == 0
        done.append(Relinked(ref, f"{made} ({back if ok else 'could not be put back'})"))
    return done


def _watched(ref: str, target: str) -> bool:
    return ref.startswith(WATCHED) or target.startswith(WATCHED)


def users_refs(scope: Scope, refs: Mapping[str, str]) -> dict[str, str]:
    """The refs but genesis-par's own; the task's branch included."""
    return {
        ref: sha
        for ref, sha in refs.items()
        if ref == scope.branch_ref or not ref.startswith(OWN_REFS)
    }


def logged(scope: Scope, state: str, verdict: str) -> dict[str, str]:
    """ref -> the last value the agent's git gave it in this state and verdict (hook log)."""
    try:
        lines = (scope.folder / "refs.log").read_text().splitlines()
    except OSError:
        return {}
    found: dict[str, str] = {}
    for line in lines:
        parts = line.split(" ", 4)
        if len(parts) == 5 and parts[0] == state and parts[1] == verdict:
            found[parts[4]] = parts[3]
    return found


def set_aside(scope: Scope, made: Mapping[str, str], refs: Mapping[str, str]) -> list[str]:
    """Move the branches the agent made out of the user's namespace, to <space>branches/; a
    worktree left on a branch not its own is detached there (the branch stays free for the
    user to check out), until genesis-par commits its work on the task's branch."""
    with contextlib.suppress(WorktreeBroken):  # no link back: its HEAD is not ours to move
        where = locate(scope.worktree, common_dir=scope.repo.common_dir)
        on = head_ref(where)
        if on and on != scope.branch_ref and (on in made or on in refs):
            detach = ["update-ref", "--no-deref", "HEAD", refs[on]]
            _run_git([*where.args, *detach], where.work_tree, check=False)
    notes = []
    for ref, sha in made.items():
        name = ref.removeprefix("refs/heads/")
        kept = f"{scope.space}branches/{name}"
        _run_git(["update-ref", "--no-deref", kept, sha], scope.repo.root, check=False)
        _run_git(["update-ref", "--no-deref", "-d", ref, sha], scope.repo.root, check=False)
        notes.append(
            f"its agent made branch {name}: kept as {kept}, the user's branches as they were"
        )
    return notes


def keep_escaped(scope: Scope, values: Mapping[str, str]) -> None:
    """Keep what the agent tried to write under <space>escaped/<ref> (one git process)."""
    if not values:
        return
    lines = "".join(
        f"option no-deref\nupdate {scope.space}escaped/{ref} {new}\n" for ref, new in values.items()
    )
    _run_git(["update-ref", "--stdin"], scope.repo.root, input=lines, check=False)


def describe_refused(ref: str, new: str) -> str:
    verb = "delete" if is_null(new) else "move"
    return f"tried to {verb} {ref} (refused)"


def own_branch(scope: Scope, before: str | None, after: str | None) -> str | None:
    """Put the task's branch back if its agent deleted it or left its start commit behind."""
    if before is None or after == before:
        return None
    root, ref = scope.repo.root, scope.branch_ref
    if after is None:
        _run_git(["update-ref", "--no-deref", ref, before, MUST_NOT_EXIST], root, check=False)
        return f"deleted its branch {ref.removeprefix('refs/heads/')} (put back)"
    start = scope.start or before
    is_ancestor = _run_git(["merge-base", "--is-ancestor", start, after], root, check=False)
    if is_ancestor.returncode == 0:
        return None
    keep_escaped(scope, {ref: after})
    _run_git(["update-ref", "--no-deref", ref, before, after], root, check=False)
    return (
        f"moved its branch {ref.removeprefix('refs/heads/')} to history without its start "
        f"commit {start[:12]} (put back; its version is kept under {scope.space}escaped/)"
    )
