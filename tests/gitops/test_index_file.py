"""index_file.gitlinks reads the index git wrote and agrees with `git ls-files --stage`, or
refuses (None) and leaves the answer to git: real repositories, every index version and hash."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from genesis_par.gitops import index_file
from genesis_par.gitops.index_file import gitlinks
from tests.conftest import commit, git
from tests.gitops.index_helpers import hash_size, index_info, make_repo, version, with_checksum

LONG = "/".join(["deep" * 50] * 21)  # 4220 bytes: past the 12 bits of an entry's name length
LINKS = ["with space/lib one", "ünïcode/子模块", "raw-\udcff-bytes", LONG, "zz/late link"]


def listed(repo: Path) -> list[str]:
    """What git says: the gitlinks of `git ls-files --stage -z`, in order, each once."""
    out = subprocess.run(
        ["git", "ls-files", "--stage", "-z"], cwd=repo, check=True, capture_output=True
    ).stdout.decode("utf-8", "surrogateescape")
    entries = (e.split("\t", 1) for e in out.split("\0") if e)
    return list(dict.fromkeys(path for meta, path in entries if meta.startswith("160000 ")))


def read(repo: Path) -> list[str] | None:
    return gitlinks(repo / ".git" / "index", hash_size(repo))


def add_nested_repository(repo: Path, path: str, object_format: str) -> None:
    """A folder with a repository of its own, added by `git add --all` as a gitlink."""
    make_repo(repo, object_format, path)
    git(repo, "add", "--all")


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
@pytest.mark.parametrize("index_version", [2, 3, 4])
def test_gitlinks_of_every_kind_as_git_lists_them(
    tmp_path: Path, object_format: str, index_version: int
) -> None:
    repo = make_repo(tmp_path, object_format)
    commit(repo, {f"src/pkg/module_{i:03}.py": f"{i}\n" for i in range(60)})
    add_nested_repository(repo, "vendor/nested", object_format)
    head = git(repo, "rev-parse", "HEAD")
    index_info(repo, [("160000", head, path) for path in LINKS])
    if index_version > 2:  # intent-to-add is an extended flag: git writes version 3 or 4
        (repo / "new file.txt").write_text("new\n")
        git(repo, "add", "-N", "new file.txt")
    git(repo, "update-index", "--index-version", str(index_version))
    assert version(repo) == index_version  # git demotes a 3 without extended flags to 2
    expected = listed(repo)
    assert sorted(expected) == sorted([*LINKS, "vendor/nested"])
    assert read(repo) == expected


def test_an_index_with_no_gitlinks_has_none(repo: Path) -> None:
    commit(repo, {"a/b.txt": "b\n", "c.txt": "c\n"})
    assert read(repo) == [] == listed(repo)


def test_version_4_paths_are_rebuilt_from_the_previous_path(repo: Path) -> None:
    """Each path strips bytes off the one before and adds a suffix; a strip of 128 or more
    takes two bytes of git's varint (which is not LEB128), so a wrong decoder misses or
    misnames the gitlinks that come after."""
    blob = git(repo, "rev-parse", "HEAD:README.md")
    head = git(repo, "rev-parse", "HEAD")
    stem = "shared/" + "x" * 150
    files = [("100644", blob, f"{stem}/{i:03}/file") for i in range(150)]
    files += [("100644", blob, f"{stem[:-i]}/f") for i in range(1, 140, 7)]
    links = [f"{stem}/149/link", f"{stem[:9]}/link", "shared/y/link", "zzz/link"]
    index_info(repo, [*files, *(("160000", head, link) for link in links)])
    git(repo, "update-index", "--index-version", "4")
    assert version(repo) == 4
    assert listed(repo) == sorted(links)
    assert read(repo) == sorted(links)


def test_a_path_in_conflict_counts_once(repo: Path) -> None:
    """A gitlink both sides moved, and a file conflict beside a gitlink that stays."""
    initial = git(repo, "rev-parse", "HEAD")
    index_info(repo, [("160000", initial, "sub"), ("160000", initial, "stays")])
    (repo / "f.txt").write_text("base\n")
    git(repo, "add", "f.txt")
    git(repo, "commit", "-qm", "base")
    for side in ("one", "two"):
        moved_to = git(repo, "rev-parse", "HEAD")  # main for one, one for two: both new
        git(repo, "checkout", "-q", "-b", side, "main")
        index_info(repo, [("160000", moved_to, "sub")])
        (repo / "f.txt").write_text(f"{side}\n")
        git(repo, "add", "f.txt")
        git(repo, "commit", "-qm", side)
    merged = subprocess.run(["git", "merge", "-q", "one"], cwd=repo, capture_output=True)
    assert merged.returncode != 0
    stages = git(repo, "ls-files", "--stage").splitlines()
    assert [line.split()[2] for line in stages if line.endswith("\tsub")] == ["1", "2", "3"]
    assert [line.split()[2] for line in stages if line.endswith("\tf.txt")] == ["1", "2", "3"]
    assert read(repo) == listed(repo) == ["stays", "sub"]


def test_a_sparse_checkout_without_sparse_index_is_read(repo: Path) -> None:
    """Skip-worktree is an extended flag: the index is version 3 and still read."""
    commit(repo, {"a/f": "a\n", "b/f": "b\n"})
    index_info(repo, [("160000", git(repo, "rev-parse", "HEAD"), "b/link")])
    git(repo, "commit", "-qm", "link")
    git(repo, "sparse-checkout", "set", "--cone", "a")
    assert version(repo) == 3
    assert read(repo) == listed(repo) == ["b/link"]


def test_a_sparse_index_is_left_to_git(repo: Path) -> None:
    commit(repo, {f"{d}/f": f"{d}\n" for d in ("a", "b", "c")})
    git(repo, "sparse-checkout", "init", "--cone", "--sparse-index")
    git(repo, "sparse-checkout", "set", "a")
    data = (repo / ".git" / "index").read_bytes()
    if b"sdir" not in data:
        pytest.skip(f"{git(repo, 'version')} wrote no sparse index (index.sparse is 2.32+)")
    assert "040000 " in git(repo, "ls-files", "--stage", "--sparse")  # a directory entry
    assert read(repo) is None


def test_a_split_index_is_left_to_git(repo: Path) -> None:
    index_info(repo, [("160000", git(repo, "rev-parse", "HEAD"), "sub")])
    git(repo, "update-index", "--split-index")
    assert list((repo / ".git").glob("sharedindex.*"))
    assert b"link" in (repo / ".git" / "index").read_bytes()
    assert listed(repo) == ["sub"]
    assert read(repo) is None


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"garbage, not an index at all: " * 4,
        b"DIRC\0\0\0\x05\0\0\0\0" + bytes(20),  # version 5
        b"DIRX\0\0\0\x02\0\0\0\0" + bytes(20),
        b"DIRC\0\0\0\x02\0\0\0\x01" + bytes(20),  # one entry announced, none there
    ],
)
def test_what_is_not_an_index_is_left_to_git(tmp_path: Path, content: bytes) -> None:
    index = tmp_path / "index"
    index.write_bytes(content)
    assert gitlinks(index, 20) is None


def test_a_missing_or_unreadable_index_is_left_to_git(tmp_path: Path) -> None:
    assert gitlinks(tmp_path / "missing", 20) is None
    assert gitlinks(tmp_path, 20) is None  # a folder


def test_an_empty_index_is_read(tmp_path: Path) -> None:
    repo = tmp_path / "empty"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "update-index", "--add", "--cacheinfo", f"100644,{'e' * 40},gone")
    git(repo, "update-index", "--force-remove", "gone")
    assert gitlinks(repo / ".git" / "index", 20) == []


@pytest.mark.parametrize("index_version", [2, 4])
def test_an_index_cut_short_is_left_to_git(repo: Path, index_version: int) -> None:
    """Cut anywhere among the entries: None. Cut in the extensions: None, or the right answer
    when what is left happens to end where a checksum could (git would read that too)."""
    commit(repo, {f"dir/file{i}": f"{i}\n" for i in range(6)})
    index_info(repo, [("160000", git(repo, "rev-parse", "HEAD"), "dir/link")])
    git(repo, "update-index", "--index-version", str(index_version))
    data = (repo / ".git" / "index").read_bytes()
    entries_end = data.rindex(b"TREE")  # the cache tree comes right after the entries
    cut = repo.parent / "cut"
    for size in range(len(data)):
        cut.write_bytes(data[:size])
        found = gitlinks(cut, 20)
        if size < entries_end + 20:
            assert found is None, size
        else:
            assert found in (None, ["dir/link"]), size
    cut.write_bytes(data)
    assert gitlinks(cut, 20) == ["dir/link"] == listed(repo)


def _flags_at(data: bytearray, path: bytes) -> int:
    """Where the flags of path's entry are in a version 2 or 3 index (SHA-1)."""
    at = data.index(path + b"\0")
    return at - 4 if path == b"new.txt" else at - 2  # new.txt has two more flag bytes


