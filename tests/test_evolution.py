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


def test_a_long_run_looks_more_often_after_the_default_budget():
    """Issue 33: real-text memory formed between 17 M and 156 M characters, which ten log-spaced looks split
    into gaps of 2.3×; beyond the cpu profile's budget the looks are at most DENSE_RATIO apart."""
    from gencheck.evolution import DENSE_RATIO, FULL_SLICES_AT

    per_step = 64 * 128
    assert evolution_steps(2100, chars_per_step=per_step) == evolution_steps(2100)  # the default run: unchanged
    marks = evolution_steps(19000, chars_per_step=per_step)
    late = [m for m in marks if m * per_step >= FULL_SLICES_AT - per_step]
    assert late[-1] == 19000 and len(late) >= 6 and len(marks) == len(set(marks))
    assert max(b / a for a, b in zip(late, late[1:])) <= DENSE_RATIO + 1e-9
    assert [m for m in marks if m < late[0]] == [m for m in evolution_steps(19000) if m < late[0]]


def test_a_longer_run_probes_a_longer_slice(fixture_corpus):
    from gencheck.evolution import FULL_SLICES_AT, PROBE_CHARS, _probe_slice

    texts = fixture_corpus.texts("test")
    long = Watcher.for_run(fixture_corpus, CPU, seed=1, temperature=0.7, budget_chars=9 * FULL_SLICES_AT)
    assert long.probe_texts == _probe_slice(texts, 9 * PROBE_CHARS)


def test_real_text_memory_formed_is_when_the_model_left_the_reference_row():
    """On real text there is no 1/K: the looks are held against the 20-gram scored on the same slice."""
    from gencheck.evolution import formation_chars, memory_formed

    def look(chars, right_31, right_101):
        return {"chars_seen": chars, "probe_buckets": {"31-100": [200, right_31], "101-300": [200, right_101]}}

    reference = {"row": "20-gram", "probe": "latex_end",
                 "probe_buckets": {"31-100": [200, 110], "101-300": [200, 112], "1-10": [5, 5]}}
    rows = [look(10_000_000, 90, 100), look(40_000_000, 150, 105), look(90_000_000, 160, 150),
            look(150_000_000, 170, 160)]
    formed = memory_formed(rows, reference=reference)
    assert formed == {"31-100": 40_000_000, "101-300": 90_000_000}  # 1-10: in the reference, never looked at
    assert memory_formed(rows) == {}  # no chance and no reference: nothing is claimed
    dropped = rows[:-1] + [look(150_000_000, 170, 110)]  # back at the 20-gram at the end: not formed
    assert memory_formed(dropped, reference=reference)["101-300"] is None
    assert formation_chars(formed) == 90_000_000  # the last of the buckets from 31 to 1,000 that were looked at
