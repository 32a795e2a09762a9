"""The fence's view of the repository's refs, and the symbolic refs an agent made.

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

from pathlib import Path
from typing import NamedTuple

from genesis_par.gitops.ref_files import Refs, read_refs_and_links
from genesis_par.gitops.refs import RepoPaths
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
