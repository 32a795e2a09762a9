"""add_worktree writes a new worktree's links itself where git would do no more (issue 19:
`git worktree add` looks at every other worktree first, a cost that grows with the run).
git must not be able to tell such a worktree from one it made, and where git would do more
(a sparse checkout to copy, per-worktree config) git makes it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from genesis_par import gitops, worktrees
from genesis_par.errors import GenesisError
from genesis_par.gitops import worktree as worktree_mod
from genesis_par.run import workspace
from tests.conftest import commit, git


def entries(repo: Path) -> list[dict[str, str]]:
    """`git worktree list --porcelain`, one dict per worktree."""
    found: list[dict[str, str]] = []
    for block in git(repo, "worktree", "list", "--porcelain").split("\n\n"):
        fields = dict(line.partition(" ")[::2] for line in block.splitlines())
        found.append(fields)
    return found


def test_git_cannot_tell_it_from_a_worktree_it_made(repo: Path) -> None:
    start = git(repo, "rev-parse", "HEAD")
    ours, theirs = repo / "wt" / "ours", repo / "wt" / "theirs"
    gitops.add_worktree(repo, repo / ".git", ours, "b-ours", start)
    git(repo, "worktree", "add", "-q", "-b", "b-theirs", str(theirs), start)
    listed = {Path(e["worktree"]).name: e for e in entries(repo)}
    assert listed["ours"]["branch"] == "refs/heads/b-ours"
    assert {k for k in listed["ours"]} == {k for k in listed["theirs"]}
    assert listed["ours"]["HEAD"] == listed["theirs"]["HEAD"] == start
    assert git(ours, "status", "--porcelain") == ""
    assert (ours / "README.md").read_text() == "hello\n"
    made, own = (
        Path(repo / ".git" / "worktrees" / "ours"),
        Path(repo / ".git" / "worktrees" / "theirs"),
    )
    assert sorted(p.name for p in made.iterdir()) == sorted(p.name for p in own.iterdir())
    for name in ("commondir", "HEAD"):
        assert (made / name).read_text().replace("b-ours", "X") == (own / name).read_text().replace(
            "b-theirs", "X"
        )
    assert "branch: Created by genesis-par" in git(repo, "reflog", "show", "b-ours")
    git(repo, "worktree", "prune")
    assert made.is_dir()  # a live worktree: kept
    assert "b-ours" in git(repo, "branch", "--list", "b-ours")
    with pytest.raises(
        subprocess.CalledProcessError
    ):  # git refuses to delete a branch checked out somewhere
        git(repo, "branch", "-D", "b-ours")
    commit(ours, {"new.txt": "n\n"})
    assert git(repo, "log", "-1", "--format=%s", "b-ours") == "change"
    git(repo, "worktree", "remove", str(ours))
    assert not ours.exists() and not made.exists()


def test_an_existing_branch_is_never_moved_and_nothing_is_left(repo: Path) -> None:
    start = git(repo, "rev-parse", "HEAD")
    later = commit(repo, {"f.txt": "later\n"})
    git(repo, "branch", "taken", later)
    path = repo / "wt" / "t"
    with pytest.raises(GenesisError):
        gitops.add_worktree(repo, repo / ".git", path, "taken", start)
    assert git(repo, "rev-parse", "taken") == later
    assert not (path / ".git").exists()
    assert not (repo / ".git" / "worktrees" / "t").exists()


def test_a_name_taken_by_another_worktree_record_gets_a_number(repo: Path) -> None:
    start = git(repo, "rev-parse", "HEAD")
    gitops.add_worktree(repo, repo / ".git", repo / "a" / "t", "b1", start)
    gitops.add_worktree(repo, repo / ".git", repo / "b" / "t", "b2", start)
    assert (repo / "b" / "t" / ".git").read_text().strip().endswith("/worktrees/t1")
    assert gitops.locate(repo / "b" / "t", common_dir=repo / ".git").git_dir.name == "t1"
    assert git(repo / "b" / "t", "symbolic-ref", "HEAD") == "refs/heads/b2"


def test_a_folder_that_is_not_empty_is_refused_and_kept(repo: Path) -> None:
    start = git(repo, "rev-parse", "HEAD")
    path = repo / "wt" / "busy"
    path.mkdir(parents=True)
    (path / "mine.txt").write_text("mine\n")
    (path / ".git").write_text("not ours\n")
    with pytest.raises(GenesisError):
        gitops.add_worktree(repo, repo / ".git", path, "busy", start)
    assert (path / ".git").read_text() == "not ours\n" and (path / "mine.txt").exists()
    assert git(repo, "branch", "--list", "busy") == ""


@pytest.mark.parametrize(
    "setting",
    [("core.sparseCheckout", "true"), ("extensions.worktreeConfig", "true")],
    ids=lambda s: s[0],
)
def test_where_git_would_do_more_git_makes_the_worktree(
    repo: Path, setting: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    link = worktree_mod._link_worktree

    def counted(repo: Path, common_dir: Path, path: Path, branch: str, start: str) -> None:
        made.append(branch)
        link(repo, common_dir, path, branch, start)

    monkeypatch.setattr(worktree_mod, "_link_worktree", counted)
    git(repo, "config", *setting)
    if setting[0] == "core.sparseCheckout":
        info = repo / ".git" / "info"
        info.mkdir(exist_ok=True)
        (info / "sparse-checkout").write_text("/README.md\n")
    start = git(repo, "rev-parse", "HEAD")
    path = repo / "wt" / "s"
    gitops.add_worktree(repo, repo / ".git", path, "s", start)
    assert made == []
    admin = repo / ".git" / "worktrees" / "s"
    if setting[0] == "core.sparseCheckout":  # git copied the patterns
        assert (admin / "info" / "sparse-checkout").read_text() == "/README.md\n"
    git(repo, "config", "--unset", setting[0])
    gitops.add_worktree(repo, repo / ".git", repo / "wt" / "p", "p", start)  # config changed
    assert made == ["p"]


def test_the_links_name_real_paths(repo: Path, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(repo)
    start = git(repo, "rev-parse", "HEAD")
    gitops.add_worktree(alias, alias / ".git", alias / "wt" / "r", "r", start)
    admin = Path(os.path.realpath(repo / ".git" / "worktrees" / "r"))
    assert (repo / "wt" / "r" / ".git").read_text() == f"gitdir: {admin}\n"
    assert (admin / "gitdir").read_text() == f"{os.path.realpath(repo / 'wt' / 'r' / '.git')}\n"


@pytest.mark.parametrize("link_half_written", [False, True])
def test_a_run_killed_before_the_link_is_written_gets_its_worktree_on_resume(
    repo: Path, link_half_written: bool
) -> None:
    """What a SIGKILL between the records and the worktree's `.git` leaves (ours, or git's own
    `worktree add`): the branch, a record locked while "initializing" and an empty folder, which
    git refuses to add a worktree at (or, killed while our link was written, the link not yet
    renamed into place). The resumed run's allocation removes that record and makes the
    worktree again on the branch."""
    start = git(repo, "rev-parse", "HEAD")
    paths = gitops.discover(repo)
    path = worktrees.path_for(repo, "r", "t")
    branch = worktrees.branch_name("r", "t")
    git(repo, "update-ref", f"refs/heads/{branch}", start)
    path.mkdir(parents=True)
    record = repo / ".git" / "worktrees" / "t"
    record.mkdir(parents=True)
    (record / "locked").write_text("initializing\n")  # as git writes it
    (record / "gitdir").write_text(f"{path / '.git'}\n")
    (record / "commondir").write_text("../..\n")
    (record / "HEAD").write_text(f"ref: refs/heads/{branch}\n")
    if link_half_written:
        (path / ".git.genesis-par").write_text(f"gitdir: {record}\n")
    made, reused = worktrees.allocate(paths, "r", "t", start, pool=False, branch_may_exist=True)
    assert made == path and reused
    assert git(path, "symbolic-ref", "HEAD") == f"refs/heads/{branch}"
    assert (path / "README.md").read_text() == "hello\n"
    assert gitops.locate(path, common_dir=repo / ".git").git_dir.name == "t"
    assert not (repo / ".git" / "worktrees" / "t" / "locked").exists()


def test_a_run_killed_before_unlocking_leaves_a_worktree_resume_unlocks(repo: Path) -> None:
    """Killed after the `.git` link and before the record's "initializing" lock went: the
    worktree is whole and is reused; its stale lock is removed with the other stale locks, so
    that `git worktree remove` and prune treat it as any other."""
    start = git(repo, "rev-parse", "HEAD")
    path = repo / "wt" / "k"
    gitops.add_worktree(repo, repo / ".git", path, "k", start)
    record = gitops.locate(path, common_dir=repo / ".git").git_dir
    (record / "locked").write_text("initializing\n")  # as git writes it
    assert gitops.lock_files(path, "k") == [record / "locked"]
    workspace.clear_stale_locks(path, "k")
    assert not (record / "locked").exists()
    git(repo, "worktree", "remove", str(path))
    assert not record.exists()
