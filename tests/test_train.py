"""Model, training, checkpoints and sampling on the fixture corpus (CPU, seeded, seconds)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from gencheck.config import SampleConfig
from gencheck.fsutil import GencheckError, UsageError
from gencheck.model import CharRNN, ModelConfig
from gencheck.sample import generate
from gencheck.train import Checkpoint, TrainingDiverged, bits_per_char, pick_device, resume_profile, train

CPU = torch.device("cpu")


# chunked evaluation equals one pass: tests/test_models.py, for every family


def test_training_learns_and_checkpoint_round_trips(fixture_corpus, tiny_profile, tmp_path):
    r = train(fixture_corpus, replace(tiny_profile, train=replace(tiny_profile.train, steps=40)), tmp_path, CPU)
    assert r.params > 0 and r.steps == 40 and len(r.history) == 10
    assert r.history[-1]["val_bpc"] < r.history[0]["val_bpc"]  # it learned something
    ck = Checkpoint.load(r.checkpoint)
    assert ck.step == 40 and ck.corpus_hash == fixture_corpus.content_hash
    bpc = bits_per_char(ck.build_model(CPU), fixture_corpus.texts("val"), ck.vocab, CPU)
    assert bpc == pytest.approx(r.val_bpc, rel=1e-5)


def _xlstm_missing() -> str:
    try:
        import xlstm  # noqa: F401
    except ImportError as exc:
        return f"the xlstm extra is not installed ({exc})"
    return ""


@pytest.mark.parametrize("kind", ["lstm", "mingru", "transformer", "conv",
                                  pytest.param("xlstm", marks=pytest.mark.skipif(bool(_xlstm_missing()),
                                                                                reason=_xlstm_missing() or "-"))])
def test_resume_after_interruption_equals_straight_run(fixture_corpus, tiny_profile, tmp_path, kind):
    tiny_profile = replace(tiny_profile, kind=kind)
    straight = tmp_path / "straight"
    train(fixture_corpus, tiny_profile, straight, CPU)  # 12 steps, checkpoints every 4
    half = replace(tiny_profile, train=replace(tiny_profile.train, steps=8))
    resumed = tmp_path / "resumed"
    train(fixture_corpus, half, resumed, CPU)  # "killed" after step 8
    torch.manual_seed(999)  # a resumed process starts with other RNG state; the checkpoint restores it
    train(fixture_corpus, tiny_profile, resumed, CPU, resume=True)
    a, b = Checkpoint.load(straight / "checkpoint.pt"), Checkpoint.load(resumed / "checkpoint.pt")
    assert (a.step, a.epoch, a.chunk) == (b.step, b.epoch, b.chunk)
    for k in a.model_state:
        assert torch.equal(a.model_state[k], b.model_state[k]), k


def test_dropout_resume_is_exact_too(fixture_corpus, tiny_profile, tmp_path):
    p = replace(tiny_profile, layers=2, dropout=0.3)
    train(fixture_corpus, p, tmp_path / "a", CPU)
    train(fixture_corpus, replace(p, train=replace(p.train, steps=4)), tmp_path / "b", CPU)
    train(fixture_corpus, p, tmp_path / "b", CPU, resume=True)
    a, b = Checkpoint.load(tmp_path / "a" / "checkpoint.pt"), Checkpoint.load(tmp_path / "b" / "checkpoint.pt")
    assert all(torch.equal(a.model_state[k], b.model_state[k]) for k in a.model_state)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(fixture_corpus, tiny_profile, tmp_path, monkeypatch):
    import gencheck.train as tr

    real = tr.F.cross_entropy
    calls = {"n": 0}

    def poisoned(logits, target, *a, **kw):
        out = real(logits, target, *a, **kw)
        if kw.get("reduction") is None and logits.requires_grad:
            calls["n"] += 1
            if calls["n"] == 7:
                return out * float("nan")
        return out

    monkeypatch.setattr(tr.F, "cross_entropy", poisoned)
    with pytest.raises(TrainingDiverged, match=r"loss became non-finite \(nan or inf\) at step 6; .*checkpoint\.pt"):
        train(fixture_corpus, tiny_profile, tmp_path, CPU)
    assert Checkpoint.load(tmp_path / "checkpoint.pt").step == 4


@pytest.mark.parametrize("damage", ["truncated", "garbage", "foreign", "missing"])
def test_damaged_checkpoints_are_one_clear_error(fixture_corpus, tiny_profile, tmp_path, damage):
    train(fixture_corpus, replace(tiny_profile, train=replace(tiny_profile.train, steps=4)), tmp_path, CPU)
    path = tmp_path / "checkpoint.pt"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    elif damage == "garbage":
        path.write_bytes(b"\x00not a checkpoint" * 10)
    elif damage == "foreign":
        torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    else:
        path.unlink()
    with pytest.raises(GencheckError) as err:
        train(fixture_corpus, tiny_profile, tmp_path, CPU, resume=True)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_checkpoint_loading_never_unpickles_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format": "gencheck-checkpoint", "payload": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(GencheckError, match="not a readable gencheck checkpoint"):
        Checkpoint.load(tmp_path / "evil.pt")


def test_resume_on_another_corpus_is_refused(fixture_corpus, tiny_profile, tmp_path):
    train(fixture_corpus, replace(tiny_profile, train=replace(tiny_profile.train, steps=4)), tmp_path, CPU)
    other = replace(fixture_corpus, content_hash="f" * 64)
    with pytest.raises(GencheckError, match="resume with the same corpus"):
        train(other, tiny_profile, tmp_path, CPU, resume=True)


def test_cuda_without_cuda_is_a_usage_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(GencheckError, match="no CUDA device"):
        pick_device("cuda")
    assert pick_device("auto").type == "cpu"


def test_batched_sampling(fixture_corpus, tiny_profile, tmp_path):
    r = train(fixture_corpus, tiny_profile, tmp_path, CPU)
    ck = Checkpoint.load(r.checkpoint)
    model = ck.build_model(CPU)
    cfg = SampleConfig(num_samples=6, max_chars=80, temperature=1.0, prime="\\begin{", seed=3)
    a = generate(model, ck.vocab, cfg, CPU)
    assert len(a) == 6 and all(s.text.startswith("\\begin{") for s in a)
    assert all(len(s.text) <= 80 + len(cfg.prime) and "\x1e" not in s.text for s in a)
    assert [s.text for s in a] == [s.text for s in generate(model, ck.vocab, cfg, CPU)]  # seeded
    greedy = generate(model, ck.vocab, replace(cfg, temperature=0.0), CPU)
    top1 = generate(model, ck.vocab, replace(cfg, top_k=1), CPU)
    assert [s.text for s in greedy] == [s.text for s in top1]
    assert len({s.text for s in greedy}) == 1  # greedy from one prime: identical rows


def test_sampling_stops_at_document_separator():
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(5, "lstm", 1, 8, 4))
    with torch.no_grad():
        model.head.bias.fill_(-100.0)
        model.head.bias[0] = 100.0  # always emit the separator
    from gencheck.corpus import Vocab

    out = generate(model, Vocab(("\x1e", "\x1a", "a", "b", "c")), SampleConfig(3, 50, 1.0), CPU)
    assert [(s.text, s.truncated) for s in out] == [("", False)] * 3


def test_resume_at_or_below_the_saved_step_is_refused(fixture_corpus, tiny_profile, tmp_path):
    train(fixture_corpus, replace(tiny_profile, train=replace(tiny_profile.train, steps=8)), tmp_path, CPU)
    ck = Checkpoint.load(tmp_path / "checkpoint.pt")
    replace(ck, train_config=replace(ck.train_config, steps=12)).save(tmp_path / "checkpoint.pt")  # killed at 8/12
    before = (tmp_path / "checkpoint.pt").read_bytes()
    for steps, named in ((2, 8), (8, 8), (10, 12)):  # at or below the saved step, below the saved budget
        with pytest.raises(GencheckError, match=rf"steps {steps}\b.*\b{named}\b"):
            train(fixture_corpus, replace(tiny_profile, train=replace(tiny_profile.train, steps=steps)), tmp_path, CPU,
                  resume=True)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def test_resuming_a_finished_run_trains_nothing_and_reports_its_figures(fixture_corpus, tiny_profile, tmp_path):
    p = replace(tiny_profile, train=replace(tiny_profile.train, steps=8))
    first = train(fixture_corpus, p, tmp_path, CPU)
    again = train(fixture_corpus, p, tmp_path, CPU, resume=True)
    assert again.steps == 8 and again.final_loss_bpc == pytest.approx(first.history[-1]["train_bpc"])
    saved = Checkpoint.load(tmp_path / "checkpoint.pt").train_seconds  # training time up to the last save
    assert 0 < saved <= first.train_seconds and again.train_seconds == saved
    chars = 8 * p.train.batch_size * p.train.seq_len
    assert again.chars_per_s == pytest.approx(chars / saved) and again.chars_per_s < 2 * first.chars_per_s


def test_resume_with_other_settings_is_refused(fixture_corpus, tiny_profile, tmp_path):
    train(fixture_corpus, replace(tiny_profile, train=replace(tiny_profile.train, steps=4)), tmp_path, CPU)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    for other in (replace(tiny_profile, hidden=48), replace(tiny_profile, train=replace(tiny_profile.train, lr=1.0))):
        with pytest.raises(GencheckError, match=r"other settings"):
            train(fixture_corpus, other, tmp_path, CPU, resume=True)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def test_checkpoints_store_profile_and_sample_settings_and_older_ones_still_load(fixture_corpus, tiny_profile,
                                                                                  tmp_path):
    p = replace(tiny_profile, train=replace(tiny_profile.train, steps=4))
    train(fixture_corpus, p, tmp_path, CPU, sample=p.sample)
    path = tmp_path / "checkpoint.pt"
    ck = Checkpoint.load(path)
    assert ck.profile_name == "smoke" and ck.sample_config == p.sample and ck.train_seconds > 0
    old = torch.load(path, weights_only=True)  # as written before profile, sample and seconds were stored
    del old["profile"], old["position"]["seconds"]
    torch.save(old, path)
    ck = Checkpoint.load(path)
    assert (ck.profile_name, ck.sample_config, ck.train_seconds) == (None, None, None)
    with pytest.raises(UsageError, match=r"--profile cpu \(layers 2; the checkpoint has 1\)"):
        resume_profile(ck, path, {"profile": "cpu"})  # no name stored: the preset's settings are checked
    resumed = resume_profile(ck, path, {})
    assert (resumed.name, resumed.train, resumed.hidden) == ("unknown", ck.train_config, 32)
    assert resumed.sample.seed == ck.train_config.seed
    r = train(fixture_corpus, replace(p, train=replace(p.train, steps=8)), tmp_path, CPU, resume=True)
    assert r.steps == 8 and Checkpoint.load(path).profile_name is None  # resume never relabels a checkpoint
