"""index_tree.tree_of_index gives the tree `git write-tree` writes for the same index, making
only the directories the cache tree does not hold valid, or refuses (None); loose_objects
writes those trees as git would: real repositories, every index version and hash, each tree
checked by `git hash-object` and `git fsck`."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from genesis_par.gitops import index_tree, loose_objects, sessions
from genesis_par.gitops.index_tree import tree_of_index
from tests.conftest import commit, git
from tests.gitops.index_helpers import (
    hash_size,
    index_info,
    make_repo,
    version,
    with_checksum,
)

BASE = {
    "top.txt": "top\n",
    "run.sh": "#!/bin/sh\n",
    "deep/er/still/f.txt": "f\n",
    "deep/er/g.txt": "g\n",
    "deep/side/h.txt": "h\n",
    "other/x.txt": "x\n",
    "gone/only.txt": "only\n",
    "a.txt": "a\n",  # a.txt, a-b and a/ sort one way as paths and tree entries alike
    "a-b": "a-b\n",
    "a/b.txt": "b\n",
}


class Writer:
    """make_tree for tests: `git hash-object -t tree -w` (which refuses content that is not a
    well-formed tree) per tree, each content kept."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.listings: list[bytes] = []

    def __call__(self, content: bytes) -> str:
        self.listings.append(content)
        out = subprocess.run(
            ["git", "hash-object", "-t", "tree", "-w", "--stdin"],
            cwd=self.repo,
            input=content,
            capture_output=True,
            check=True,
        )
        return out.stdout.decode().strip()


def there(repo: Path) -> Callable[[list[bytes]], bool]:
    """exist for tests: the package's own lookup (a long-lived cat-file --batch-check)."""

    def exist(ids: list[bytes]) -> bool:
        return sessions.missing(repo / ".git", [i.hex() for i in ids]) == []

    return exist


def ours(repo: Path, most: int = 16) -> tuple[str | None, int]:
    """(tree_of_index on repo's index, the number of trees it made)."""
    maker = Writer(repo)
    index = repo / ".git" / "index"
    return tree_of_index(index, hash_size(repo), maker, there(repo), most), len(maker.listings)


def write_tree(repo: Path) -> str:
    """What git says; run after ours, as write-tree rewrites the index's cache tree."""
    return git(repo, "write-tree")


def settle(repo: Path) -> None:
    """`git reset --hard` with every file older than the index it writes. A file written in the
    same second as the index is racily clean: git smudges its entry, and the next `git add`
    hashes it again and invalidates its directories, which would blur the counts below."""
    past = time.time() - 10
    for root, dirs, files in os.walk(repo):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files + dirs:
            os.utime(Path(root, name), (past, past), follow_symlinks=False)
    git(repo, "update-index", "-q", "--refresh")
    git(repo, "reset", "-q", "--hard")


def based(repo: Path) -> Path:
    commit(repo, BASE)
    settle(repo)
    return repo


def tree_extension(repo: Path) -> tuple[int, int]:
    """(where the TREE extension's header starts, where its data ends) in repo's index."""
    data = (repo / ".git" / "index").read_bytes()
    at = data.rindex(b"TREE")
    return at, at + 8 + int.from_bytes(data[at + 4 : at + 8], "big")


def add_all(repo: Path) -> None:
    git(repo, "add", "--all")


def new_root_file(repo: Path) -> None:
    (repo / "new.txt").write_text("new\n")
    add_all(repo)


def deep_change(repo: Path) -> None:
    (repo / "deep/er/still/f.txt").write_text("changed\n")
    add_all(repo)


def deleted_file(repo: Path) -> None:
    (repo / "deep/er/g.txt").unlink()
    add_all(repo)


def deleted_directory(repo: Path) -> None:
    (repo / "gone/only.txt").unlink()
    add_all(repo)


def new_directory(repo: Path) -> None:
    (repo / "fresh/dir").mkdir(parents=True)
    (repo / "fresh/dir/n.txt").write_text("n\n")
    add_all(repo)


def executable_bit(repo: Path) -> None:
    (repo / "other/x.txt").chmod(0o755)
    add_all(repo)


def symlink(repo: Path) -> None:
    (repo / "other/link").symlink_to("x.txt")
    add_all(repo)


def nested_repository(repo: Path) -> None:
    make_repo(repo, "sha1", "vendor/nested")
    add_all(repo)


