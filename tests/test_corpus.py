"""Corpus stage: declarations, sources through a temp mirror, normalisation, dedupe, splits, hashes."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from gencheck.corpus import (SEP, Vocab, build, content_hash, encode, load_spec, resolve_spec,
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
    spec = load_spec(declare(tmp_path, f'format = "latex"\ninclude = ["*.tex"]\n' + url_source("docs.tar.gz", sha)))
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
