"""Closer accounting, results.json round trip, and the scorecard rendered at a fixed width."""

from __future__ import annotations

import json

from rich.console import Console

from gencheck.results import SCHEMA_VERSION, RunResult, VerdictSummary
from gencheck.scorecard import Scorecard
from gencheck.structure import latex_closures, majority_environment
from gencheck.validators import validate


def test_closures_count_right_and_wrong_with_distances():
    text = "\\begin{proof}ab\\begin{lemma}x\\end{lemma}\\end{theorem}% \\end{proof}\n\\end{x}"
    c = latex_closures(text, majority_env="proof")
    assert (c.right, c.wrong, c.stray, c.majority_right, c.opened, c.chars) == (1, 2, 1, 1, 2, len(text))
    assert c.total == 3  # the stray \\end{x} (nothing open) is a wrong closing decision, in the denominator
    assert c.distances_right == [len("\\begin{lemma}x")]
    assert c.distances_wrong == [text.index("\\end{theorem}")]  # a stray \\end has no distance


def test_stray_ends_count_in_the_denominator_for_model_and_baseline():
    c = latex_closures("\\end{a}\\begin{b}\\end{b}\\end{c}\\end{b}", majority_env="b")
    assert (c.right, c.wrong, c.stray, c.total) == (1, 3, 3, 4)
    assert c.majority_right == 1  # always-\\end{b} is wrong where nothing is open, too


def test_closer_summary_reports_stray():
    from gencheck.pipeline import closer_summary

    d = closer_summary(latex_closures("\\end{a}\\begin{b}\\end{b}"))
    assert (d["right"], d["wrong"], d["stray"], d["total"], d["accuracy"]) == (1, 1, 1, 2, 0.5)


def test_closures_skip_verbatim_bodies():
    c = latex_closures("\\begin{verbatim}\\begin{a}\\end{b}\\end{verbatim}")
    assert (c.right, c.wrong, c.stray) == (0, 0, 0)


def test_majority_environment():
    assert majority_environment(["\\begin{proof}a\\end{proof}\\begin{proof}b\\end{proof}\\begin{lemma}c\\end{lemma}"]) == "proof"
    # openers that are never closed there, or verbatim, are no closing decision: they do not count
    text = ("\\begin{verbatim}x\\end{verbatim}" * 5 + "\\begin{proof}" * 4 + "\\begin{lemma}a\\end{lemma}")
    assert majority_environment([text]) == "lemma"


def result() -> RunResult:
    from gencheck.validators.pool import failed_verdict

    verdicts = [validate(t, "latex") for t in ("\\begin{proof}x\\end{lemma}", "\\begin{a}x", "\\begin{proof}x\\end{proof}")]
    verdicts.append(failed_verdict("latex", "timeout", "check exceeded the 5 s time limit", 10))
    return RunResult(
        run_id="r1", gencheck_version="0.1.0", git_commit=None, created="2026-11-23T00:00:00+00:00",
        device="cpu (2 threads)", seed=1, profile="smoke",
        corpus={"name": "latex", "format": "latex", "content_hash": "ab" * 32},
        model={"kind": "lstm", "layers": 2, "hidden": 128, "params": 250_724},
        train={"steps": 10, "seconds": 2.0, "chars_per_s": 40_000.0, "sample_max_chars": 2000, "temperature": 0.8},
        metrics={"val_bpc": 1.9, "test_bpc": 2.0, "unigram_val_bpc": 4.971, "unigram_test_bpc": 5.123},
        samples=VerdictSummary.of(verdicts), calibration=VerdictSummary.of(verdicts[2:3]),
        closers={"samples": {"right": 3, "wrong": 1, "stray": 1, "total": 4, "opened": 5, "chars": 2000},
                 "real": {"right": 6, "wrong": 0, "stray": 0, "total": 6, "opened": 6, "chars": 1000},
                 "majority_baseline": {"env": "proof", "right": 1, "total": 4}},
        wall_seconds=12.0,
    )


def test_results_json_round_trip(tmp_path):
    r = result()
    r.save(tmp_path / "results.json")
    back = RunResult.load(tmp_path / "results.json")
    assert back == r and json.loads((tmp_path / "results.json").read_text())["schema_version"] == SCHEMA_VERSION
    assert r.samples.counts == {"valid": 1, "viable_prefix": 1, "invalid": 1, "trivial": 0, "unjudged": 1}


def test_rates_are_of_judged_texts():
    s = result().samples
    assert (s.count, s.judged) == (4, 3)
    assert s.rate("valid") == s.rate("invalid") == 1 / 3  # the timed-out sample is in no rate's denominator
    assert s.rate("unjudged") == 1 / 4  # its own share is of every sample
    old = VerdictSummary(count=2, counts={"valid": 1, "viable_prefix": 0, "invalid": 1})  # no unjudged key
    assert old.judged == 2 and old.rate("valid") == 0.5


def test_scorecard_renders_at_80_columns():
    console = Console(width=80, record=True, color_system=None)
    console.print(Scorecard(result()))
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "│ val bits/char            │          1.900 │  4.971 unigram │             │" in text
    assert "│ test bits/char           │          2.000 │  5.123 unigram │             │" in text
    assert "│ valid (% of judged)      │            33% │                │        100% │" in text
    assert "│ trivial (not in %)       │         0 of 4 │                │      0 of 1 │" in text
    assert "│ unjudged (not in %)      │         1 of 4 │                │      0 of 1 │" in text
    assert "│ \\end closes the open env │       75% of 4 │       25% of 4 │   100% of 6 │" in text
    assert "│ stray \\end (none open)   │       25% of 4 │                │     0% of 6 │" in text
    assert "shares of every \\end outside verbatim, N = that count" in " ".join(text.split())
    assert "│ \\begin per 1k chars      │            2.5 │                │         6.0 │" in text
    assert "(always proof)" in text
    assert "\\begin{proof} closed by \\end{lemma}" in text