def gitlink_by_index_info(repo: Path) -> None:
    """A gitlink whose commit this repository does not have (a tree may name one)."""
    index_info(repo, [("160000", "1234567890" * 4, "deep/sub")])


def names_that_sort_apart(repo: Path) -> None:
    (repo / "a/b.txt").write_text("changed\n")
    (repo / "a.b").write_text("a.b\n")
    (repo / "a0").write_text("a0\n")
    add_all(repo)


def odd_names(repo: Path) -> None:
    folder = repo / "tab\tdir"
    folder.mkdir()
    for name in ("raw-\udcff-bytes", "new\nline", "tab\there", "ünïcode"):
        (folder / name).write_text(name.encode("utf-8", "surrogateescape").hex())
    (repo / "at root\n\udcfe").write_text("root\n")
    add_all(repo)


@pytest.mark.parametrize(
    ("change", "made"),
    [
        (new_root_file, 1),
        (deep_change, 4),  # root, deep, deep/er, deep/er/still
        (deleted_file, 3),
        (deleted_directory, 1),
        (new_directory, 3),
        (executable_bit, 2),
        (symlink, 2),
        (nested_repository, 2),
        (gitlink_by_index_info, 2),
        (names_that_sort_apart, 2),
        (odd_names, 2),
    ],
)
def test_after_reset_hard_only_the_changed_directories_are_made(
    repo: Path, change: Callable[[Path], None], made: int
) -> None:
    change(based(repo))
    tree, calls = ours(repo)
    assert tree == write_tree(repo)
    assert calls == made
    if change is odd_names:
        listed = subprocess.run(
            ["git", "ls-tree", "-r", "-z", "--name-only", str(tree)],
            cwd=repo,
            capture_output=True,
            check=True,
        ).stdout.split(b"\0")
        assert b"tab\tdir/new\nline" in listed and b"at root\n\xfe" in listed


