"""Corpus stage: declarations, sources through a temp mirror, normalisation, dedupe, splits, hashes."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from gencheck.corpus import (SEP, Document, Vocab, build, content_hash, encode, load_spec, resolve_spec,
                             split_documents, stream)
from gencheck.fsutil import GencheckError, UsageError
from gencheck.sources import iter_members

from conftest import write

DOC = "\\documentclass{article}\n\\begin{document}\nThe proof of the lemma is in the text.\n\\end{document}\n"


def make_tar(path: Path, files: dict[str, bytes]) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_deb(path: Path, files: dict[str, bytes]) -> str:
    """A real .deb layout: an `ar` archive holding debian-binary, control.tar.gz and data.tar.gz."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    members = [("debian-binary", b"2.0\n"), ("control.tar.gz", b""), ("data.tar.gz", buf.getvalue())]
    out = bytearray(b"!<arch>\n")
    for name, data in members:
        out += f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode()
        out += data + (b"\n" if len(data) % 2 else b"")
    path.write_bytes(bytes(out))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def declare(tmp_path: Path, body: str, name: str = "mine") -> Path:
    return write(tmp_path / f"{name}.toml", body)


def url_source(file: str, sha: str) -> str:
    return f'[[sources]]\nkind = "url"\nurl = "https://example.invalid/{file}"\nfile = "{file}"\nsha256 = "{sha}"\n'


def test_fixture_corpus_builds_with_stable_splits(fixture_corpus):
    c = fixture_corpus
    assert len(c.documents) == 8
    assert sorted(sum(c.splits.values(), [])) == list(range(8))
    assert len(c.splits["val"]) >= 1 and len(c.splits["test"]) >= 1
    again = build(resolve_spec("latex-fixture"))
    assert again.content_hash == c.content_hash and again.splits == c.splits


def test_split_is_deterministic_and_by_document():
    a = split_documents(100, (0.8, 0.1, 0.1), seed=7)
    assert a == split_documents(100, (0.8, 0.1, 0.1), seed=7)
    assert a != split_documents(100, (0.8, 0.1, 0.1), seed=8)
    assert (len(a["train"]), len(a["val"]), len(a["test"])) == (80, 10, 10)
    assert not set(a["train"]) & set(a["test"])


