from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from genesis_par import gitops
from genesis_par.commands import conflicts as conflicts_cmd
from genesis_par.errors import UsageError
from genesis_par.land import conflicts
from genesis_par.land.conflicts import Kind
from tests.conftest import branch, commit, git

Files = Mapping[str, "str | bytes | None"]


def write(repo: Path, files: Files) -> None:
    for name, text in files.items():
        path = repo / name
        if text is None or path.is_symlink():
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        if text is None:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        elif text.startswith("->"):
            os.symlink(text[2:], path)
        else:
            path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "change", "--allow-empty")


def two_branches(repo: Path, base: Files, ours: Files, theirs: Files) -> None:
    write(repo, base)
    for name, files in (("a", ours), ("b", theirs)):
        git(repo, "checkout", "-q", "-b", name, "main")
        write(repo, files)
    git(repo, "checkout", "-q", "main")


MANY = {f"d/f{i}.txt": f"file {i}\n" * 5 for i in range(4)}
OTHER = {f"x/g{i}.txt": f"other {i}\n" * 5 for i in range(4)}
MOVE_D = {**{k: None for k in MANY}, **{k.replace("d/", "e/"): v for k, v in MANY.items()}}
SIX = "a\nb\nc\nd\ne\n"

CASES = [
    ("content", {"f.txt": "a\n"}, {"f.txt": "b\n"}, {"f.txt": "c\n"}, Kind.CONTENT, "f.txt"),
    ("add/add", {}, {"n.txt": "one\n"}, {"n.txt": "two\n"}, Kind.ADD_ADD, "n.txt"),
    (
        "binary",
        {"f.bin": b"\0\1\2"},
        {"f.bin": b"\0\1\3"},
        {"f.bin": b"\0\1\4"},
        Kind.BINARY,
        "f.bin",
    ),
    (
        "modify/delete",
        {"f.txt": "a\n"},
        {"f.txt": "b\n"},
        {"f.txt": None},
        Kind.MODIFY_DELETE,
        "f.txt",
    ),
    (
        "rename/delete",
        {"f.txt": SIX},
        {"f.txt": None, "g.txt": SIX},
        {"f.txt": None},
        Kind.RENAME_DELETE,
        "g.txt",
    ),
    (
        "rename/rename",
        {"f.txt": SIX},
        {"f.txt": None, "g.txt": SIX},
        {"f.txt": None, "h.txt": SIX},
        Kind.RENAME_RENAME,
        "f.txt",
    ),
    (
        "rename-collision",
        {"f.txt": SIX},
        {"f.txt": None, "n.txt": "a\nb\nX\nd\ne\n"},
        {"f.txt": "a\nb\nY\nd\ne\n", "n.txt": "something\nelse\n"},
        Kind.RENAME_COLLISION,
        "n.txt",
    ),
    ("file/directory", {}, {"p": "file\n"}, {"p/q.txt": "dir\n"}, Kind.FILE_DIRECTORY, "p"),
    ("distinct-types", {}, {"l": "->x"}, {"l": "regular\n"}, Kind.DISTINCT_TYPES, "l"),
    (
        "dir-rename-suggested",
        MANY,
        MOVE_D,
        {"d/new.txt": "new\n"},
        Kind.DIR_RENAME_SUGGESTED,
        "e/new.txt",
    ),
    (
        "dir-rename-file-in-way",
        MANY,
        MOVE_D,
        {"d/new.txt": "new\n", "e/new.txt": "in the way\n"},
        Kind.DIR_RENAME_FILE_IN_WAY,
        "e/new.txt",
    ),
    (
        "dir-rename-collision",
        {**MANY, **OTHER},
        {
            **{k: None for k in {**MANY, **OTHER}},
            **{k.replace("d/", "e/").replace("x/", "e/"): v for k, v in {**MANY, **OTHER}.items()},
        },
        {"d/new.txt": "new\n", "x/new.txt": "other new\n"},
        Kind.DIR_RENAME_COLLISION,
        "e/new.txt",
    ),
    (
        "dir-rename-split",
        MANY,
        {
            **{k: None for k in MANY},
            "e/f0.txt": MANY["d/f0.txt"],
            "e/f1.txt": MANY["d/f1.txt"],
            "g/f2.txt": MANY["d/f2.txt"],
            "g/f3.txt": MANY["d/f3.txt"],
        },
        {"d/new.txt": "new\n"},
        Kind.DIR_RENAME_SPLIT,
        "d",
    ),
]


