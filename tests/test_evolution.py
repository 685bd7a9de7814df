"""Evolution during training: log-spaced marks, rows in results.json, training unchanged by looking."""

from __future__ import annotations

import json
from dataclasses import replace

import torch

from gencheck.cli import main
from gencheck.evolution import Watcher, evolution_steps
from gencheck.train import Checkpoint, train

CPU = torch.device("cpu")


def test_marks_are_log_spaced_unique_and_end_at_the_budget():
    marks = evolution_steps(3200)
    assert marks[0] == 10 and marks[-1] == 3200 and len(marks) == 10 == len(set(marks))
    gaps = [b / a for a, b in zip(marks, marks[1:])]
    assert max(gaps) / min(gaps) < 1.2  # a constant ratio, up to rounding
    assert evolution_steps(12) == sorted(set(evolution_steps(12))) and evolution_steps(12)[-1] == 12
    assert evolution_steps(5) == [5] and evolution_steps(0) == []


def test_looking_at_the_model_does_not_change_its_training(fixture_corpus, tiny_profile, tmp_path):
    p = replace(tiny_profile, dropout=0.2, layers=2)  # dropout draws from the RNG the watcher must not touch
    plain = train(fixture_corpus, p, tmp_path / "plain", CPU)
    watcher = Watcher.for_run(fixture_corpus, CPU, seed=1, temperature=0.7)
    watched = train(fixture_corpus, p, tmp_path / "watched", CPU, watch=watcher)
    a = Checkpoint.load(plain.checkpoint).model_state
    b = Checkpoint.load(watched.checkpoint).model_state
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["step"] for r in watched.evolution] == evolution_steps(p.train.steps)
    row = watched.evolution[-1]
    assert {"sample", "val_bpc", "valid", "probe", "probe_accuracy", "chars_seen"} <= set(row)
    assert row["chars_seen"] == p.train.steps * p.train.batch_size * p.train.seq_len
    assert watched.evolution_seconds > 0 and plain.evolution == []


def test_a_resumed_run_keeps_the_rows_it_had_and_adds_the_rest(fixture_corpus, tiny_profile, tmp_path):
    watcher = Watcher.for_run(fixture_corpus, CPU, seed=1, temperature=0.7)
    half = replace(tiny_profile, train=replace(tiny_profile.train, steps=8))
    train(fixture_corpus, half, tmp_path, CPU, watch=watcher)
    first = [r["step"] for r in Checkpoint.load(tmp_path / "checkpoint.pt").evolution]
    assert first == [s for s in evolution_steps(8)]
    r = train(fixture_corpus, tiny_profile, tmp_path, CPU, resume=True, watch=watcher)
    steps = [row["step"] for row in r.evolution]
    assert steps[: len(first)] == first and steps == sorted(set(steps)) and steps[-1] == tiny_profile.train.steps


def test_run_records_evolution_and_report_prints_it(tmp_path, capsys):
    args = ["run", "--corpus", "latex-fixture", "--profile", "smoke", "--steps", "30", "--samples", "2",
            "--max-chars", "60", "--device", "cpu", "--no-probes", "--out", str(tmp_path)]
    assert main(args) == 0
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    rows = json.loads((run_dir / "results.json").read_text())["train"]["evolution"]
    assert [r["step"] for r in rows] == evolution_steps(30)
    assert "evolution during training" in capsys.readouterr().err  # printed after training, with the log
    assert main(["report", "--evolution", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "latex_end" in out and "30" in out
    assert main([*args[:-2], "--no-evolution", "--out", str(tmp_path / "none")]) == 0
    (other,) = (tmp_path / "none").iterdir()
    assert json.loads((other / "results.json").read_text())["train"]["evolution"] == []


def test_the_table_shows_long_runs_of_one_character_compactly():
    from gencheck.evolution import table_rows

    (cells,) = table_rows([{"step": 10, "chars_seen": 5000, "val_bpc": 4.2, "valid": 0.5, "probe_accuracy": None,
                            "sample": "%" * 40 + "\n\\documentclass{article}"}])
    assert cells[:5] == ["10", "5k", "4.20", "50%", "—"]
    assert cells[5].startswith("%×40⏎\\documentclass")


def test_looks_at_a_short_run_use_smaller_slices_and_the_default_run_the_whole_ones(fixture_corpus):
    from gencheck.config import PROFILES
    from gencheck.evolution import FULL_SLICES_AT, MIN_SLICE_CHARS, VAL_CHARS

    t = PROFILES["cpu"].train
    assert t.steps * t.batch_size * t.seq_len >= FULL_SLICES_AT  # the default run looks at the whole slices
    full = Watcher.for_run(fixture_corpus, CPU, seed=1, temperature=0.7, budget_chars=t.steps * t.batch_size * t.seq_len)
    quarter = Watcher.for_run(fixture_corpus, CPU, seed=1, temperature=0.7, budget_chars=FULL_SLICES_AT // 4)
    tiny = Watcher.for_run(fixture_corpus, CPU, seed=1, temperature=0.7, budget_chars=1000)
    assert (full.val_chars, quarter.val_chars, tiny.val_chars) == (VAL_CHARS, VAL_CHARS // 4, MIN_SLICE_CHARS)


def test_probe_slice_takes_whole_documents_or_a_prefix_of_a_long_first_one():
    from gencheck.evolution import _probe_slice

    assert _probe_slice(["a" * 10, "b" * 10, "c" * 10], 25) == ["a" * 10, "b" * 10]
    assert _probe_slice(["\\begin{x}" + "y" * 50 + "\\end{x}", "z"], 20) == ["\\begin{x}" + "y" * 11]
    assert _probe_slice([], 20) == []