def _shorter_name(data: bytearray) -> None:
    data[_flags_at(data, b"the-link") + 1] -= 1


def _unknown_extended_flag(data: bytearray) -> None:
    data[_flags_at(data, b"new.txt") + 2] |= 0x80  # the reserved bit


def _extended_flags_in_version_2(data: bytearray) -> None:
    data[7] = 2


def _extension_past_the_checksum(data: bytearray) -> None:
    size = data.rindex(b"TREE") + 4
    data[size : size + 4] = (int.from_bytes(data[size : size + 4], "big") + 1).to_bytes(4, "big")


@pytest.mark.parametrize(
    "damage",
    [
        _shorter_name,
        _unknown_extended_flag,
        _extended_flags_in_version_2,
        _extension_past_the_checksum,
    ],
)
def test_an_index_that_does_not_add_up_is_left_to_git(
    repo: Path, damage: Callable[[bytearray], None]
) -> None:
    """Each of these still finds the gitlink if its check is skipped, so each check is needed."""
    index_info(repo, [("160000", git(repo, "rev-parse", "HEAD"), "the-link")])
    git(repo, "commit", "-qm", "link")
    (repo / "new.txt").write_text("new\n")
    git(repo, "add", "-N", "new.txt")
    assert version(repo) == 3
    index = repo / ".git" / "index"
    assert read(repo) == ["the-link"]
    data = bytearray(index.read_bytes())
    damage(data)
    index.write_bytes(data)
    assert read(repo) is None


