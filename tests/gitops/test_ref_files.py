"""read_refs lists what `git for-each-ref` lists in the main worktree, read from the files
alone: every case here is checked against real git (2.39 at the time of writing), whatever
git does, and None is checked where git must be asked."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from genesis_par.gitops.guard_refs import all_refs
from genesis_par.gitops.ref_files import Refs, read_refs_and_links
from genesis_par.gitops.refs import RepoPaths
from tests.conftest import commit, git

FORMAT = "--format=%(objectname) %(refname) %(symref)"


def for_each_ref(repo: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "for-each-ref", FORMAT], cwd=repo, capture_output=True)


def read_refs(common_dir: Path) -> dict[str, str] | None:
    """The refs' values read_refs_and_links finds; None where it leaves them to git."""
    found = read_refs_and_links(common_dir)
    return None if found is None else found.values


def listed(repo: Path) -> Refs:
    """What git lists in the worktree at repo, decoded as gitops decodes git's output. Split on
    "\\n" only: str.splitlines() would also split names holding U+2028 or U+0085."""
    done = for_each_ref(repo)
    assert done.returncode == 0, done.stderr
    values, links = {}, {}
    for line in done.stdout.decode("utf-8", "surrogateescape").split("\n"):
        if line:
            oid, ref, end = line.split(" ", 2)
            values[ref] = oid
            if end:
                links[ref] = end
    return Refs(values, links)


def same_as_git(repo: Path) -> dict[str, str]:
    """read_refs of repo's common dir, asserted equal to git's list, in git's order, and the
    symbolic refs' ends (%(symref)) with it."""
    found = read_refs_and_links(repo / ".git")
    git_found = listed(repo)
    assert found is not None
    assert list(found.values.items()) == list(git_found.values.items())
    assert list(found.symbolic.items()) == list(git_found.symbolic.items())
    assert read_refs(repo / ".git") == found.values
    return found.values


