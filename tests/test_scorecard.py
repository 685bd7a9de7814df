"""Closer accounting, results.json round trip, and the scorecard rendered at a fixed width."""

from __future__ import annotations

import json

from rich.console import Console

from gencheck.results import RunResult, VerdictSummary
from gencheck.scorecard import Scorecard
from gencheck.structure import latex_closures, majority_environment
from gencheck.validators import validate


def test_closures_count_right_and_wrong_with_distances():
    text = "\\begin{proof}ab\\begin{lemma}x\\end{lemma}\\end{theorem}% \\end{proof}\n\\end{x}"
    c = latex_closures(text, majority_env="proof")
    assert (c.right, c.wrong, c.majority_right, c.opened, c.chars) == (1, 1, 1, 2, len(text))
    assert c.distances_right == [len("\\begin{lemma}x")]
    assert c.distances_wrong == [text.index("\\end{theorem}")]


def test_closures_skip_verbatim_bodies():
    c = latex_closures("\\begin{verbatim}\\begin{a}\\end{b}\\end{verbatim}")
    assert (c.right, c.wrong) == (0, 0)


def test_majority_environment():
    assert majority_environment(["\\begin{proof}\\begin{proof}\\begin{lemma}"]) == "proof"


def result() -> RunResult:
    verdicts = [validate(t, "latex") for t in ("\\begin{proof}x\\end{lemma}", "\\begin{a}x", "ok")]
    return RunResult(
        run_id="r1", gencheck_version="0.1.0", git_commit=None, created="2026-11-23T00:00:00+00:00",
        device="cpu (2 threads)", seed=1, profile="smoke",
        corpus={"name": "latex", "format": "latex", "content_hash": "ab" * 32},
        model={"kind": "lstm", "layers": 2, "hidden": 128, "params": 250_724},
        train={"steps": 10, "seconds": 2.0, "chars_per_s": 40_000.0, "sample_max_chars": 2000, "temperature": 0.8},
        metrics={"val_bpc": 1.9, "test_bpc": 2.0, "unigram_bpc": 5.0},
        samples=VerdictSummary.of(verdicts), calibration=VerdictSummary.of(verdicts[2:]),
        closers={"samples": {"right": 3, "wrong": 1, "total": 4, "opened": 5, "chars": 2000},
                 "real": {"right": 6, "wrong": 0, "total": 6, "opened": 6, "chars": 1000},
                 "majority_baseline": {"env": "proof", "right": 1, "total": 4}},
        wall_seconds=12.0,
    )


def test_results_json_round_trip(tmp_path):
    r = result()
    r.save(tmp_path / "results.json")
    back = RunResult.load(tmp_path / "results.json")
    assert back == r and json.loads((tmp_path / "results.json").read_text())["schema_version"] == 1
    assert r.samples.counts == {"valid": 1, "viable_prefix": 1, "invalid": 1}


def test_scorecard_renders_at_80_columns():
    console = Console(width=80, record=True, color_system=None)
    console.print(Scorecard(result()))
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "│ test bits/char           │          2.000 │  5.000 unigram │             │" in text
    assert "│ \\begin per 1k chars      │            2.5 │                │         6.0 │" in text
    assert "75% of 4" in text and "25% of 4" in text and "(always proof)" in text
    assert "\\begin{proof} closed by \\end{lemma}" in text
