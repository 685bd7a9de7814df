"""`--warm-start CORPUS[:CHARS]`: a phase on another corpus first, one vocabulary, exact resume across the switch."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

import gencheck.train as gtrain
from gencheck.cli import main
from gencheck.corpus import Document
from gencheck.fsutil import GencheckError, UsageError
from gencheck.train import Checkpoint, Streams, bits_per_char, train, warm_steps

CPU = torch.device("cpu")


@pytest.fixture()
def warm_corpus(fixture_corpus):
    """A corpus of its own (name, hash, a character `§` the fixture never uses) with the fixture's splits."""
    docs = [Document(f"w{i}", "\\begin{proof} § " + "ab " * (40 + i) + "\\end{proof}\n")
            for i in range(len(fixture_corpus.documents))]
    return replace(fixture_corpus, spec=replace(fixture_corpus.spec, name="warm-drill"), documents=docs,
                   content_hash="e" * 64)


def warm_profile(tiny_profile, warm_chars: int, steps: int = 12):
    return replace(tiny_profile, train=replace(tiny_profile.train, steps=steps, warm_start="warm-drill",
                                               warm_chars=warm_chars))


def test_the_warm_phase_trains_on_the_warm_corpus_then_switches(fixture_corpus, warm_corpus, tiny_profile, tmp_path):
    per_step = tiny_profile.train.batch_size * tiny_profile.train.seq_len  # 128
    p = warm_profile(tiny_profile, 5 * per_step - 7)  # rounds up to 5 whole steps
    assert warm_steps(p.train) == 5
    r = train(fixture_corpus, p, tmp_path, CPU, warm=warm_corpus)
    ck = Checkpoint.load(r.checkpoint)
    assert "§" in ck.vocab.chars  # the union of both train splits
    assert ck.warm == {"corpus": "warm-drill", "content_hash": "e" * 64, "steps": 5, "chars": 5 * per_step}
    assert r.warm == ck.warm
    # after the switch the position is in the run's own corpus: epoch 0 from step 5, 7 steps in
    fixture_streams = Streams.from_texts(fixture_corpus.texts("train"), ck.vocab, ck.train_config)
    per_epoch = fixture_streams.chunks_per_epoch(fixture_streams.epoch(0))
    assert (ck.epoch, ck.chunk) == divmod(7, per_epoch)


def test_the_warm_phase_changes_what_the_model_learns(fixture_corpus, warm_corpus, tiny_profile, tmp_path):
    """Not a label: the first steps really read the warm corpus, so its text is easier for the warm-started model
    than for a plain run of the same steps."""
    p = replace(tiny_profile, train=replace(tiny_profile.train, lr=2e-2))
    per_step = p.train.batch_size * p.train.seq_len
    warm = train(fixture_corpus, replace(p, train=replace(p.train, warm_start="warm-drill", warm_chars=9 * per_step)),
                 tmp_path / "w", CPU, warm=warm_corpus)
    plain = train(fixture_corpus, p, tmp_path / "p", CPU)
    text = ["ab " * 200]
    bpc = {name: bits_per_char(Checkpoint.load(r.checkpoint).build_model(CPU), text,
                               Checkpoint.load(r.checkpoint).vocab, CPU) for name, r in (("warm", warm), ("plain", plain))}
    assert bpc["warm"] < bpc["plain"] - 0.5, bpc


@pytest.mark.parametrize("killed_at", [3, 5, 8])  # before the switch, exactly at it, after it
def test_resume_across_the_switch_equals_a_straight_run(fixture_corpus, warm_corpus, tiny_profile, tmp_path,
                                                          monkeypatch, killed_at):
    per_step = tiny_profile.train.batch_size * tiny_profile.train.seq_len
    p = replace(warm_profile(tiny_profile, 5 * per_step), train=replace(
        warm_profile(tiny_profile, 5 * per_step).train, eval_every=1))
    train(fixture_corpus, p, tmp_path / "straight", CPU, warm=warm_corpus)
    real_step, calls = gtrain.train_step, []

    def killed(*args, **kw):  # the process dies in the step after `killed_at` (a checkpoint every step)
        calls.append(1)
        if len(calls) > killed_at:
            raise KeyboardInterrupt
        return real_step(*args, **kw)

    monkeypatch.setattr(gtrain, "train_step", killed)
    with pytest.raises(KeyboardInterrupt):
        train(fixture_corpus, p, tmp_path / "resumed", CPU, warm=warm_corpus)
    monkeypatch.setattr(gtrain, "train_step", real_step)
    assert Checkpoint.load(tmp_path / "resumed" / "checkpoint.pt").step == killed_at
    torch.manual_seed(999)
    train(fixture_corpus, p, tmp_path / "resumed", CPU, resume=True, warm=warm_corpus)
    a, b = (Checkpoint.load(tmp_path / d / "checkpoint.pt") for d in ("straight", "resumed"))
    assert (a.step, a.epoch, a.chunk, a.warm) == (b.step, b.epoch, b.chunk, b.warm)
    for k in a.model_state:
        assert torch.equal(a.model_state[k], b.model_state[k]), k


