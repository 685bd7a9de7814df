"""Builds the default corpora from the real package registries (marked `network`; CI here runs it)."""

from __future__ import annotations

import pytest

from gencheck.corpus import build, resolve_spec
from gencheck.validators import validate_many


@pytest.mark.network
def test_latex_corpus_from_debian_archive_is_the_pinned_one():
    spec = resolve_spec("latex")
    corpus = build(spec)
    assert corpus.content_hash == spec.content_sha256
    assert len(corpus.documents) >= 200 and corpus.chars() > 3_000_000
    assert min(len(v) for v in corpus.splits.values()) >= 10
    verdicts = validate_many(corpus.texts("test"), "latex", workers=2, timeout_s=30)
    assert sum(v.verdict == "valid" for v in verdicts) >= 0.8 * len(verdicts)