def loose(repo: Path, name: str | bytes, content: bytes) -> None:
    """Write a loose ref file by hand, as git never would."""
    path = Path(os.fsdecode(os.fsencode(repo / ".git" / "refs") + b"/" + os.fsencode(name)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def head(repo: Path) -> bytes:
    return git(repo, "rev-parse", "HEAD").encode()


# Scenarios: each changes the repository fixture (one commit on main) in one way.


def branches_and_tags(repo: Path) -> None:
    git(repo, "branch", "feature")
    git(repo, "branch", "a/b/c")
    git(repo, "tag", "light")
    git(repo, "tag", "-a", "-m", "annotated", "annotated")
    git(repo, "update-ref", "refs/one-level", "HEAD")
    commit(repo, {"f.txt": "two\n"})
    # %(objectname) of an annotated tag is the tag object, not the commit it peels to
    assert git(repo, "rev-parse", "annotated") != git(repo, "rev-parse", "annotated^{}")


def non_ascii_names(repo: Path) -> None:
    for name in ("é/ünï", "日本/語", "line\u2028sep", "nel\x85", "emoji-🌱"):
        git(repo, "branch", name)
    loose(repo, b"heads/latin-1-caf\xe9", head(repo) + b"\n")  # not UTF-8: surrogateescape


def packed(repo: Path) -> None:
    branches_and_tags(repo)
    git(repo, "pack-refs", "--all")
    text = (repo / ".git" / "packed-refs").read_text()
    assert text.startswith("# pack-refs with:") and "\n^" in text  # the annotated tag peeled
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()


def header_only_packed_refs(repo: Path) -> None:
    git(repo, "tag", "light")
    git(repo, "pack-refs")  # tags only: main stays loose
    git(repo, "tag", "-d", "light")
    assert (repo / ".git" / "packed-refs").read_text().startswith("# pack-refs with:")
    assert len((repo / ".git" / "packed-refs").read_text().splitlines()) == 1


def packed_and_loose_differ(repo: Path) -> None:
    packed(repo)
    commit(repo, {"f.txt": "three\n"})  # main loose again, its old value still packed
    assert "refs/heads/main" in (repo / ".git" / "packed-refs").read_text()
    assert (repo / ".git" / "refs" / "heads" / "main").exists()


def packed_ref_deleted(repo: Path) -> None:
    packed(repo)
    git(repo, "branch", "-D", "feature")
    git(repo, "tag", "-d", "annotated")


def remote_with_symbolic_head(repo: Path) -> None:
    git(repo, "remote", "add", "o", str(repo))
    git(repo, "update-ref", "refs/remotes/o/main", "HEAD")
    git(repo, "symbolic-ref", "refs/remotes/o/HEAD", "refs/remotes/o/main")
    assert "refs/remotes/o/HEAD" in listed(repo).values


def dangling_symbolic_ref(repo: Path) -> None:
    remote_with_symbolic_head(repo)
    git(repo, "symbolic-ref", "refs/remotes/o/HEAD", "refs/remotes/o/gone")
    git(repo, "branch", "packed")
    git(repo, "pack-refs", "--all")
    git(repo, "symbolic-ref", "refs/heads/packed", "refs/heads/gone")  # hides the packed one
    found = listed(repo).values
    assert "refs/remotes/o/HEAD" not in found and "refs/heads/packed" not in found


def symbolic_ref_chains(repo: Path) -> None:
    """Git reads at most 5 refs to resolve one: 4 symbolic hops resolve, 5 do not; a cycle
    does not; a symbolic ref to a packed ref resolves through packed-refs."""
    git(repo, "tag", "light")
    git(repo, "pack-refs", "--all")
    commit(repo, {"f.txt": "two\n"})  # main loose, light packed
    for target in ("refs/heads/main", "refs/tags/light"):
        previous = target
        for hop in range(1, 7):
            name = f"refs/chain{target.rsplit('/', 1)[1]}/{hop}"
            git(repo, "symbolic-ref", name, previous)
            previous = name
    git(repo, "symbolic-ref", "refs/cycle/a", "refs/cycle/b")
    git(repo, "symbolic-ref", "refs/cycle/b", "refs/cycle/a")
    found = listed(repo).values
    assert "refs/chainmain/4" in found and "refs/chainmain/5" not in found


def stray_lock_and_dot_files(repo: Path) -> None:
    oid = head(repo) + b"\n"
    for name in ("heads/x.lock", "heads/main.lock", "heads/.dot", "tags/.hidden/t", "d.lock/c"):
        loose(repo, name, oid)
    (repo / ".git" / "packed-refs.lock").write_bytes(b"")


def garbage_loose_files(repo: Path) -> None:
    """Broken loose files are left out; one over a packed ref hides it; whitespace, anything
    after it, and a NUL end an object name; git trims trailing whitespace first."""
    git(repo, "branch", "feature")
    git(repo, "pack-refs", "--all")
    oid = head(repo)
    for name, content in {
        "heads/feature": b"garbage\n",  # hides the packed feature
        "heads/to-feature": b"ref: refs/heads/feature\n",
        "heads/null": b"0" * 40 + b"\n",
        "heads/to-null": b"ref: refs/heads/null\n",
        "heads/empty": b"",
        "heads/missing-object": b"1234567890" * 4 + b"\n",  # listed: the format reads no object
        "heads/upper": oid.upper(),
        "heads/junk": oid + b" trailing words\n",
        "heads/tab": oid + b"\tx\n",
        "heads/nul": oid + b"\0garbage",
        "heads/vertical-tab": oid + b"\x0bx\n",  # not whitespace to git
        "heads/long": oid + b"0\n",
        "heads/short": oid[:39] + b"\n",
        "heads/sha256-length": oid + oid[:24] + b"\n",
        "heads/big": oid + b" " * 5000 + b"x",
        "heads/sym-crlf": b"ref:\trefs/heads/main\r\n\r\n",
        "heads/sym-space-nul": b"ref: refs/heads/main \0x",  # target "refs/heads/main ": bad
        "heads/sym-nul": b"ref:refs/heads/main\0 x",
        "heads/sym-big": b"ref: refs/heads/main" + b" " * 5000 + b"x",
        "heads/sym-bad-target": b"ref: refs/heads/a..b\n",
        "heads/sym-empty": b"ref:\n",
        "heads/sym-words": b"ref: no such ref\n",
        "heads/sym-at": b"ref: @\n",
        "heads/sym-dot": b"ref: .git\n",
        "heads/sym-to-lock": b"ref: refs/heads/x.lock\n",
        "heads/sym-to-folder": b"ref: refs/heads\n",
    }.items():
        loose(repo, name, content)
    loose(repo, "heads/x.lock", oid + b"\n")
    found = listed(repo).values
    assert "refs/heads/feature" not in found and "refs/heads/missing-object" in found


def tricky_names(repo: Path) -> None:
    oid = head(repo) + b"\n"
    valid = ["a./b", "a{b", "a@b", "@", "a.lock.b", "a,b!#$%&()|<>=+;'\"", "ok./c", "-dash"]
    bad = ["a@{b", "a b", "a..b", "x\\y", "trail.", "~x", "a:b", "a?b", "a*b", "a[b", "a^b"]
    bad += ["tab\tx", "del\x7f", "nl\nx", "dots..dir/c", "bad@{/c"]
    for name in valid + bad:
        loose(repo, f"heads/{name}", oid)
    found = listed(repo).values
    assert {f"refs/heads/{name}" for name in valid} <= found.keys()
    assert not {f"refs/heads/{name}" for name in bad} & found.keys()


def hand_written_packed_refs(repo: Path) -> None:
    """No header, out of order: git sorts it; it lists a packed all-zero object name, but not
    a symbolic ref resolving to it."""
    oid = head(repo)
    records = [b"refs/heads/z", b"refs/tags/t", b"refs/heads/a", b"refs/heads/main"]
    text = b"".join(oid + b" " + name + b"\n" for name in records)
    (repo / ".git" / "packed-refs").write_bytes(text + b"0" * 40 + b" refs/heads/zero\n")
    (repo / ".git" / "refs" / "heads" / "main").unlink()
    loose(repo, "heads/to-zero", b"ref: refs/heads/zero\n")
    assert "refs/heads/zero" in listed(repo).values


def main_worktree_bisect(repo: Path) -> None:
    """The main worktree's own refs live in the common dir: listed (and never packed)."""
    for n in range(3):
        commit(repo, {"f.txt": f"{n}\n"})
    git(repo, "bisect", "start", "HEAD", "HEAD~3")
    git(repo, "update-ref", "refs/worktree/w", "HEAD")
    git(repo, "update-ref", "refs/rewritten/r", "HEAD")
    git(repo, "pack-refs", "--all")
    found = listed(repo).values
    assert "refs/bisect/bad" in found and "refs/worktree/w" in found


def empty_folders(repo: Path) -> None:
    (repo / ".git" / "refs" / "heads" / "empty" / "deeper").mkdir(parents=True)
    (repo / ".git" / "refs" / "nothing").mkdir()


SCENARIOS = [
    branches_and_tags,
    non_ascii_names,
    packed,
    header_only_packed_refs,
    packed_and_loose_differ,
    packed_ref_deleted,
    remote_with_symbolic_head,
    dangling_symbolic_ref,
    symbolic_ref_chains,
    stray_lock_and_dot_files,
    garbage_loose_files,
    tricky_names,
    hand_written_packed_refs,
    main_worktree_bisect,
    empty_folders,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
def test_lists_what_for_each_ref_lists(repo: Path, scenario: Callable[[Path], None]) -> None:
    scenario(repo)
    same_as_git(repo)


def test_other_worktrees_own_refs_are_not_listed(repo: Path, tmp_path: Path) -> None:
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", "-b", "side", str(linked))
    commit(linked, {"f.txt": "two\n"})
    git(linked, "bisect", "start", "HEAD", "main")
    git(linked, "update-ref", "refs/worktree/x", "HEAD")
    git(linked, "update-ref", "refs/rewritten/y", "HEAD")
    assert {"refs/bisect/bad", "refs/worktree/x"} <= listed(linked).values.keys()
    found = same_as_git(repo)
    assert not [ref for ref in found if ref.startswith(("refs/bisect/", "refs/worktree/"))]
    assert "refs/heads/side" in found


def test_sha256_repository(tmp_path: Path) -> None:
    repo = tmp_path / "sha256"
    repo.mkdir()
    git(repo, "init", "-q", "--object-format=sha256", "-b", "main")
    commit(repo, {"f.txt": "one\n"})
    git(repo, "tag", "-a", "-m", "annotated", "annotated")
    git(repo, "branch", "feature")
    git(repo, "pack-refs", "--all")
    commit(repo, {"f.txt": "two\n"})
    git(repo, "symbolic-ref", "refs/remotes/o/HEAD", "refs/heads/feature")
    loose(repo, "heads/sha1-length", head(repo)[:40] + b"\n")  # broken here
    found = same_as_git(repo)
    assert len(found["refs/heads/main"]) == 64 and "refs/heads/sha1-length" not in found


def test_empty_repository(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    assert read_refs(tmp_path / ".git") == listed(tmp_path).values == {}


def test_refstorage_files_is_read(repo: Path) -> None:
    with (repo / ".git" / "config").open("a") as config:
        config.write("[extensions]\n\trefStorage = files\n")
    git(repo, "branch", "feature")
    assert "refs/heads/feature" in same_as_git(repo)


@pytest.mark.parametrize(
    "config",
    [
        "[extensions]\n\trefstorage = reftable\n",
        '[Extensions]\n\trefStorage = "reftable" ; a comment\n',
        "[core]\n\trepositoryformatversion = 1\n[extensions]\n\trefstorage=reftable\n",
        "[extensions]\n\tobjectFormat = sha3\n",
    ],
)
def test_none_for_refs_not_in_files(repo: Path, config: str) -> None:
    with (repo / ".git" / "config").open("a") as file:
        file.write(config)
    assert read_refs(repo / ".git") is None


def test_none_for_a_reftable_folder(repo: Path) -> None:
    (repo / ".git" / "reftable").mkdir()
    assert read_refs(repo / ".git") is None


def test_none_for_a_symbolic_link_in_refs(repo: Path) -> None:
    (repo / ".git" / "refs" / "heads" / "link").symlink_to("main")
    assert read_refs(repo / ".git") is None


def test_none_for_a_symbolic_ref_outside_refs(repo: Path) -> None:
    """Git resolves `ref: HEAD` through HEAD; this reader reads refs/ and packed-refs only."""
    loose(repo, "heads/to-head", b"ref: HEAD\n")
    assert "refs/heads/to-head" in listed(repo).values
    assert read_refs(repo / ".git") is None


REFUSED = {
    "other-comment": b"# hello\n{oid} refs/heads/x\n",
    "unterminated": b"{oid} refs/heads/x",
    "blank-line": b"{oid} refs/heads/x\n\n",
    "two-peeled": b"{oid} refs/heads/x\n^{oid}\n^{oid}\n",
    "peeled-first": b"^{oid}\n{oid} refs/heads/x\n",
}


@pytest.mark.parametrize("lines", REFUSED.values(), ids=list(REFUSED))
def test_none_for_packed_refs_git_refuses(repo: Path, lines: bytes) -> None:
    (repo / ".git" / "packed-refs").write_bytes(lines.replace(b"{oid}", head(repo)))
    assert for_each_ref(repo).returncode != 0
    assert read_refs(repo / ".git") is None


READ_OTHERWISE = {
    "twice": b"{oid} refs/heads/x\n{oid} refs/heads/x\n",
    "tab": b"{oid}\trefs/heads/x\n",
    "upper-case": b"{upper} refs/heads/x\n",
    "bad-name": b"{oid} refs/heads/a..b\n",
    "crlf": b"{oid} refs/heads/x\r\n",
    "outside-refs": b"{oid} HEAD\n",
}


@pytest.mark.parametrize("lines", READ_OTHERWISE.values(), ids=list(READ_OTHERWISE))
def test_none_for_packed_refs_git_reads_otherwise(repo: Path, lines: bytes) -> None:
    """Lines git never writes: git reads them its own way (lists a name twice, skips a bad
    name); this reader leaves them to git."""
    oid = head(repo)
    text = lines.replace(b"{oid}", oid).replace(b"{upper}", oid.upper())
    (repo / ".git" / "packed-refs").write_bytes(text)
    assert for_each_ref(repo).returncode == 0
    assert read_refs(repo / ".git") is None


def test_a_ref_packed_meanwhile_is_never_missed(repo: Path) -> None:
    """`git pack-refs --all --prune` moves refs from loose files to packed-refs while
    read_refs reads: every ref made before a read began is in what the read returns. (With
    packed-refs read before the loose refs, this fails within a few rounds.)"""
    oid = git(repo, "rev-parse", "HEAD")
    made: list[str] = []

    def make_and_pack() -> None:
        for batch in range(60):
            names = [f"refs/heads/b{batch}/{n}" for n in range(10)]
            stdin = "".join(f"create {name} {oid}\n" for name in names)
            subprocess.run(
                ["git", "update-ref", "--stdin"], cwd=repo, input=stdin.encode(), check=True
            )
            made.extend(names)
            git(repo, "pack-refs", "--all", "--prune")

    reads = 0
    with ThreadPoolExecutor(1) as pool:
        writer = pool.submit(make_and_pack)
        while not writer.done():
            before = list(made)
            found = read_refs(repo / ".git")
            assert found is not None
            assert [name for name in before if found.get(name) != oid] == []
            reads += 1
        writer.result()
    assert reads > 10
    same_as_git(repo)


@pytest.mark.parametrize("readable", [True, False], ids=["from files", "from git"])
def test_the_fences_snapshot_is_gits_list_either_way(repo: Path, readable: bool) -> None:
    """guard_refs.all_refs reads the files, and asks git where the reader cannot tell: the
    same refs and links either way (a name with U+2028 in it included)."""
    remote_with_symbolic_head(repo)
    git(repo, "branch", "line\u2028sep")
    if not readable:
        loose(repo, "heads/to-head", b"ref: HEAD\n")
    assert (read_refs(repo / ".git") is not None) == readable
    found = all_refs(RepoPaths(repo, repo / ".git"))
    assert found == listed(repo)
    assert "refs/heads/line\u2028sep" in found.values and found.symbolic


def test_past_a_few_hundred_refs_the_fence_asks_git(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read here, each ref costs the run's GIL about 12 us; git lists them on another core."""
    from genesis_par.gitops import guard_refs

    read: list[Path] = []

    def counted(common_dir: Path) -> Refs | None:
        read.append(common_dir)
        return read_refs_and_links(common_dir)

    monkeypatch.setattr(guard_refs, "read_refs_and_links", counted)
    monkeypatch.setattr(guard_refs, "MOST_READ_HERE", 2)
    monkeypatch.setattr(guard_refs, "_counts", {})
    git(repo, "branch", "one")
    git(repo, "branch", "two")
    paths = RepoPaths(repo, repo / ".git")
    assert all_refs(paths) == listed(repo) == all_refs(paths)
    assert read == [repo / ".git"]  # the first look found 3 refs: the second asked git