def test_a_warm_start_that_leaves_no_steps_is_refused(fixture_corpus, warm_corpus, tiny_profile, tmp_path):
    per_step = tiny_profile.train.batch_size * tiny_profile.train.seq_len
    with pytest.raises(UsageError, match="nothing would be left"):
        train(fixture_corpus, warm_profile(tiny_profile, 12 * per_step), tmp_path, CPU, warm=warm_corpus)


def test_resume_with_another_warm_corpus_is_refused(fixture_corpus, warm_corpus, tiny_profile, tmp_path):
    per_step = tiny_profile.train.batch_size * tiny_profile.train.seq_len
    p = warm_profile(tiny_profile, 2 * per_step)
    train(fixture_corpus, replace(p, train=replace(p.train, steps=4)), tmp_path, CPU, warm=warm_corpus)
    changed = replace(warm_corpus, content_hash="d" * 64)
    with pytest.raises(GencheckError, match="resume with the same warm-start corpus"):
        train(fixture_corpus, p, tmp_path, CPU, resume=True, warm=changed)


SMOKE = ["--corpus", "latex-fixture", "--profile", "smoke", "--steps", "30", "--samples", "4", "--max-chars", "200",
         "--device", "cpu", "--no-probes"]


def test_run_with_a_warm_start_reports_it(tmp_path, capsys):
    assert main(["run", *SMOKE, "--warm-start", "latex-fixture:10k", "--out", str(tmp_path)]) == 0
    got = capsys.readouterr()
    assert "warm start: the first 10k characters from latex-fixture" in got.out
    assert "trained on" in got.err  # the evolution table's column
    (run_dir,) = list(tmp_path.iterdir())
    r = json.loads((run_dir / "results.json").read_text())
    per_step = 16 * 64
    steps = -(-10_000 // per_step)
    look = r["train"]["warm_start"].pop("look")  # the warm corpus's headline probe at the switch
    assert look["probe"] == "latex_end" and sum(n for n, _ in look["probe_buckets"].values()) > 0
    assert "latex_end on latex-fixture at the switch:" in got.out
    assert r["train"]["warm_start"] == {"corpus": "latex-fixture", "content_hash": r["corpus"]["content_hash"],
                                        "steps": steps, "chars": steps * per_step}
    marks = {row["step"]: row["trained_on"] for row in r["train"]["evolution"]}
    assert marks[steps] == "latex-fixture" and set(marks.values()) == {"latex-fixture"}
    assert main(["report", str(run_dir)]) == 0  # the schema takes the new fields


def test_warm_start_without_chars_takes_half_the_budget(tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["train", *SMOKE[:4], "--steps", "10", "--device", "cpu", "--warm-start", "latex-fixture",
                 "--out", str(out)]) == 0
    ck = Checkpoint.load(out / "checkpoint.pt")
    assert ck.train_config.warm_chars == 10 * 16 * 64 // 2 and ck.warm["steps"] == 5


@pytest.mark.parametrize("flag, says", [("latex-fixture:0", "positive"), ("latex-fixture:lots", "unknown corpus"),
                                        (":8M", "name a corpus"), ("latex-fixture:40M", "nothing would be left")])
def test_bad_warm_start_flags_are_one_line(tmp_path, capsys, flag, says):
    try:
        rc = main(["run", *SMOKE, "--warm-start", flag, "--out", str(tmp_path)])
    except SystemExit as exc:  # a value the parser refuses
        rc = exc.code
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and says in err[-1], err
    assert not list(tmp_path.iterdir())  # refused before a run folder was made


def test_train_resume_keeps_the_warm_start_and_refuses_another(tmp_path, capsys):
    out = tmp_path / "t"
    base = ["train", *SMOKE[:4], "--device", "cpu", "--out", str(out)]
    assert main([*base, "--steps", "10", "--warm-start", "latex-fixture:5k"]) == 0
    assert main([*base, "--steps", "20", "--resume"]) == 0  # the warm start comes from the checkpoint
    ck = Checkpoint.load(out / "checkpoint.pt")
    assert ck.step == 20 and ck.warm["steps"] == 5 and ck.train_config.warm_chars == 5000
    capsys.readouterr()
    assert main([*base, "--steps", "30", "--resume", "--warm-start", "latex-fixture:6k"]) == 2
    assert "--warm-start characters 6000 (the checkpoint has warm_chars 5000)" in capsys.readouterr().err