def test_tar_in_mirror_offline_dedupe_and_normalise(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    sha = make_tar(mirror / "docs.tar.gz", {
        "top/a.tex": DOC.replace("\n", "\r\n").encode(),
        "top/b.tex": DOC.encode(),  # duplicate of a.tex once line endings are normalised
        "top/c.tex": ("\ufeff" + DOC.replace("lemma", "theorem")).encode(),
        "top/latin1.tex": "caf\xe9".encode("latin-1"),
        "top/notes.txt": b"not selected",
    })
    spec = load_spec(declare(tmp_path, 'format = "latex"\ninclude = ["*.tex"]\n' + url_source("docs.tar.gz", sha)))
    c = build(spec, offline=True, mirrors=[mirror], home=tmp_path / "home")
    assert [d.path for d in c.documents] == ["top/a.tex", "top/c.tex"]
    assert "\r" not in c.documents[0].text and not c.documents[1].text.startswith("\ufeff")
    assert (c.stats.duplicates, c.stats.not_utf8, c.stats.selected) == (1, 1, 4)
    assert c.content_hash == content_hash(c.documents)


def test_content_hash_ignores_archive_bytes(tmp_path):
    files = {"x/a.tex": DOC.encode(), "x/b.tex": DOC.replace("proof", "lemma").encode()}
    hashes = []
    for i, order in enumerate((files, dict(reversed(list(files.items()))))):
        mirror = tmp_path / f"m{i}"
        mirror.mkdir()
        sha = make_tar(mirror / "d.tar.gz", order)
        spec = load_spec(declare(tmp_path, 'format = "latex"\ninclude = ["*.tex"]\n' + url_source("d.tar.gz", sha), f"c{i}"))
        hashes.append(build(spec, offline=True, mirrors=[mirror], home=tmp_path / f"h{i}").content_hash)
    assert hashes[0] == hashes[1]


def test_deb_member_extraction(tmp_path):
    make_deb(tmp_path / "p_1_all.deb", {"usr/share/doc/p/paper.tex.gz": __import__("gzip").compress(DOC.encode())})
    assert list(iter_members(tmp_path / "p_1_all.deb")) == [("usr/share/doc/p/paper.tex", DOC.encode())]


def test_checksum_mismatch_names_the_file(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    make_tar(mirror / "d.tar.gz", {"a.tex": DOC.encode()})
    spec = load_spec(declare(tmp_path, 'format = "latex"\n' + url_source("d.tar.gz", "0" * 64)))
    with pytest.raises(GencheckError, match=r"checksum mismatch for mirror file .*d\.tar\.gz"):
        build(spec, offline=True, mirrors=[mirror], home=tmp_path / "home")


def test_pinned_content_hash_mismatch_refuses(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    sha = make_tar(mirror / "d.tar.gz", {"a.tex": DOC.encode()})
    body = 'format = "latex"\ncontent_sha256 = "' + "1" * 64 + '"\n' + url_source("d.tar.gz", sha)
    with pytest.raises(GencheckError, match="content hash"):
        build(load_spec(declare(tmp_path, body)), offline=True, mirrors=[mirror], home=tmp_path / "home")


def test_offline_and_missing_lists_sources_and_mirror_name(tmp_path):
    spec = load_spec(declare(tmp_path, 'format = "latex"\n' + url_source("gone.tar.gz", "2" * 64)))
    with pytest.raises(GencheckError, match=r"could not get corpus .*gone\.tar\.gz.*GENCHECK_MIRROR"):
        build(spec, offline=True, mirrors=[], home=tmp_path / "home")


def test_corrupt_archive(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    good = mirror / "d.tar.gz"
    noise = hashlib.sha256(b"seed").hexdigest() * 2000  # poorly compressible: the cut lands in the data
    make_tar(good, {"a.tex": (DOC + noise).encode()})
    good.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # truncated
    sha = hashlib.sha256(good.read_bytes()).hexdigest()
    spec = load_spec(declare(tmp_path, 'format = "latex"\n' + url_source("d.tar.gz", sha)))
    with pytest.raises(GencheckError, match="corrupt or truncated archive"):
        build(spec, offline=True, mirrors=[mirror], home=tmp_path / "home")


def test_empty_after_filtering(tmp_path):
    write(tmp_path / "docs" / "a.tex", "tiny")
    body = 'format = "latex"\n[[sources]]\nkind = "dir"\npath = "docs"\n[filters]\nmin_chars = 100\n'
    with pytest.raises(GencheckError, match="empty after filtering"):
        build(load_spec(declare(tmp_path, body)), home=tmp_path / "home")


def test_declaration_typo_names_field_and_line(tmp_path):
    body = 'format = "latex"\n[[sources]]\nkind = "dir"\npath = "d"\n[filters]\nmin_englsh = 0.2\n'
    with pytest.raises(GencheckError, match=r"mine\.toml:6: unknown field 'min_englsh' in \[filters\] \(did you mean 'min_english'\?\)"):
        load_spec(declare(tmp_path, body))


def test_unknown_corpus_lists_known():
    with pytest.raises(UsageError, match=r"unknown corpus 'latx' \(did you mean 'latex'\?\); known: .*latex-fixture"):
        resolve_spec("latx")


def test_user_directory_needs_format(tmp_path):
    write(tmp_path / "mine" / "a.tex", DOC)
    with pytest.raises(UsageError, match="--format"):
        resolve_spec(str(tmp_path / "mine"))
    c = build(resolve_spec(str(tmp_path / "mine"), "latex"), home=tmp_path / "home")
    assert [d.path for d in c.documents] == ["a.tex"]


def test_vocab_and_encoding_round_trip():
    v = Vocab.from_texts(["abcab", "ca\u00e9"], min_count=2)
    assert v.chars[:2] == (SEP, "\x1a") and set(v.chars[2:]) == {"a", "b", "c"}
    ids = encode("abz\u00e9", v)
    assert list(ids) == v.encode("abz\u00e9") and v.decode(ids) == "ab\ufffd\ufffd"
    s = stream(["ab", "c"], v)
    assert list(s) == [0, v.index()["a"], v.index()["b"], 0, v.index()["c"]]


# --- source kinds, nested archives, split members ----------------------------------------------------

def make_tar_xz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


C_FILES = {"kernel/fork.c": b"int fork(void) { return 0; }\n", "kernel/sched/core.c": b"void s(void) { }\n",
           "mm/slab.c": b"void *k(void) { return 0; }\n", "fs/open.c": b"int o(void) { return 1; }\n",
           "kernel/notes.txt": b"not selected\n"}


@pytest.mark.parametrize("kind", ["url", "pypi-sdist", "deb", "mirror"])
def test_every_downloaded_kind_builds_offline_from_a_mirror(tmp_path, kind):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    if kind == "deb":
        sha = make_deb(mirror / "p_1_all.deb", {f"usr/share/doc/p/{k}": v for k, v in C_FILES.items()})
        src = f'kind = "deb"\npackage = "p"\nversion = "1"\nfile = "p_1_all.deb"\nsha256 = "{sha}"\nstrip = 4\n'
    else:
        sha = make_tar(mirror / "p-1.tar.gz", {f"p-1/{k}": v for k, v in C_FILES.items()})
        extra = {"url": 'url = "https://example.invalid/p-1.tar.gz"\n', "pypi-sdist": 'package = "p"\nversion = "1"\n',
                 "mirror": ""}[kind]
        src = f'kind = "{kind}"\n{extra}file = "p-1.tar.gz"\nsha256 = "{sha}"\nstrip = 1\n'
    body = 'format = "c"\ninclude = ["kernel/*.c", "mm/*.c"]\n[[sources]]\n' + src
    c = build(load_spec(declare(tmp_path, body)), offline=True, mirrors=[mirror], home=tmp_path / "home")
    assert [d.path for d in c.documents] == ["kernel/fork.c", "kernel/sched/core.c", "mm/slab.c"]
    assert c.stats.selected == 3 and c.stats.members == 5


def test_inner_archive_of_a_deb_is_read_in_place(tmp_path):
    inner = make_tar_xz({f"linux-source-9/{k}": v for k, v in C_FILES.items()})
    sha = make_deb(tmp_path / "linux-source-9_9_all.deb",
                   {"usr/share/doc/linux-source-9/copyright": b"GPL\n", "usr/src/linux-source-9.tar.xz": inner})
    members = dict(iter_members(tmp_path / "linux-source-9_9_all.deb", inner="usr/src/linux-source-9.tar.xz", strip=1))
    assert members == C_FILES
    skipped = dict(iter_members(tmp_path / "linux-source-9_9_all.deb", inner="usr/src/linux-source-9.tar.xz",
                                strip=1, want=lambda p: p.startswith("mm/")))
    assert skipped["mm/slab.c"] == C_FILES["mm/slab.c"] and skipped["kernel/fork.c"] is None
    body = ('format = "c"\ninclude = ["kernel/*.c", "mm/*.c"]\n[[sources]]\nkind = "deb"\npackage = "linux-source-9"\n'
            f'version = "9"\nfile = "linux-source-9_9_all.deb"\nsha256 = "{sha}"\n'
            'inner = "usr/src/linux-source-9.tar.xz"\nstrip = 1\n')
    c = build(load_spec(declare(tmp_path, body)), offline=True, mirrors=[tmp_path], home=tmp_path / "home")
    assert [d.path for d in c.documents] == ["kernel/fork.c", "kernel/sched/core.c", "mm/slab.c"]


def test_missing_inner_archive_is_named(tmp_path):
    make_deb(tmp_path / "p_1_all.deb", {"usr/src/other.tar.xz": make_tar_xz({"a/b.c": b"x"})})
    with pytest.raises(GencheckError, match=r"p_1_all\.deb.*no member 'usr/src/linux\.tar\.xz'"):
        list(iter_members(tmp_path / "p_1_all.deb", inner="usr/src/linux.tar.xz"))


def test_mirror_copy_and_content_verified_archive_give_one_hash(tmp_path):
    """A pinned .tar.xz in a mirror and a differently ordered, differently topped 'GitHub' archive."""
    files = {"a.tex": DOC.encode(), "sub/b.tex": DOC.replace("proof", "lemma").encode(), "README": b"r"}
    m1, m2 = tmp_path / "m1", tmp_path / "m2"
    m1.mkdir(), m2.mkdir()
    (m1 / "proj-4ac4.tar.xz").write_bytes(make_tar_xz({f"proj-4ac4/{k}": v for k, v in files.items()}))
    sha = hashlib.sha256((m1 / "proj-4ac4.tar.xz").read_bytes()).hexdigest()
    make_tar(m2 / "proj-4ac4815d.tar.gz", {f"proj-4ac4815d/{k}": v for k, v in reversed(list(files.items()))})
    expected = content_hash([Document("a.tex", DOC), Document("sub/b.tex", DOC.replace("proof", "lemma"))])

    def body(pin: str) -> str:
        return (f'format = "latex"\ninclude = ["*.tex"]\ncontent_sha256 = "{pin}"\n'
                f'[[sources]]\nkind = "mirror"\nfile = "proj-4ac4.tar.xz"\nsha256 = "{sha}"\nstrip = 1\n'
                '[[sources]]\nkind = "url"\nurl = "https://example.invalid/proj/archive/4ac4815d.tar.gz"\n'
                'file = "proj-4ac4815d.tar.gz"\nverify = "content"\nstrip = 1\n')

    a = build(load_spec(declare(tmp_path, body(expected), "a")), offline=True, mirrors=[m1], home=tmp_path / "h1")
    b = build(load_spec(declare(tmp_path, body(expected), "b")), offline=True, mirrors=[m2], home=tmp_path / "h2")
    assert a.content_hash == b.content_hash == expected
    with pytest.raises(GencheckError, match="content hash .* differs from the pinned"):
        build(load_spec(declare(tmp_path, body("3" * 64), "c")), offline=True, mirrors=[m2], home=tmp_path / "h3")


def test_content_verified_source_needs_a_pinned_corpus(tmp_path):
    body = 'format = "latex"\n[[sources]]\nkind = "url"\nurl = "https://example.invalid/x.tar.gz"\nfile = "x.tar.gz"\nverify = "content"\n'
    with pytest.raises(GencheckError, match="content_sha256 pinned"):
        load_spec(declare(tmp_path, body))
    with pytest.raises(GencheckError, match="verify 'bytes' is not one of sha256, content"):
        load_spec(declare(tmp_path, body.replace('"content"', '"bytes"')))


@pytest.mark.parametrize("kind,extra", [("deb", 'package = "p"\nversion = "1"\n'),
                                        ("pypi-sdist", 'package = "p"\nversion = "1"\n'), ("mirror", "")])
def test_offline_error_names_the_missing_mirror_file(tmp_path, kind, extra):
    body = f'format = "c"\n[[sources]]\nkind = "{kind}"\n{extra}file = "p-1.tar.gz"\nsha256 = "{"4" * 64}"\n'
    with pytest.raises(GencheckError, match=r"could not get corpus 'mine'.*put p-1\.tar\.gz in a mirror directory"):
        build(load_spec(declare(tmp_path, body)), offline=True, mirrors=[tmp_path / "empty"], home=tmp_path / "home")


AMALGAMATION = """/* the amalgamation's own header */
/****** Begin file a.h ******/
int a;
/****** End of a.h ******/
/****** Begin file b.c ******/
int b1;
/****** Include inc.h in the middle of b.c ******/
/****** Begin file inc.h ******/
#define INC 1
/****** End of inc.h ******/
/****** Continuing where we left off in b.c ******/
int b2;
/****** End of b.c ******/
/****** Begin ../ext/x.c ******/
int x;
/****** End ../ext/x.c ******/
int trailer;
"""
SPLIT = """
[split_members]
members = ["*all.c"]
begin = '/\\*+ Begin (?:file )?(?P<name>\\S+) \\*+/'
end = '/\\*+ End (?:of )?\\S+ \\*+/'
resume = '/\\*+ Continuing where we left off in (?P<name>\\S+) \\*+/'
drop = '/\\*+ Include .* \\*+/'
"""


def test_split_members_cuts_an_amalgamation_into_its_files(tmp_path):
    write(tmp_path / "src" / "all.c", AMALGAMATION)
    write(tmp_path / "src" / "other.c", "int other;\n")
    body = 'format = "c"\n[[sources]]\nkind = "dir"\npath = "src"\n' + SPLIT
    c = build(load_spec(declare(tmp_path, body)), home=tmp_path / "home")
    docs = {d.path: d.text for d in c.documents}
    assert docs == {"all.c": "/* the amalgamation's own header */\nint trailer;\n", "a.h": "int a;\n",
                    "b.c": "int b1;\nint b2;\n", "inc.h": "#define INC 1\n", "ext/x.c": "int x;\n",
                    "other.c": "int other;\n"}
    assert c.stats.split_parts == 5


def test_split_members_repeated_name_and_path_template(tmp_path):
    text = "/****** Begin file a.h ******/\none\n/****** End of a.h ******/\n/****** Begin file a.h ******/\ntwo\n"
    write(tmp_path / "src" / "all.c", text)
    body = 'format = "c"\n[[sources]]\nkind = "dir"\npath = "src"\n' + SPLIT + 'path = "{member}/{name}"\n'
    c = build(load_spec(declare(tmp_path, body)), home=tmp_path / "home")
    assert {d.path: d.text for d in c.documents} == {"all.c/a.h": "one\n", "all.c/a.h~2": "two\n"}


def test_split_members_declaration_errors(tmp_path):
    base = 'format = "c"\n[[sources]]\nkind = "dir"\npath = "src"\n[split_members]\nmembers = ["*.c"]\n'
    with pytest.raises(GencheckError, match="named group"):
        load_spec(declare(tmp_path, base + "begin = 'Begin (\\\\S+)'\n"))
    with pytest.raises(GencheckError, match="not a valid regex"):
        load_spec(declare(tmp_path, base + "begin = 'Begin (?P<name>'\n"))
    with pytest.raises(GencheckError, match=r"unknown field 'begn' in \[split_members\] \(did you mean 'begin'\?\)"):
        load_spec(declare(tmp_path, base + "begn = 'x'\n"))


@pytest.mark.parametrize("table", ["[split_members]\nmembers = ['*.c']\nbegin = '(?P<name>(a|aa)+)'\n",
                                   "split_group = '^((a|aa)+)$'\n"])
def test_a_backtracking_regex_is_one_line_within_its_time_budget(tmp_path, monkeypatch, capsys, table):
    """(a|aa)+ on a line of 46 a's and a '!' backtracks for minutes under `re`; here it stops at the budget."""
    import time

    from gencheck import declaration
    from gencheck.cli import main

    monkeypatch.setattr(declaration, "REGEX_SECONDS", 1.0)
    name = "a" * 46 + "!"
    write(tmp_path / "src" / f"{name}.c", "int x;\n" + name + "\n" + "int y;\n" * 40)
    write(tmp_path / "src" / "b.c", "int b;\n" * 40)
    top, rest = (table, "") if table.startswith("split_group") else ("", table)
    toml = declare(tmp_path, 'format = "c"\n' + top + '[[sources]]\nkind = "dir"\npath = "src"\n' + rest)
    t0 = time.monotonic()
    assert main(["corpus", "build", str(toml), "--offline"]) == 2
    assert time.monotonic() - t0 < 30
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ran past 1 s" in err[0] and str(toml) in err[0], err


def test_chunked_text_corpus_splits_one_book(tmp_path):
    speeches = [f"SPEAKER{i}:\n" + "word " * (40 + i) + "\n" for i in range(30)]
    write(tmp_path / "src" / "book.txt", "\n".join(speeches))
    body = ('format = "text"\n[[sources]]\nkind = "dir"\npath = "src"\n'
            '[split_members]\nmembers = ["book.txt"]\nchunk_chars = 500\n')
    c = build(load_spec(declare(tmp_path, body)), home=tmp_path / "home")
    assert len(c.documents) >= 6 and all(len(d.text) >= 500 for d in c.documents[:-1])
    assert [d.path for d in c.documents][:2] == ["book.txt~0001", "book.txt~0002"]
    assert "".join(d.text + "\n" for d in c.documents)[:-1] == "\n".join(speeches)  # only blank lines dropped
    assert all(c.splits[k] for k in ("train", "val", "test"))


def test_cli_corpus_build_info_and_list_for_a_text_corpus(tmp_path, capsys):
    import json

    from gencheck.cli import main

    write(tmp_path / "src" / "a.txt", "To be, or not to be.\n")
    write(tmp_path / "src" / "b.txt", "That is the question.\n")
    toml = declare(tmp_path, 'format = "text"\nlicense = "public domain"\n[[sources]]\nkind = "dir"\npath = "src"\n')
    assert main(["corpus", "build", str(toml)]) == 0
    assert main(["corpus", "info", str(toml), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert (info["documents"], info["format"], info["structure"]) == (2, "text", None)
    assert main(["corpus", "info", str(toml)]) == 0
    assert "none measured" in capsys.readouterr().out
    assert main(["corpus", "list"]) == 0
    out = capsys.readouterr().out
    assert "latex-fixture" in out and "shakespeare" in out and max(map(len, out.splitlines())) <= 80


def test_declared_size_is_checked(tmp_path):
    write(tmp_path / "docs" / "a.tex", DOC)
    body = 'format = "latex"\ndocuments = 2\nchars = 10\n[[sources]]\nkind = "dir"\npath = "docs"\n'
    with pytest.raises(GencheckError, match=r"built 1 documents / \d+ chars, but .* declares 2 / 10"):
        build(load_spec(declare(tmp_path, body)), home=tmp_path / "home")


def test_fixture_declaration_states_its_size(fixture_corpus):
    spec = fixture_corpus.spec
    assert (spec.documents, spec.chars) == (len(fixture_corpus.documents), fixture_corpus.chars())


def test_folder_corpus_is_rebuilt_when_its_files_change(tmp_path):
    import os

    from gencheck.corpus import built_summary

    folder, home = tmp_path / "docs", tmp_path / "home"
    for name in "abcd":
        write(folder / f"{name}.tex", DOC.replace("lemma", f"lemm{name}"))
    spec = load_spec(declare(tmp_path, 'format = "latex"\n[[sources]]\nkind = "dir"\npath = "docs"\n'))
    first = build(spec, home=home)
    assert [d.path for d in first.documents] == ["a.tex", "b.tex", "c.tex", "d.tex"]
    (folder / "a.tex").unlink()
    changed = write(folder / "b.tex", DOC.replace("lemma", "lemmz"))  # same size, other text
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    write(folder / "e.tex", DOC.replace("lemma", "lemme"))
    assert built_summary(spec, home) is None  # the cached build is of other files
    again = build(spec, home=home)
    assert [d.path for d in again.documents] == ["b.tex", "c.tex", "d.tex", "e.tex"]
    assert again.documents[0].text == DOC.replace("lemma", "lemmz") and again.content_hash != first.content_hash
    assert built_summary(spec, home)["content_hash"] == again.content_hash
    assert build(spec, home=home).content_hash == again.content_hash  # unchanged files: the cache is used


def test_split_group_keeps_each_family_in_one_split():
    from gencheck.corpus import document_groups

    paths = [f"doc/{fam}{k}/x{i}.tex" for fam in ("revtex", "aomart", "llncs", "jmlr", "kluwer") for k in ("", "4")
             for i in range(4)]
    groups = document_groups(paths, r"^doc/([a-z]+)")
    assert groups[:8] == ["revtex"] * 8  # revtex and revtex4 are one family
    s = split_documents(len(paths), (0.6, 0.2, 0.2), 3, groups)
    where = {groups[i]: name for name, idx in s.items() for i in idx}
    for name, idx in s.items():
        assert all(where[groups[i]] == name for i in idx)
    assert sorted(i for idx in s.values() for i in idx) == list(range(len(paths)))
    assert s == split_documents(len(paths), (0.6, 0.2, 0.2), 3, groups)
    assert document_groups(["other/path.tex"], r"^doc/([a-z]+)") == ["other/path.tex"]  # a family of one


def test_split_group_must_be_a_regex_with_a_group(tmp_path):
    decl = tmp_path / "g.toml"
    decl.write_text('format = "latex"\nsplit_group = "^docs/"\n[[sources]]\nkind = "dir"\npath = "."\n')
    with pytest.raises(GencheckError, match="split_group needs a group"):
        load_spec(decl)


def test_every_shipped_declaration_loads():
    """The built-in corpora and the benchmark candidates are declarations a user runs by path: a typo in
    one (an unknown field, a bad source) must fail here, not after a download."""
    root = Path(__file__).resolve().parent.parent
    paths = sorted((root / "corpora").glob("*.toml")) + sorted((root / "benchmarks" / "candidates").glob("*.toml"))
    assert len(paths) >= 10
    for path in paths:
        spec = load_spec(path)
        assert spec.format in ("latex", "c", "markdown", "text"), path
        assert spec.sources, path


def _damage(payload: dict, how: str) -> dict:
    if how == "documents as a count":
        payload["documents"] = 5
    elif how == "split index out of range":
        payload["splits"]["test"] = [10**6]
    elif how == "a document edited":
        payload["documents"][0][1] += "x"
    elif how == "stats as text":
        payload["stats"]["members"] = "many"
    return payload


@pytest.mark.parametrize("how", ["documents as a count", "split index out of range", "a document edited",
                                 "stats as text", "not gzip", "truncated", "a folder"])
def test_a_damaged_cache_is_rebuilt_never_a_traceback(tmp_path, capsys, how):
    """Each damage the audit made to $GENCHECK_HOME (and some more): `corpus build` and `corpus list` print
    no traceback, and the build comes back equal to a fresh one."""
    import gzip
    import json
    import shutil

    from gencheck.corpus import _cache_path

    home = tmp_path / "home"
    spec = resolve_spec("latex-fixture")
    fresh = build(spec, home=home)
    cache = _cache_path(spec, home)
    if how == "not gzip":
        cache.write_bytes(b"{}")
    elif how == "truncated":
        cache.write_bytes(cache.read_bytes()[:200])
    elif how == "a folder":
        cache.unlink()
        cache.mkdir()
    else:
        cache.write_bytes(gzip.compress(json.dumps(_damage(json.loads(gzip.decompress(cache.read_bytes())), how)).encode()))
    if how == "a folder":
        with pytest.raises(GencheckError):  # it cannot be replaced by a file: one line, never a traceback
            build(spec, home=home)
        shutil.rmtree(cache)
    again = build(spec, home=home)
    assert (again.content_hash, again.splits) == (fresh.content_hash, fresh.splits)


@pytest.mark.parametrize("summary", ['{"documents": "many", "chars": 1, "bytes": 1, "content_hash": "x", "files": ""}',
                                     "[1, 2]", "not json", ""])
def test_a_damaged_summary_is_read_again_from_the_cache(tmp_path, capsys, monkeypatch, summary):
    import json

    from gencheck.cli import main
    from gencheck.corpus import _cache_path

    home = tmp_path / "home"
    monkeypatch.setenv("GENCHECK_HOME", str(home))
    spec = resolve_spec("latex-fixture")
    fresh = build(spec, home=home)
    cache = _cache_path(spec, home)
    cache.with_name(cache.name.replace(".json.gz", ".summary.json")).write_text(summary)
    assert main(["corpus", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["latex-fixture"]["built"]["documents"] == len(fresh.documents)


def test_without_apt_get_a_deb_corpus_comes_from_its_url_source(tmp_path, monkeypatch):
    """#37: a machine without apt-get (macOS, Fedora) builds a `deb` corpus from the `url` source declared
    after it, the same file and sha256, here from a loopback server; the progress bar does not get in the way."""
    import functools
    import http.server
    import threading

    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    served = tmp_path / "served"
    served.mkdir()
    sha = make_deb(served / "p_1_all.deb", {"usr/share/doc/p/paper.tex": DOC.encode()})
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/p_1_all.deb"
        body = ('format = "latex"\ninclude = ["*.tex"]\nsplit = [0.0, 0.0, 1.0]\n'
                f'[[sources]]\nkind = "deb"\npackage = "p"\nversion = "1"\nfile = "p_1_all.deb"\nsha256 = "{sha}"\n'
                f'[[sources]]\nkind = "url"\nurl = "{url}"\nfile = "p_1_all.deb"\nsha256 = "{sha}"\n')
        monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # no apt-get
        corpus = build(load_spec(declare(tmp_path, body)), home=tmp_path / "home")
    finally:
        server.shutdown()
        server.server_close()
    assert [d.text for d in corpus.documents] == [DOC] and (tmp_path / "home" / "downloads" / "p_1_all.deb").is_file()