@pytest.mark.parametrize(
    ("name", "base", "ours", "theirs", "kind", "path"), CASES, ids=[c[0] for c in CASES]
)
def test_each_kind_in_a_real_repository(
    repo: Path, name: str, base: Files, ours: Files, theirs: Files, kind: Kind, path: str
) -> None:
    two_branches(repo, base, ours, theirs)
    report = conflicts.check(repo, ["a", "b"], "main")
    result = report.pairs[("a", "b")]
    assert not result.clean
    assert (path, kind) in [(c.path, c.kind) for c in result.conflicts]
    assert all(c.message and c.git_type.startswith("CONFLICT") for c in result.conflicts)
    assert report.branches[0].against_target.clean and report.branches[1].against_target.clean
    assert not report.clean


def test_submodule_conflict(repo: Path) -> None:
    def link(sha: str) -> None:
        git(repo, "update-index", "--add", "--cacheinfo", f"160000,{sha},sub")
        git(repo, "commit", "-qm", "sub")

    link("1" * 40)
    for name, sha in (("a", "2" * 40), ("b", "3" * 40)):
        git(repo, "checkout", "-q", "-b", name, "main")
        link(sha)
    git(repo, "checkout", "-q", "main")
    result = conflicts.check(repo, ["a", "b"], "main").pairs[("a", "b")]
    assert {(c.path, c.kind) for c in result.conflicts} == {("sub", Kind.SUBMODULE)}


def test_merges_after_a_submodule_conflict_in_one_batch_are_read_right(
    repo: Path, tmp_path: Path
) -> None:
    """git prints advice after a submodule conflict in place of the messages' end: every
    later merge of the same `--stdin` batch must still be read as git says."""
    sub = tmp_path / "sub"
    sub.mkdir()
    git(sub, "init", "-q", "-b", "main")
    shas = [commit(sub, {"s": f"{i}\n"}) for i in range(3)]
    write(repo, {"f": "".join(f"{i}\n" for i in range(30))})
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{shas[0]},sub")
    git(repo, "commit", "-qm", "sub")
    for name, sha in (("s1", shas[1]), ("s2", shas[2])):
        git(repo, "checkout", "-q", "-b", name, "main")
        git(repo, "update-index", "--cacheinfo", f"160000,{sha},sub")
        git(repo, "commit", "-qm", name)
    git(repo, "checkout", "-q", "main")
    branch(repo, "gone", {"f": None})
    branch(repo, "one", {"f": "one\n" + "".join(f"{i}\n" for i in range(1, 30))})
    branch(repo, "two", {"f": "two\n" + "".join(f"{i}\n" for i in range(1, 30))})
    names = ["s1", "s2", "gone", "one", "two"]
    report = conflicts.check(repo, names, "main")
    for (a, b), result in report.pairs.items():
        done = subprocess.run(
            ["git", "merge-tree", "--write-tree", "--name-only", "-z", a, b],
            cwd=repo,
            capture_output=True,
            text=True,
        )
        assert result.clean == (done.returncode == 0), (a, b)
        assert result.clean == (not result.conflicts), (a, b)
    assert not report.pairs[("one", "two")].clean
    assert not report.pairs[("gone", "one")].clean


RECORDED = (
    "0\0treesha\0"
    "100644 aaa 1\tf.txt\0"
    "100644 bbb 2\tf.txt\0\0"
    "1\0f.txt\0Auto-merging\0Auto-merging f.txt\n\0"
    "1\0f.txt\0CONFLICT (contents)\0CONFLICT (content): Merge conflict in f.txt\n\0"
    "2\0g2.txt\0g.txt\0CONFLICT (rename/delete)\0CONFLICT (rename/delete): g.txt renamed...\n\0"
    "1\0z\0CONFLICT (something new)\0CONFLICT (something new): z\n\0\0"
    "1\0cleantree\0\0"
)


