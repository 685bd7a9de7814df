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
