"""Git bundles: commits moved between machines as files (the Ray backend's transport).

A bundle holds refs and the objects they need beyond what the receiver has (`^exclude`), so
a worker far away gets a start commit without any network access to the user's repository,
and its new commits come home the same way. No port is opened: `git daemon` would serve the
whole repository to anyone who can reach it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from genesis_par.gitops.run import _run_git

OUTGOING = "refs/genesis/outgoing/"  # a start commit's name while it is bundled
INCOMING = "refs/genesis/incoming/"  # where a bundle's refs land before their compare-and-swap


def bundle_commit(repo: Path, commit: str, out: Path, exclude: Sequence[str] = ()) -> None:
    """Write a bundle of commit (and its history, less exclude's) to out.

    A bundle names refs, not bare commits: commit is named for the time of the call."""
    ref = f"{OUTGOING}{commit}"
    _run_git(["update-ref", ref, commit], repo)
    try:
        _run_git(["bundle", "create", "--quiet", str(out), ref, *(f"^{e}" for e in exclude)], repo)
    finally:
        _run_git(["update-ref", "-d", ref], repo, check=False)


def bundle_refs(repo: Path, refs: Sequence[str], out: Path, exclude: Sequence[str]) -> bool:
    """Write a bundle of refs less exclude's history to out; False (no file) when they add
    no commit to exclude."""
    if not refs:
        return False
    args = ["rev-list", "--count", *refs, "--not", *exclude]
    if _run_git(args, repo).stdout.strip() == "0":
        return False
    _run_git(["bundle", "create", "--quiet", str(out), *refs, *(f"^{e}" for e in exclude)], repo)
    return True


def bundle_heads(bundle: Path, cwd: Path) -> dict[str, str]:
    """The refs a bundle holds and their commits."""
    text = _run_git(["bundle", "list-heads", str(bundle)], cwd).stdout
    heads = {}
    for line in text.splitlines():
        sha, _, ref = line.partition(" ")
        heads[ref] = sha
    return heads


def fetch_bundle(repo: Path, bundle: Path, refspecs: Sequence[str]) -> None:
    """Fetch refs from a bundle into repo (refspecs `src:dst`, forced)."""
    # --no-write-fetch-head: the user's FETCH_HEAD is not ours to change
    args = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", str(bundle)]
    _run_git([*args, *(f"+{spec}" for spec in refspecs)], repo)


def fetch_into_incoming(repo: Path, bundle: Path, refs: Mapping[str, str]) -> dict[str, str]:
    """Fetch the bundle's refs under INCOMING, read their commits, drop the incoming refs;
    {ref: commit} for the caller's compare-and-swap of its own refs."""
    if not refs:
        return {}
    fetch_bundle(repo, bundle, [f"{ref}:{INCOMING}{ref}" for ref in refs])
    for ref, sha in refs.items():
        _run_git(["update-ref", "-d", f"{INCOMING}{ref}", sha], repo)
    return dict(refs)


def init_cache(path: Path) -> None:
    """A node-local repository that keeps what bundles brought (no checkout of its own)."""
    path.mkdir(parents=True, exist_ok=True)
    # --template= : no sample hooks (nothing to run)
    _run_git(["init", "--quiet", "--template=", str(path)], path)