def test_parse_recorded_output() -> None:
    first, second = conflicts.parse_batch(RECORDED, 2)
    assert not first.clean and first.tree == "treesha"
    assert [(c.path, c.kind) for c in first.conflicts] == [
        ("f.txt", Kind.CONTENT),
        ("g2.txt", Kind.RENAME_DELETE),
        ("z", Kind.OTHER),
    ]
    assert first.conflicts[2].as_json()["git_type"] == "CONFLICT (something new)"
    assert first.conflicts[1].paths == ("g2.txt", "g.txt")
    assert second.clean and second.tree == "cleantree" and second.conflicts == ()


def test_classify_ignores_informational_messages() -> None:
    assert conflicts.classify("Auto-merging", "Auto-merging x") is None
    assert (
        conflicts.classify("CONFLICT (contents)", "CONFLICT (add/add): Merge conflict in x")
        is Kind.ADD_ADD
    )


def snapshot(repo: Path) -> tuple[str, ...]:
    objects = subprocess.run(
        ["find", ".git/objects", "-type", "f"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout
    return (
        git(repo, "for-each-ref"),
        (repo / ".git" / "index").read_bytes().hex(),
        git(repo, "status", "--porcelain", "--untracked-files=all"),
        git(repo, "count-objects", "-v"),
        objects,
        git(repo, "worktree", "list", "--porcelain"),
    )


@pytest.mark.parametrize("ram_dir", ["/dev/shm", "/no/such/ram/dir"])
def test_probing_leaves_the_repository_unchanged(
    repo: Path, ram_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether the throwaway objects go to RAM or (no roomy /dev/shm) to the temporary folder."""
    monkeypatch.setattr(gitops.probe, "RAM_DIR", Path(ram_dir))
    two_branches(
        repo,
        {"f.txt": "a\n", "g.txt": SIX},
        {"f.txt": "b\n", "new.txt": "n\n"},
        {"f.txt": "c\n", "g.txt": None},
    )
    git(repo, "worktree", "add", "-q", str(repo.parent / "wt"), "a")
    (repo.parent / "wt" / "wip.txt").write_text("uncommitted\n")
    before = snapshot(repo)
    report = conflicts.check(repo, ["a", "b"], "main", {"a": repo.parent / "wt"})
    assert not report.clean and report.branches[0].uncommitted
    assert snapshot(repo) == before


def test_uncommitted_work_in_a_worktree_counts(repo: Path) -> None:
    two_branches(repo, {"f.txt": "a\n"}, {"other.txt": "x\n"}, {"f.txt": "theirs\n"})
    wt = repo.parent / "wt"
    git(repo, "worktree", "add", "-q", str(wt), "a")
    index_before = (repo / ".git" / "worktrees" / "wt" / "index").read_bytes()
    assert conflicts.check(repo, ["a", "b"], "main", {"a": wt}).clean
    (wt / "f.txt").write_text("ours, not committed\n")
    report = conflicts.check(repo, ["a", "b"], "main", {"a": wt})
    assert report.branches[0].uncommitted
    assert [(c.path, c.kind) for c in report.pairs[("a", "b")].conflicts] == [
        ("f.txt", Kind.CONTENT)
    ]
    assert (repo / ".git" / "worktrees" / "wt" / "index").read_bytes() == index_before


def test_unknown_branch_is_a_usage_error(repo: Path) -> None:
    with pytest.raises(UsageError, match='branch "nope" does not name a commit'):
        conflicts.check(repo, ["main", "nope"], "main")


def random_branch(repo: Path, rng: random.Random, name: str, files: list[str]) -> None:
    git(repo, "checkout", "-q", "-b", name, "main")
    changes: dict[str, str | None] = {}
    for path in rng.sample(files, 3):
        roll = rng.random()
        if roll < 0.5:
            lines = (repo / path).read_text().splitlines()
            lines[rng.randrange(len(lines))] = f"{name} was here"
            changes[path] = "\n".join(lines) + "\n"
        elif roll < 0.7:
            changes[path] = None
        elif roll < 0.9:
            git(repo, "mv", path, path.replace(".txt", f".{name}.txt"))
        else:
            changes[f"new{rng.randrange(3)}.txt"] = f"added by {name}\n"
    write(repo, changes)
    git(repo, "checkout", "-q", "main")


def test_batch_and_skips_agree_with_one_merge_tree_per_pair(repo: Path) -> None:
    rng = random.Random(7)
    files = [f"src/m{i}.txt" for i in range(12)]
    write(repo, {f: "".join(f"line {j} of {f}\n" for j in range(8)) for f in files})
    write(repo, {f"lib/k{i}.txt": f"lib file {i}\n" * 4 for i in range(3)})
    names = [f"b{i}" for i in range(8)]
    for name in names:
        random_branch(repo, rng, name, files)
    # a whole directory renamed on one side and a file added to it on the other: disjoint
    # paths, yet git moves the new file (a directory rename), so this pair must not be skipped
    git(repo, "checkout", "-q", "-b", "mover", "main")
    git(repo, "mv", "lib", "moved")
    git(repo, "commit", "-q", "-m", "move lib")
    git(repo, "checkout", "-q", "-b", "adder", "main")
    write(repo, {"lib/new.txt": "new\n", "moved/new.txt": "in the way\n"})
    git(repo, "checkout", "-q", "main")
    names += ["mover", "adder"]
    report = conflicts.check(repo, names, "main")
    assert not report.pairs[("mover", "adder")].clean
    for (a, b), result in report.pairs.items():
        done = subprocess.run(
            ["git", "merge-tree", "--write-tree", "--name-only", "-z", a, b],
            cwd=repo,
            capture_output=True,
            text=True,
        )
        assert (done.returncode == 0) == result.clean, (a, b)
        if not result.clean:
            tokens = done.stdout.split("\0")[1:]
            expected = set(tokens[: tokens.index("")])
            assert expected <= set(result.paths), (a, b)
    assert any(not r.clean for r in report.pairs.values())
    assert any(r.clean for r in report.pairs.values())


def _merge_tree_runs(trace: Path) -> int:
    """How many `git merge-tree` processes a GIT_TRACE2_EVENT file saw start."""
    starts = [json.loads(line) for line in trace.read_text().splitlines()]
    return sum(1 for e in starts if e.get("event") == "start" and "merge-tree" in e["argv"])


def test_each_branch_against_the_target_agrees_with_git_and_a_fork_of_it_needs_no_merge(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A branch forked at the target (or already in it) merges into it without a conflict, as
    git says, and without a merge run; one the target moved away from is merged, and its
    conflict with the target found."""
    write(repo, {"f.txt": "base\n", "g.txt": "g\n"})
    branch(repo, "forked", {"new.txt": "new\n"})
    branch(repo, "clashing", {"f.txt": "theirs\n"})
    git(repo, "branch", "contained")  # at the target itself
    names = ["forked", "clashing", "contained"]
    trace = tmp_path / "trace.json"
    monkeypatch.setenv("GIT_TRACE2_EVENT", str(trace))
    clean = conflicts.check(repo, ["forked", "contained"], "main")
    assert _merge_tree_runs(trace) == 0
    write(repo, {"f.txt": "ours\n"})  # the target moves: clashing now conflicts with it
    report = conflicts.check(repo, names, "main")
    monkeypatch.delenv("GIT_TRACE2_EVENT")
    assert _merge_tree_runs(trace) == 1
    assert all(b.against_target.clean for b in clean.branches)
    for b in report.branches:
        done = subprocess.run(
            ["git", "merge-tree", "--write-tree", "--name-only", "-z", "main", b.name],
            cwd=repo,
            capture_output=True,
            text=True,
        )
        assert b.against_target.clean == (done.returncode == 0), b.name
    by_name = {b.name: b for b in report.branches}
    assert not by_name["clashing"].against_target.clean
    assert by_name["clashing"].against_target.paths == ["f.txt"]


def test_batched_branch_diffs_match_one_diff_per_branch(repo: Path) -> None:
    """One rev-list and one diff-tree for all branches give what two git calls per branch do,
    whatever the branch's shape."""
    first = git(repo, "rev-parse", "HEAD")
    write(repo, {f"f{i}.txt": f"{i}\n" * 20 for i in range(4)})
    fork = git(repo, "rev-parse", "HEAD")
    branch(repo, "simple", {"f0.txt": "changed\n", "new.txt": "new\n"})
    git(repo, "checkout", "-q", "-b", "renamer", "main")
    git(repo, "mv", "f1.txt", "g1.txt")
    git(repo, "commit", "-q", "-m", "rename")
    git(repo, "checkout", "-q", "main")
    branch(repo, "contained", {"f2.txt": "on main too\n"})
    git(repo, "merge", "-q", "--ff-only", "contained")
    branch(repo, "stacked", {"f3.txt": "on top\n"}, start="simple")
    branch(repo, "from_old", {"old.txt": "x\n"}, start=first)
    git(repo, "checkout", "-q", "-b", "merged_in", "simple")
    git(repo, "merge", "-q", "--no-edit", "from_old")
    git(repo, "checkout", "-q", "main")
    write(repo, {"main.txt": "main moved on\n"})
    names = ["simple", "renamer", "contained", "stacked", "from_old", "merged_in", "simple"]
    tips = [git(repo, "rev-parse", n) for n in names]

    found = gitops.branch_diffs(repo, "main", tips)

    for tip, diff in zip(tips, found, strict=True):
        listed = git(repo, "rev-list", "--boundary", tip, "^main").split()
        assert diff.commits == {c for c in listed if not c.startswith("-")}
        bases = git(repo, "merge-base", "--all", "main", tip).split()
        assert diff.merge_base in (None, *bases) and len(bases) == 1
        raw = git(repo, "diff", "--name-status", "-M", "-z", f"main...{tip}")
        assert list(diff.changes) == gitops.probe._parse_name_status(raw)
    # one fork point is known exactly; a branch with two (a merge from elsewhere) is left unknown
    assert [d.merge_base for d in found] == [
        fork,
        fork,
        found[2].merge_base,
        fork,
        first,
        None,
        fork,
    ]
    assert found[1].changes == (("R", ("f1.txt", "g1.txt")),)
    assert found[2].changes == () and found[2].commits == frozenset()


def test_sides_are_named_as_git_names_them(repo: Path) -> None:
    """Paths moved aside (`fd~two`) and messages name the branches, as `git merge-tree
    a b` does when given names, though the tool merges commits."""
    write(repo, {"fd": "a file\n", "other.txt": "x\n"})
    branch(repo, "feature/dir", {"fd": None, "fd/inside.txt": "now a directory\n"})
    branch(repo, "two", {"fd": "edited\n"})
    branch(repo, "three", {"other.txt": None})
    branch(repo, "four", {"other.txt": "changed\n"})
    report = conflicts.check(repo, ["feature/dir", "two", "three", "four"], "main")
    for a, b in [("feature/dir", "two"), ("three", "four")]:
        done = subprocess.run(
            ["git", "merge-tree", "--write-tree", "-z", a, b],
            cwd=repo,
            capture_output=True,
            text=True,
        )
        ours = report.pairs[(a, b)]
        assert not ours.clean
        assert [(c.paths, c.message) for c in ours.conflicts] == [
            (c.paths, c.message) for c in _parse_single(done.stdout)
        ]
    moved = report.pairs[("feature/dir", "two")].conflicts[0]
    assert moved.path == "fd" and "fd~two" in moved.paths  # the path a person knows comes first


def _parse_single(raw: str) -> tuple[conflicts.Conflict, ...]:
    """Conflicts of one `git merge-tree --write-tree -z` (no --stdin: no status token)."""
    return conflicts.parse_batch("0\0" + raw, 1)[0].conflicts


SHAPES = [
    *[(c[0], c[1], c[2], c[3]) for c in CASES],
    ("symlink/directory", {}, {"l": "->x"}, {"l/inside.txt": "dir\n"}),
    ("symlink targets", {"l": "->x"}, {"l": None, "m": "->y"}, {"l": None, "n": "->z"}),
    ("symlink edited both ways", {"l": "->x"}, {"l": "->y"}, {"l": "->z"}),
    (
        "rename/rename and edit",
        {"f.txt": SIX},
        {"f.txt": None, "g.txt": SIX + "f\n"},
        {"f.txt": None, "h.txt": SIX},
    ),
    ("rename/add", {"f.txt": SIX}, {"f.txt": None, "g.txt": SIX}, {"g.txt": "other\nthing\n"}),
    (
        "two renamed onto one",
        {"f.txt": SIX, "g.txt": "1\n2\n3\n4\n"},
        {"f.txt": None, "n.txt": SIX},
        {"g.txt": None, "n.txt": "1\n2\n3\n4\n"},
    ),
    (
        "file/directory both ways",
        {"p": "f\n"},
        {"p": None, "p/a": "a\n"},
        {"p": "g\n", "q/b": "b\n"},
    ),
    ("delete/rename into dir", MANY, MOVE_D, {"d/f0.txt": "changed\n" * 5}),
]


@pytest.mark.parametrize(("name", "base", "ours", "theirs"), SHAPES, ids=[s[0] for s in SHAPES])
def test_every_path_git_leaves_conflicted_is_named_with_a_kind(
    repo: Path, name: str, base: Files, ours: Files, theirs: Files
) -> None:
    """`files` (the list by path of `conflicts`) holds every path `git merge-tree --name-only`
    lists as conflicted: a rename/rename's two new names, the `PATH~SIDE` git moved a side to."""
    two_branches(repo, base, ours, theirs)
    done = subprocess.run(
        ["git", "merge-tree", "--write-tree", "--name-only", "-z", "a", "b"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    tokens = done.stdout.split("\0")[1:]
    listed = set(tokens[: tokens.index("")]) if done.returncode == 1 else set()
    report = conflicts.check(repo, ["a", "b"], "main")
    files = {path: kinds for path, _, kinds in report.files()}
    assert listed <= set(files), (name, listed - set(files))
    assert all(files[p] and files[p] != ["other"] for p in listed), files


def test_uncommitted_work_is_reported_on_the_commit_it_is_based_on(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The snapshot of uncommitted files is a throwaway: the report names the worktree's HEAD,
    a commit that exists in the repository, and marks the branch uncommitted."""
    two_branches(repo, {"f.txt": "a\n"}, {"other.txt": "x\n"}, {"f.txt": "theirs\n"})
    wt = repo.parent / "wt"
    git(repo, "worktree", "add", "-q", str(wt), "a")
    (wt / "f.txt").write_text("ours, not committed\n")
    report = conflicts.check(repo, ["a", "b"], "main", {"a": wt})
    ours = report.branches[0]
    assert ours.uncommitted and ours.commit == git(repo, "rev-parse", "a")
    assert not report.pairs[("a", "b")].clean
    from genesis_par.report import conflicts_view

    conflicts_view.print_json(report)
    shown = json.loads(capsys.readouterr().out)["branches"][0]
    assert shown["uncommitted"] is True and shown["commit"] == git(repo, "rev-parse", "a")
    assert git(repo, "cat-file", "-t", shown["commit"]) == "commit"


NOT_UTF8 = b"caf\xe9.txt"


def test_a_file_name_that_is_not_utf8_is_probed_and_shown(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Paths are bytes to git: such a name is probed, kept exact in JSON (os.fsencode of the
    string gives the bytes back) and shown with `\\xNN` in text, never a traceback."""
    name = os.fsdecode(NOT_UTF8)
    two_branches(repo, {name: "a\n"}, {name: "b\n"}, {name: "c\n"})
    report = conflicts.check(repo, ["a", "b"], "main")
    assert [p for p, _, _ in report.files()] == [name]
    assert conflicts_cmd.run(repo, ["a", "b"], into="main", as_json=True) == 3
    out = capsys.readouterr().out
    assert out.isascii()
    (entry,) = json.loads(out)["files"]
    assert os.fsencode(entry["path"]) == NOT_UTF8 and entry["kinds"] == ["content"]
    assert conflicts_cmd.run(repo, ["a", "b"], into="main") == 3
    assert "caf\\xe9.txt: content between a, b" in capsys.readouterr().out
