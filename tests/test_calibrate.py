"""Calibration on the fixture corpus: every real document accepted, every mutation caught."""

from __future__ import annotations

import json

from gencheck.calibrate import calibrate
from gencheck.cli import main


def test_fixture_calibration(fixture_corpus):
    cal = calibrate(fixture_corpus, split="all", per_kind=20, seed=1, workers=1)
    assert (cal.documents, cal.accepted, cal.rejected) == (8, 8, [])
    assert {m.kind for m in cal.mutations} == {"rename_end", "delete_close_brace", "delete_dollar"}
    for m in cal.mutations:
        assert m.tried == 20 and m.detected == 20, m


def test_calibrate_command_json(capsys):
    assert main(["calibrate", "--corpus", "latex-fixture", "--split", "all", "--mutations", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["acceptance"] == 1.0 and all(m["rate"] == 1.0 for m in out["mutations"])


def _judge_real_docs_only(unjudged_real: int = 0):
    """A stand-in for validate_many: real documents (the first call) judged in-process, except the first
    `unjudged_real`; every mutant (later calls) times out, as under a limit too small for the checker."""
    from gencheck.validators import validate
    from gencheck.validators.pool import failed_verdict

    calls = []

    def fake(texts, fmt, **kw):  # noqa: ARG001
        calls.append(len(texts))
        if len(calls) == 1:
            return [failed_verdict(fmt, "timeout", "check exceeded the 0.0001 s time limit", len(t))
                    if i < unjudged_real else validate(t, fmt) for i, t in enumerate(texts)]
        return [failed_verdict(fmt, "timeout", "check exceeded the 0.0001 s time limit", len(t)) for t in texts]

    return fake


def test_unjudged_mutants_are_not_detections(fixture_corpus, monkeypatch):
    monkeypatch.setattr("gencheck.calibrate.validate_many", _judge_real_docs_only())
    cal = calibrate(fixture_corpus, split="all", per_kind=5, seed=1, workers=1)
    assert cal.mutations and all(m.tried == 5 for m in cal.mutations)
    for m in cal.mutations:
        assert (m.detected, m.unjudged, m.judged) == (0, 5, 0), m
        assert m.rate != m.rate  # nan: nothing judged, no rate
    rows = cal.to_json()["mutations"]
    assert all(r["unjudged"] == 5 and r["detected"] == 0 for r in rows)


def test_unjudged_real_documents_are_listed_and_left_out_of_acceptance(fixture_corpus, monkeypatch):
    monkeypatch.setattr("gencheck.calibrate.validate_many", _judge_real_docs_only(unjudged_real=2))
    cal = calibrate(fixture_corpus, split="all", per_kind=1, seed=1, workers=1)
    assert (cal.documents, cal.judged, cal.accepted, cal.rejected) == (8, 6, 6, [])
    assert cal.acceptance == 1.0  # accepted / judged: a timeout is no rejection
    assert [u.kind for u in cal.unjudged] == ["timeout", "timeout"]
    assert [u.path for u in cal.unjudged] == [d.path for d in fixture_corpus.documents[:2]]
    out = cal.to_json()
    assert out["judged"] == 6 and len(out["unjudged"]) == 2 and out["acceptance"] == 1.0
