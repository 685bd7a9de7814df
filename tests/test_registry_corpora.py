"""Builds the default corpora from the real package registries (marked `network`; CI here runs it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gencheck.corpus import build, resolve_spec
from gencheck.validators import validate_many


@pytest.mark.network
def test_latex_corpus_from_debian_archive_is_the_pinned_one():
    spec = resolve_spec("latex")
    corpus = build(spec)
    assert corpus.content_hash == spec.content_sha256
    assert len(corpus.documents) >= 100 and corpus.chars() > 2_000_000
    assert min(len(v) for v in corpus.splits.values()) >= 10
    verdicts = validate_many(corpus.texts("test"), "latex", workers=2, timeout_s=30)
    assert sum(v.verdict == "valid" for v in verdicts) >= 0.8 * len(verdicts)


@pytest.mark.network
def test_c_corpus_from_pypi_sdist_is_the_pinned_one(tmp_path):
    spec = resolve_spec("c")
    corpus = build(spec, home=tmp_path)
    assert corpus.content_hash == spec.content_sha256
    assert len(corpus.documents) >= 150 and corpus.chars() > 5_000_000
    paths = {d.path for d in corpus.documents}
    assert {"btree.c", "sqliteInt.h", "vdbe.c", "ext/misc/shathree.c", "src/cursor.c"} <= paths
    assert not any("Begin file" in d.text.splitlines()[0] for d in corpus.documents if d.text)


@pytest.mark.network
def test_markdown_corpus_from_debian_archive_is_the_pinned_one(tmp_path):
    spec = resolve_spec("markdown")
    corpus = build(spec, home=tmp_path)
    assert corpus.content_hash == spec.content_sha256
    assert len(corpus.documents) >= 60 and corpus.chars() > 3_000_000
    assert all(d.path.endswith(".md") for d in corpus.documents)


@pytest.mark.network
def test_a_machine_without_apt_get_gets_the_same_deb_from_debian_archive(tmp_path, monkeypatch):
    """macOS or Fedora: `apt-get` is not on PATH, so every `deb` corpus's `url` source (the same file in
    Debian's archive, the same sha256) is the one that delivers. markdown's package is the small one (3.6 MB);
    latex and c-linux declare theirs the same way (checked below without downloading 350 MB)."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    spec = resolve_spec("markdown")
    corpus = build(spec, home=tmp_path)
    assert corpus.content_hash == spec.content_sha256
    for name in ("latex", "c-linux", "markdown"):
        kinds = [s.kind for s in resolve_spec(name).sources]
        deb, url = (next(s for s in resolve_spec(name).sources if s.kind == k) for k in ("deb", "url"))
        assert kinds.index("deb") < kinds.index("url") and url.url.startswith("https://deb.debian.org/")
        assert (url.file, url.sha256, url.inner, url.strip) == (deb.file, deb.sha256, deb.inner, deb.strip)


SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"


@pytest.mark.skipif(not (SHARED / "stacks-project-4ac4815d.tar.xz").is_file(),
                    reason=f"no pinned upstream copies in {SHARED} (the ../shared checkout beside the repo)")
def test_latex_stacks_builds_through_the_shared_mirror_twice_to_one_hash(tmp_path, monkeypatch):
    from gencheck.corpus_info import corpus_info

    monkeypatch.setenv("GENCHECK_MIRROR", str(SHARED))
    spec = resolve_spec("latex-stacks")
    first = build(spec, offline=True, home=tmp_path / "a")
    again = build(spec, offline=True, home=tmp_path / "b")  # a second, uncached build
    assert first.content_hash == again.content_hash == spec.content_sha256
    assert len(first.documents) == 119 and first.chars() == 27_680_851
    assert not any("/" in d.path for d in first.documents)  # the top folder is stripped
    st = corpus_info(first)["structure"]
    assert st["pairs"] > 30_000 and st["stray_closers"] == 0


@pytest.mark.skipif(not (SHARED / "tinyshakespeare.txt.xz").is_file(), reason=f"no pinned upstream copies in {SHARED}")
def test_shakespeare_text_corpus_through_the_cli(tmp_path, monkeypatch, capsys):
    import json

    from gencheck.cli import main

    monkeypatch.setenv("GENCHECK_MIRROR", str(SHARED))
    monkeypatch.setenv("GENCHECK_HOME", str(tmp_path))
    assert main(["corpus", "build", "shakespeare", "--offline"]) == 0
    assert main(["corpus", "info", "shakespeare", "--offline", "--json"]) == 0
    info = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert info["format"] == "text" and info["structure"] is None and info["documents"] >= 100
    assert info["content_hash"] == resolve_spec("shakespeare").content_sha256
    assert main(["corpus", "list"]) == 0
    assert any(ln.startswith("shakespeare") and "MB" in ln for ln in capsys.readouterr().out.splitlines())