def test_a_damaged_index_never_raises(repo: Path) -> None:
    """Any single byte changed: an answer or None, never an exception."""
    commit(repo, {"a b/c": "c\n"})
    index_info(repo, [("160000", git(repo, "rev-parse", "HEAD"), "a b/link")])
    git(repo, "update-index", "--index-version", "4")
    data = bytearray((repo / ".git" / "index").read_bytes())
    damaged = repo.parent / "damaged"
    for at in range(len(data)):
        data[at] ^= 0xFF
        damaged.write_bytes(data)
        found = gitlinks(damaged, 20)
        assert found is None or all(isinstance(path, str) for path in found)
        assert found is None or at >= 8  # signature and version are always checked
        data[at] ^= 0xFF


def staged(repo: Path) -> list[tuple[int, str, bytes, int]]:
    """(mode, object id, path, stage) of each entry, as `git ls-files --stage -z` lists them."""
    out = subprocess.run(
        ["git", "ls-files", "--stage", "-z"], cwd=repo, check=True, capture_output=True
    ).stdout
    entries = (e.split(b"\t", 1) for e in out.split(b"\0") if e)
    return [
        (int(mode, 8), oid.decode(), path, int(stage))
        for (mode, oid, stage), path in ((meta.split(), path) for meta, path in entries)
    ]


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
@pytest.mark.parametrize("index_version", [2, 3, 4])
def test_read_gives_every_entry_as_git_lists_it(
    tmp_path: Path, object_format: str, index_version: int
) -> None:
    repo = make_repo(tmp_path, object_format)
    commit(repo, {f"src/pkg/module_{i:03}.py": f"{i}\n" for i in range(30)})
    add_nested_repository(repo, "vendor/nested", object_format)
    head = git(repo, "rev-parse", "HEAD")
    blob = git(repo, "rev-parse", "HEAD:README.md")
    index_info(repo, [("160000", head, path) for path in LINKS])
    lines = "".join(f"100644 {blob} {stage}\tin conflict\0" for stage in (1, 2, 3))
    subprocess.run(["git", "update-index", "-z", "--index-info"], cwd=repo, input=lines.encode())
    if index_version > 2:  # extended flags: git writes version 3 or 4
        (repo / "new file.txt").write_text("new\n")
        git(repo, "add", "-N", "new file.txt")
        git(repo, "update-index", "--skip-worktree", "src/pkg/module_007.py")
    git(repo, "update-index", "--index-version", str(index_version))
    assert version(repo) == index_version
    found = index_file.read(repo / ".git" / "index", hash_size(repo))
    assert found is not None
    assert [(e.mode, e.oid, e.path, e.stage) for e in found.entries] == staged(repo)
    assert [e.stage for e in found.entries if e.path == b"in conflict"] == [1, 2, 3]
    flagged = {e.path for e in found.entries if e.skip_worktree}
    added = {e.path for e in found.entries if e.intent_to_add}
    if index_version > 2:
        assert flagged == {b"src/pkg/module_007.py"} and added == {b"new file.txt"}
    else:
        assert flagged == added == set()


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
def test_read_gives_the_valid_directories_of_the_cache_tree(
    tmp_path: Path, object_format: str
) -> None:
    repo = make_repo(tmp_path, object_format)
    folders = ["a", "a/b", "a/b/c", "a/d", "e", "e/f g"]
    commit(repo, {f"{folder}/file": f"{folder}\n" for folder in folders})
    git(repo, "read-tree", "HEAD")  # every directory valid, as `git reset` leaves them
    index = repo / ".git" / "index"
    every = {f.encode(): git(repo, "rev-parse", f"HEAD:{f}") for f in ["", *folders]}
    found = index_file.read(index, hash_size(repo))
    assert found is not None and found.trees == every
    index_info(repo, [("100644", git(repo, "rev-parse", "HEAD:a/file"), "a/b/new")])
    found = index_file.read(index, hash_size(repo))
    assert found is not None
    assert found.trees == {k: v for k, v in every.items() if k not in (b"", b"a", b"a/b")}