def test_a_whole_valid_cache_tree_is_the_answer(repo: Path) -> None:
    based(repo)
    add_all(repo)
    tree, calls = ours(repo)
    assert calls == 0
    assert tree == git(repo, "rev-parse", "HEAD^{tree}") == write_tree(repo)


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
@pytest.mark.parametrize("index_version", [2, 3, 4])
def test_every_index_version_and_hash(
    tmp_path: Path, object_format: str, index_version: int
) -> None:
    repo = make_repo(tmp_path, object_format)
    commit(repo, {**BASE, **{f"src/pkg/m{i:03}.py": f"{i}\n" for i in range(40)}})
    settle(repo)
    (repo / "src/pkg/m007.py").write_text("changed\n")
    (repo / "other/new").write_text("new\n")
    make_repo(repo, object_format, "vendor/nested")
    add_all(repo)
    if index_version == 3:  # git writes 3 only when an entry has extended flags
        git(repo, "update-index", "--skip-worktree", "deep/er/g.txt")
    git(repo, "update-index", "--index-version", str(index_version))
    assert version(repo) == index_version
    tree, calls = ours(repo)
    assert tree == write_tree(repo)
    # root, src, src/pkg, other, vendor; and deep, deep/er where a flag changed (version 3)
    assert calls == (7 if index_version == 3 else 5)


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
def test_an_empty_index_is_the_empty_tree(tmp_path: Path, object_format: str) -> None:
    repo = tmp_path / "empty"
    repo.mkdir()
    git(repo, "init", "-q", f"--object-format={object_format}")
    oid = "e" * (40 if object_format == "sha1" else 64)
    git(repo, "update-index", "--add", "--cacheinfo", f"100644,{oid},gone")
    git(repo, "update-index", "--force-remove", "gone")
    maker = Writer(repo)
    tree = tree_of_index(repo / ".git" / "index", len(oid) // 2, maker, there(repo))
    assert maker.listings == [b""]
    assert tree == write_tree(repo) == git(repo, "hash-object", "-t", "tree", "/dev/null")
    again = Writer(repo)  # write-tree left a valid root in the index: taken from there
    assert tree_of_index(repo / ".git" / "index", len(oid) // 2, again, there(repo)) == tree
    assert again.listings == []


def test_skip_worktree_entries_are_in_the_tree(repo: Path) -> None:
    """A sparse checkout (no sparse index): git leaves the files out of the worktree but keeps
    them in the index, flagged skip-worktree, and write-tree keeps them in the tree."""
    based(repo)
    git(repo, "sparse-checkout", "set", "--cone", "other")
    assert not (repo / "deep").exists()
    (repo / "other/y.txt").write_text("y\n")
    add_all(repo)
    tree, _ = ours(repo)
    assert tree == write_tree(repo)
    assert "deep/er/still/f.txt" in git(repo, "ls-tree", "-r", "--name-only", tree).split("\n")


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
def test_the_package_writer_writes_what_git_writes(tmp_path: Path, object_format: str) -> None:
    """loose_objects.tree_writer, as the run uses it: the ids git gives, objects git reads and
    fsck passes; a tree already there (loose, or only in a pack) is taken as it is."""
    repo = make_repo(tmp_path, object_format)
    commit(repo, BASE)
    settle(repo)
    odd_names(repo)
    deep_change(repo)
    writer = loose_objects.tree_writer(repo / ".git", hash_size(repo))
    assert writer is not None
    tree = tree_of_index(repo / ".git" / "index", hash_size(repo), writer, there(repo))
    assert tree == write_tree(repo)
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True, text=True)
    assert fsck.returncode == 0 and "error" not in fsck.stderr, fsck.stderr
    loose = repo / ".git" / "objects" / tree[:2] / tree[2:]
    assert oct(loose.stat().st_mode & 0o777) == oct(0o444)
    assert not list((repo / ".git" / "objects").glob("*/tmp_obj_*"))
    os.utime(loose, (1, 1))
    assert writer(git_bytes(repo, "cat-file", "tree", tree)) == tree
    assert loose.stat().st_mtime > 1  # refreshed, as git freshens an object it would write
    empty = git(repo, "hash-object", "-t", "tree", "/dev/null")
    assert writer(b"") == empty and git(repo, "cat-file", "-t", empty) == "tree"
    git(repo, "gc", "-q", "--prune=now")  # every object in a pack now, none loose
    git(repo, "commit", "-qm", "keep", "--allow-empty")
    assert writer(git_bytes(repo, "cat-file", "tree", tree)) == tree
    assert git(repo, "cat-file", "-t", tree) == "tree"


def test_a_shared_repository_is_left_to_git(repo: Path) -> None:
    """Its objects take the group's permissions: git writes them."""
    assert loose_objects.tree_writer(repo / ".git", 20) is not None
    git(repo, "config", "core.sharedRepository", "group")
    assert loose_objects.tree_writer(repo / ".git", 20) is None
    git(repo, "config", "core.sharedRepository", "umask")
    assert loose_objects.tree_writer(repo / ".git", 20) is not None


def git_bytes(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, check=True).stdout


def test_the_trees_made_are_sound(repo: Path) -> None:
    deep_change(based(repo))
    symlink(repo)
    nested_repository(repo)
    maker = Writer(repo)
    tree = tree_of_index(repo / ".git" / "index", 20, maker, there(repo))
    assert tree is not None and len(maker.listings) == 6
    fsck = subprocess.run(
        ["git", "fsck", "--no-dangling", "--strict"], cwd=repo, capture_output=True, text=True
    )
    assert fsck.returncode == 0 and not fsck.stdout, fsck.stdout + fsck.stderr
    assert git(repo, "cat-file", "-t", tree) == "tree"
    assert "\tdeep\n" in git(repo, "cat-file", "-p", tree) + "\n"
    assert tree == write_tree(repo)


def test_a_path_in_conflict_is_left_to_git(repo: Path) -> None:
    commit(repo, {"f.txt": "base\n"})
    git(repo, "checkout", "-q", "-b", "side")
    commit(repo, {"f.txt": "side\n"})
    git(repo, "checkout", "-q", "main")
    commit(repo, {"f.txt": "main\n"})
    assert subprocess.run(["git", "merge", "-q", "side"], cwd=repo, capture_output=True).returncode
    assert ours(repo) == (None, 0)
    assert subprocess.run(["git", "write-tree"], cwd=repo, capture_output=True).returncode


def test_intent_to_add_is_left_to_git(repo: Path) -> None:
    based(repo)
    (repo / "other/new.txt").write_text("new\n")
    git(repo, "add", "-N", "other/new.txt")
    assert ours(repo) == (None, 0)


def test_a_split_index_is_left_to_git(repo: Path) -> None:
    new_root_file(based(repo))
    git(repo, "update-index", "--split-index")
    assert ours(repo) == (None, 0)


def test_a_sparse_index_is_left_to_git(repo: Path) -> None:
    based(repo)
    git(repo, "sparse-checkout", "init", "--cone", "--sparse-index")
    git(repo, "sparse-checkout", "set", "other")
    new_root_file(repo)
    if b"sdir" not in (repo / ".git" / "index").read_bytes():
        pytest.skip(f"{git(repo, 'version')} wrote no sparse index (index.sparse is 2.32+)")
    assert ours(repo) == (None, 0)


def test_more_trees_than_most_are_left_to_git(repo: Path) -> None:
    deep_change(based(repo))
    assert ours(repo, most=3) == (None, 0)
    assert ours(repo, most=0) == (None, 0)
    tree, calls = ours(repo, most=4)
    assert calls == 4 and tree == write_tree(repo)


def test_a_mode_git_would_write_as_is_is_left_to_git(repo: Path) -> None:
    """An old git wrote 100664; git 2.39 reads the mode as is and write-tree writes it so."""
    new_root_file(based(repo))
    index = repo / ".git" / "index"
    data = bytearray(index.read_bytes())
    at = data.index(b"top.txt\0") - 2 - 20 - 16  # flags, object id, uid, gid, size: the mode
    assert int.from_bytes(data[at : at + 4], "big") == 0o100644
    data[at : at + 4] = (0o100664).to_bytes(4, "big")
    index.write_bytes(with_checksum(data))
    assert ours(repo) == (None, 0)
    raw = subprocess.run(  # raw: `cat-file -p` shows every mode the canonical way
        ["git", "cat-file", "tree", write_tree(repo)], cwd=repo, capture_output=True, check=True
    ).stdout
    assert b"100664 top.txt\0" in raw


def _damaged_repo(tmp_path: Path) -> tuple[Path, bytes, str]:
    """A repository whose cache tree has valid and invalid nodes: (repo, its index, the tree)."""
    repo = make_repo(tmp_path)
    commit(repo, {"a/b/f": "f\n", "a/g": "g\n", "c/h": "h\n", "d/i": "i\n"})
    settle(repo)
    (repo / "c/h").write_text("changed\n")
    add_all(repo)
    data = (repo / ".git" / "index").read_bytes()
    tree, calls = ours(repo)
    assert calls == 2 and tree is not None
    return repo, data, tree


def agreed(repo: Path, data: bytes) -> str | None:
    """Ours on data as repo's index, which must be None or what `git write-tree` prints for
    that same index (on a copy: write-tree rewrites the cache tree of the index it reads)."""
    (repo / ".git" / "index").write_bytes(data)
    tree, _ = ours(repo)
    if tree is not None:
        copy = repo.parent / "index-copy"
        copy.write_bytes(data)
        env = {**os.environ, "GIT_INDEX_FILE": str(copy)}
        said = subprocess.run(["git", "write-tree"], cwd=repo, env=env, capture_output=True)
        assert said.returncode == 0 and said.stdout.decode().strip() == tree, said.stderr
    return tree


def test_an_index_cut_short_in_its_cache_tree_is_left_to_git(tmp_path: Path) -> None:
    repo, data, tree = _damaged_repo(tmp_path)
    start, end = tree_extension(repo)
    for size in range(start, len(data)):
        assert agreed(repo, data[:size]) is None, size
    # cut short with its size and checksum made to fit: git could have written that much
    for size in range(start + 8, end):
        cut = bytearray(data[:size] + data[end:])
        cut[start + 4 : start + 8] = (size - start - 8).to_bytes(4, "big")
        assert agreed(repo, with_checksum(cut)) in (None, tree), size


def test_a_damaged_cache_tree_is_left_to_git_or_read_as_git_reads_it(tmp_path: Path) -> None:
    """Any byte of the extension changed: None (the checksum). Changed with the checksum made
    again: None, or what write-tree makes of it: a signature no longer TREE, and git ignores
    the extension and makes every directory; a count one off, and git would skip one entry too
    many or too few. The tree ids themselves are taken on trust (write-tree takes them too
    when it has those objects), so they are not changed here."""
    repo, data, _ = _damaged_repo(tmp_path)
    start, end = tree_extension(repo)
    ids = [bytes.fromhex(git(repo, "rev-parse", f"HEAD:{d}")) for d in ("a", "a/b", "d")]
    trusted = {at for oid in ids for at in range(data.index(oid), data.index(oid) + 20)}
    answered = 0
    for at in range(start, end):
        for flip in (0xFF, 0x01):
            damaged = bytearray(data)
            damaged[at] ^= flip
            assert agreed(repo, bytes(damaged)) is None, at
            if at not in trusted:
                answered += agreed(repo, with_checksum(damaged)) is not None
    assert answered >= 4  # a signature flipped to another optional one (A-Z): all made


Node = tuple[bytes, int, str | None, list["Node"]]  # name, entry count, tree id, subtrees


def _encoded(node: Node) -> bytes:
    name, count, oid, subtrees = node
    head = name + b"\0" + f"{count} {len(subtrees)}\n".encode()
    return b"".join([head, bytes.fromhex(oid or ""), *map(_encoded, subtrees)])


def _with_cache_tree(repo: Path, data: bytes, root: Node) -> bytes:
    start, end = tree_extension(repo)
    tree = _encoded(root)
    return with_checksum(data[:start] + b"TREE" + len(tree).to_bytes(4, "big") + tree + data[end:])


@pytest.mark.parametrize(
    "shape",
    [
        "as git wrote it",
        "a count one off",
        "a count of 0",
        "a name twice",
        "a slash in a name",
        "a root with a name",
    ],
)
def test_a_cache_tree_git_would_not_read_so_is_left_to_git(tmp_path: Path, shape: str) -> None:
    """Cache trees git could not have written, each made so that a reader without the check
    that refuses it would answer wrong: git skips as many entries as a valid node counts,
    dies on a name twice, never looks up a name with a slash, and ignores a cache tree whose
    root has a name."""
    repo, data, tree = _damaged_repo(tmp_path)
    a, b, d, old_root = (git(repo, "rev-parse", f"HEAD:{p}") for p in ("a", "a/b", "d", ""))
    a_node: Node = (b"a", 2, a, [(b"b", 1, b, [])])
    c_node: Node = (b"c", -1, None, [])
    d_node: Node = (b"d", 1, d, [])
    root: Node = {
        "as git wrote it": (b"", -1, None, [a_node, c_node, d_node]),
        "a count one off": (b"", -1, None, [(b"a", 3, a, a_node[3]), c_node, d_node]),
        "a count of 0": (b"", -1, None, [a_node, c_node, (b"d", 0, d, [])]),
        "a name twice": (b"", -1, None, [a_node, c_node, (b"d", 1, a, []), d_node]),
        "a slash in a name": (
            b"",
            -1,
            None,
            [(b"a", -1, None, []), (b"a/b", 1, d, []), c_node, d_node],
        ),
        "a root with a name": (b"x", 5, old_root, [a_node, c_node, d_node]),
    }[shape]
    expected = tree if shape == "as git wrote it" else None
    assert agreed(repo, _with_cache_tree(repo, data, root)) == expected


def _renamed(data: bytes, old: bytes, new: bytes) -> bytes:
    """data with the path old renamed to new, of the same length (a version 2 index). The
    path is found with the flags before it (its length) and the NUL after it: the name alone
    can turn up in an object id or a time stamp."""
    assert len(old) == len(new) < 0xFFF
    flags = len(old).to_bytes(2, "big")
    assert data.count(flags + old + b"\0") == 1
    return with_checksum(data.replace(flags + old + b"\0", flags + new + b"\0"))


@pytest.mark.parametrize("between", [[], ["a-b"]])
def test_a_name_both_file_and_directory_is_left_to_git(repo: Path, between: list[str]) -> None:
    """git checks only neighbours ("You have both a and a/f"); with a-b between them it would
    write a tree with two entries named a."""
    commit(repo, {"_": "file\n", "a/f": "f\n", **{name: "x\n" for name in between}})
    new_root_file(repo)
    data = _renamed((repo / ".git" / "index").read_bytes(), b"_", b"a")
    (repo / ".git" / "index").write_bytes(data)
    assert ours(repo) == (None, 0)
    written = subprocess.run(["git", "write-tree"], cwd=repo, capture_output=True, text=True)
    assert (written.returncode != 0) == (not between), written.stderr
    if between:
        listed = git(repo, "ls-tree", "--name-only", written.stdout.strip()).split("\n")
        assert listed.count("a") == 2


def test_a_null_object_id_is_left_to_git(repo: Path) -> None:
    """write-tree fails on it; a tree could still be made naming it (as a gitlink)."""
    index_info(repo, [("160000", "12" * 20, "link")])
    data = (repo / ".git" / "index").read_bytes()
    data = with_checksum(data.replace(bytes.fromhex("12" * 20), bytes(20)))
    (repo / ".git" / "index").write_bytes(data)
    assert ours(repo) == (None, 0)
    assert subprocess.run(["git", "write-tree"], cwd=repo, capture_output=True).returncode


def _drop_object(repo: Path, oid: str) -> None:
    """Remove a loose object, as a `git gc --prune=now` of another agent's might."""
    (repo / ".git" / "objects" / oid[:2] / oid[2:]).unlink()


@pytest.mark.parametrize("what", ["a blob listed", "a tree from the cache tree", "the root"])
def test_an_object_the_tree_would_name_that_is_gone_is_left_to_git(repo: Path, what: str) -> None:
    """write-tree makes sure each object exists: a cache-tree id it lacks it makes again, a
    blob it lacks fails it ("invalid object"). A tree naming what is not there never comes
    from here."""
    based(repo)
    if what == "the root":
        git(repo, "read-tree", "HEAD")  # the whole cache tree valid
        _drop_object(repo, git(repo, "rev-parse", "HEAD^{tree}"))
    else:
        new_root_file(repo)  # the root to make; its other entries named as they are
        gone = "HEAD:top.txt" if what == "a blob listed" else "HEAD:other"
        _drop_object(repo, git(repo, "rev-parse", gone))
    assert ours(repo) == (None, 0)
    written = subprocess.run(["git", "write-tree"], cwd=repo, capture_output=True, text=True)
    assert (written.returncode != 0) == (what == "a blob listed"), written.stderr


def test_an_index_of_more_entries_than_python_reads_fast_is_left_to_git(repo: Path) -> None:
    index_info(
        repo,
        [
            ("100644", git(repo, "rev-parse", "HEAD:README.md"), f"many/f{i}")
            for i in range(index_tree.MOST_ENTRIES)
        ],
    )
    assert ours(repo)[0] is None
    git(repo, "rm", "-q", "--cached", "many/f0")
    tree, made = ours(repo)
    assert tree == write_tree(repo) and made == 2


def test_a_file_where_an_object_folder_should_be_is_not_taken_for_the_object(
    repo: Path,
) -> None:
    """objects/xx a file (an agent's doing): the object is not there, and cannot be written;
    git is asked (and says why), never an id returned for nothing."""
    writer = loose_objects.tree_writer(repo / ".git", 20)
    assert writer is not None
    content = b"100644 f\0" + bytes.fromhex(git(repo, "rev-parse", "HEAD:README.md"))
    oid = git_stdin(repo, content)
    folder = repo / ".git" / "objects" / oid[:2]
    if folder.exists():
        shutil.rmtree(folder)
    folder.write_text("not a folder\n")
    with pytest.raises(loose_objects.NotWritten):
        writer(content)


def git_stdin(repo: Path, content: bytes) -> str:
    """The id git gives a tree of that content, without writing it."""
    done = subprocess.run(
        ["git", "hash-object", "-t", "tree", "--stdin"],
        cwd=repo,
        input=content,
        capture_output=True,
        check=True,
    )
    return done.stdout.decode().strip()


def test_a_bare_shared_repository_line_counts_as_shared(repo: Path) -> None:
    """`sharedRepository` with no value is true, which git reads as "group"."""
    config = repo / ".git" / "config"
    config.write_text(config.read_text() + "[core]\n\tsharedRepository\n")
    assert loose_objects.tree_writer(repo / ".git", 20) is None


def test_objects_take_the_umask_as_gits_do(repo: Path) -> None:
    loose_objects._umask.cache_clear()
    old = os.umask(0o077)
    try:
        writer = loose_objects.tree_writer(repo / ".git", 20)
        assert writer is not None
        oid = writer(b"100644 umask\0" + bytes.fromhex(git(repo, "rev-parse", "HEAD:README.md")))
    finally:
        os.umask(old)
        loose_objects._umask.cache_clear()
    mode = (repo / ".git" / "objects" / oid[:2] / oid[2:]).stat().st_mode & 0o777
    assert oct(mode) == oct(0o400)
