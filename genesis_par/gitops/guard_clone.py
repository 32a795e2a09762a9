"""The fence's part for a task clone (`isolation = "clone"`): after each process, the clone's
git dir made genesis-par's again, and the user's refs that moved to commits made in the clone
(a `git push` to the repository's path: git runs receive-pack there without the agent's
environment, so no hook of ours sees it) put back. See docs/isolation.md.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from genesis_par.gitops.clone import made_in, reclaim
from genesis_par.gitops.located import CloneBroken, clone_git_dir
from genesis_par.gitops.refs import RepoPaths, is_null
from genesis_par.gitops.run import _run_git


def restore(
    repo: RepoPaths, path: Path, branch_ref: str, start: str | None, kept: Path
) -> list[str]:
    """Make the clone's git dir genesis-par's again: its config and alternates rewritten; if
    its agent removed or replaced it (or made it another repository's), what is there moved
    to kept and a new one made, on the task's branch at start, the files left as they are.
    Notes for the log; empty when the git dir itself was still the one genesis-par made."""
    if not path.is_dir() or path.is_symlink():  # the folder itself gone: nothing to remake
        raise CloneBroken(path, f"{path} was removed or replaced")
    try:
        clone_git_dir(path)
    except CloneBroken as e:
        if start is None:
            raise
        return [_remake(repo, path, branch_ref, start, kept, e.detail)]
    reclaim(path, repo.common_dir, repo.root)
    return []


def _remake(
    repo: RepoPaths, path: Path, branch_ref: str, start: str, kept: Path, detail: str
) -> str:
    dot_git = path / ".git"
    moved = ""
    if dot_git.exists() or dot_git.is_symlink():
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(dot_git, kept)
        moved = f", what it made moved to {kept}"
    branch = branch_ref.removeprefix("refs/heads/")
    args = ["init", "--quiet", "--template=", f"--initial-branch={branch}", str(path)]
    _run_git(args, path)
    reclaim(path, repo.common_dir, repo.root)
    # the index and branch at start, the files untouched: what the agent left stays to be saved
    where = [f"--git-dir={dot_git}", f"--work-tree={path}"]
    _run_git([*where, "reset", "--quiet", start], path)
    return f"its agent removed or replaced {dot_git} ({detail}): made again{moved}"


def pushed(
    repo: RepoPaths,
    path: Path,
    before: Mapping[str, str],
    after: Mapping[str, str],
    space: str,
) -> tuple[list[str], set[str]]:
    """The user's refs moved to commits made in the clone: put back by compare-and-swap, the
    clone's version kept under <space>escaped/. (what it touched, the refs handled)."""
    moved = {ref: new for ref, new in after.items() if before.get(ref) != new and not is_null(new)}
    mine = made_in(path, moved.values())
    ours = {ref: new for ref, new in sorted(moved.items()) if new in mine}
    if not ours:
        return [], set()
    kept = "".join(f"update {space}escaped/{ref} {new}\n" for ref, new in ours.items())
    _run_git(["update-ref", "--stdin"], repo.root, input=kept, check=False)
    touched = []
    for ref, new in ours.items():
        old = before.get(ref)
        back = ["update-ref", ref, old, new] if old else ["update-ref", "-d", ref, new]
        done = _run_git(back, repo.root, check=False).returncode == 0
        how = "put back" if done else "it moved again since: left as it is"
        touched.append(f"moved {ref} to {new[:12]}, a commit made in its clone ({how})")
    return touched, set(ours)