def _with_extension(data: bytes, extension: bytes) -> bytes:
    """data with an extension added after the others."""
    return with_checksum(data[:-20] + extension + bytes(20))


@pytest.mark.parametrize(
    ("extension", "readable"),
    [
        (b"ZZZZ\0\0\0\x03abc", True),  # optional (A-Z): git 2.39 skips what it does not know
        (b"zzzz\0\0\0\0", False),  # required: git 2.39 fails on what it does not know
        (b"TREE\0\0\0\x05\x000 0\n", False),  # a second cache tree
    ],
)
def test_extensions_git_must_understand_are_left_to_git(
    repo: Path, extension: bytes, readable: bool
) -> None:
    commit(repo, {"a/b": "b\n"})
    index_info(repo, [("160000", git(repo, "rev-parse", "HEAD"), "link")])
    index = repo / ".git" / "index"
    index.write_bytes(_with_extension(index.read_bytes(), extension))
    assert (subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True).returncode == 0) == (
        readable or extension.startswith(b"TREE")  # git takes the second cache tree
    )
    assert (read(repo) == ["link"]) == readable
    assert (index_file.read(index, 20) is not None) == readable


def test_read_checks_the_checksum_and_gitlinks_does_not(repo: Path) -> None:
    index_info(repo, [("160000", git(repo, "rev-parse", "HEAD"), "link")])
    index = repo / ".git" / "index"
    data = index.read_bytes()
    for checksum in (bytes(20), data[-20:-1] + bytes([data[-1] ^ 1])):  # zeros: index.skipHash
        index.write_bytes(data[:-20] + checksum)
        assert read(repo) == ["link"]
        assert index_file.read(index, 20) is None


def test_entries_out_of_order_are_left_to_git(repo: Path) -> None:
    """git reads them (only fsck checks the order), and write-tree lists a tree's entries in
    index order: a tree out of order."""
    commit(repo, {"b": "b\n", "c": "c\n"})
    index = repo / ".git" / "index"
    data = index.read_bytes()
    named_b = b"\0\x01b\0"  # the flags (a name one byte long), the name, its NUL
    assert data.count(named_b) == 1
    index.write_bytes(with_checksum(data.replace(named_b, b"\0\x01d\0")))
    assert read(repo) is None
    assert index_file.read(index, 20) is None
