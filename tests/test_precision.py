"""--precision: what auto picks, what a checkpoint records, and that bf16 really changes the arithmetic."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from gencheck import train as train_mod
from gencheck.config import with_overrides
from gencheck.fsutil import GencheckError, UsageError
from gencheck.model import CharRNN, ModelConfig
from gencheck.train import Checkpoint, resolve_precision, train, use_threads

CPU = torch.device("cpu")


def tiny_model() -> CharRNN:
    return CharRNN(ModelConfig(20, "lstm", 1, 8, 4))


def fake_cpu(monkeypatch, native: bool, kernels: bool = True, bf16_speed: float = 60_000.0) -> None:
    """Fake what this CPU says and whether bf16 kernels run, never the arithmetic: the choices are tested on
    every machine, with or without bf16."""
    monkeypatch.setattr(train_mod, "cpu_has_native_bf16", lambda: native)
    monkeypatch.setattr(train_mod, "_bf16_runs", lambda device, model: None if kernels else "no primitive")
    monkeypatch.setattr(train_mod, "bf16_race", lambda cfg, device: train_mod.Race("2×256", 20_000.0, bf16_speed))


def test_auto_on_a_cpu_follows_native_bf16(monkeypatch):
    fake_cpu(monkeypatch, native=False)
    assert resolve_precision("auto", CPU, tiny_model()) == ("fp32", None)
    fake_cpu(monkeypatch, native=True)
    assert resolve_precision("auto", CPU, tiny_model()) == ("bf16", torch.bfloat16)
    assert resolve_precision("fp32", CPU, tiny_model()) == ("fp32", None)


def test_auto_keeps_fp32_where_native_bf16_is_not_faster(monkeypatch):
    """A CPU whose flags say avx512_bf16 but whose bf16 kernels are slower (measured on this project's VM):
    the race decides, and the cpu profile takes its fp32 shape so that its budget still fits its time."""
    from gencheck.config import PROFILES
    from gencheck.train import settle_shape

    fake_cpu(monkeypatch, native=True, bf16_speed=15_000.0)
    assert resolve_precision("auto", CPU, tiny_model()) == ("fp32", None)
    assert resolve_precision("bf16", CPU, tiny_model()) == ("bf16", torch.bfloat16)  # asked for: no race
    p = settle_shape("cpu", PROFILES["cpu"], CPU)
    assert (p.hidden, p.note) == (128, "2×128, fp32: bf16 is not faster here "
                                       "(2×256: bf16 15.0 k chars/s, fp32 20.0 k, raced at start)")
    fake_cpu(monkeypatch, native=True, bf16_speed=22_000.0)  # 1.1×: inside the margin, fp32 kept
    assert resolve_precision("auto", CPU, tiny_model()) == ("fp32", None)


def test_the_race_times_both_precisions_once_per_shape():
    if train_mod._bf16_runs(CPU, tiny_model()) is not None:
        pytest.skip("bf16 autocast does not run on this CPU")
    cfg = ModelConfig(20, "lstm", 1, 8, 4)
    race = train_mod.bf16_race(cfg, CPU)
    assert race.fp32 > 0 and race.bf16 > 0 and race.shape == "1×8"
    assert train_mod.bf16_race(ModelConfig(99, "lstm", 1, 8, 4), CPU) is race  # the vocabulary is not the shape
    assert train_mod.bf16_race(ModelConfig(20, "lstm", 2, 8, 4), CPU) is not race


def test_explicit_bf16_without_native_support_runs_with_a_warning(monkeypatch, capsys):
    fake_cpu(monkeypatch, native=False)
    assert resolve_precision("bf16", CPU, tiny_model()) == ("bf16", torch.bfloat16)
    assert "no native bf16" in capsys.readouterr().err


def test_the_cpu_profile_takes_its_fp32_shape_where_bf16_does_not_run(monkeypatch):
    from gencheck.config import PROFILES
    from gencheck.train import settle_shape

    cpu = PROFILES["cpu"]
    fake_cpu(monkeypatch, native=False)
    p = settle_shape("cpu", cpu, CPU)
    assert (p.layers, p.hidden) == (2, 128) and p.note == "2×128, fp32: this CPU has no native bf16"
    fake_cpu(monkeypatch, native=True, kernels=False)  # flags say yes, oneDNN has no kernel
    assert settle_shape("cpu", cpu, CPU).note == "2×128, fp32: bf16 does not run this LSTM here"
    fake_cpu(monkeypatch, native=True)
    p = settle_shape("cpu", cpu, CPU)
    assert (p.layers, p.hidden) == (2, 256) and p.note == ("2×256, bf16: this CPU has native bf16 "
                                                       "(2×256: bf16 60.0 k chars/s, fp32 20.0 k, raced at start)")
    fp32 = with_overrides(cpu, precision="fp32")
    assert settle_shape("cpu", fp32, CPU).note == "2×128, fp32: --precision fp32"
    typed = with_overrides(cpu, hidden=256, precision="fp32")  # a typed shape wins over the fp32 shape
    assert settle_shape("cpu", typed, CPU, {"hidden", "precision"}).hidden == 256
    assert settle_shape("gpu", PROFILES["gpu"], CPU) == PROFILES["gpu"]  # no fp32 shape: unchanged, no note


def test_an_override_of_the_shape_drops_the_note_that_explained_the_old_one(monkeypatch):
    from gencheck.config import PROFILES
    from gencheck.train import settle_shape

    fake_cpu(monkeypatch, native=False)
    settled = settle_shape("cpu", PROFILES["cpu"], CPU)
    assert with_overrides(settled, hidden=64).note == "" and with_overrides(settled, seed=3).note == settled.note


def test_auto_resumes_an_fp32_checkpoint_in_fp32_on_a_bf16_cpu(monkeypatch, fixture_corpus, tiny_profile, tmp_path):
    fake_cpu(monkeypatch, native=True)
    half = replace(tiny_profile, train=replace(tiny_profile.train, steps=4, precision="fp32"))
    train(fixture_corpus, half, tmp_path, CPU)
    auto = replace(tiny_profile, train=replace(tiny_profile.train, steps=8, precision="auto"))
    r = train(fixture_corpus, auto, tmp_path, CPU, resume=True)
    assert r.steps == 8 and r.precision == "fp32"
    bf16 = replace(tiny_profile, train=replace(tiny_profile.train, steps=12, precision="bf16"))
    with pytest.raises(GencheckError, match="precision fp32 there, bf16 here"):
        train(fixture_corpus, bf16, tmp_path, CPU, resume=True)


def test_bf16_that_cannot_run_is_an_error_when_asked_for_and_fp32_under_auto(monkeypatch):
    monkeypatch.setattr(train_mod, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(train_mod, "_bf16_runs", lambda device, model: "no kernel for this")
    with pytest.raises(UsageError, match="--precision bf16 does not run.*no kernel"):
        resolve_precision("bf16", CPU, tiny_model())
    assert resolve_precision("auto", CPU, tiny_model()) == ("fp32", None)


def test_unknown_precision_is_a_usage_error():
    with pytest.raises(UsageError, match="choose one of auto, fp32, bf16"):
        resolve_precision("fp8", CPU, tiny_model())


@pytest.mark.bf16
def test_checkpoint_records_what_ran_and_bf16_changes_the_weights(fixture_corpus, tiny_profile, tmp_path):
    weights = {}
    for p in ("fp32", "bf16"):
        prof = replace(tiny_profile, train=replace(tiny_profile.train, steps=4, precision=p))
        train(fixture_corpus, prof, tmp_path / p, CPU)
        ck = Checkpoint.load(tmp_path / p / "checkpoint.pt")
        assert ck.train_config.precision == p
        weights[p] = ck.model_state["head.weight"]
    assert not torch.equal(weights["fp32"], weights["bf16"])  # autocast reached the training step


@pytest.mark.bf16
def test_auto_resumes_whatever_the_checkpoint_chose_and_a_different_choice_is_refused(fixture_corpus, tiny_profile,
                                                                                      tmp_path):
    half = replace(tiny_profile, train=replace(tiny_profile.train, steps=4, precision="bf16"))
    train(fixture_corpus, half, tmp_path, CPU)
    auto = replace(tiny_profile, train=replace(tiny_profile.train, steps=8, precision="auto"))
    r = train(fixture_corpus, auto, tmp_path, CPU, resume=True)
    assert r.steps == 8 and r.precision == "bf16"
    assert Checkpoint.load(tmp_path / "checkpoint.pt").train_config.precision == "bf16"
    fp32 = replace(tiny_profile, train=replace(tiny_profile.train, steps=12, precision="fp32"))
    with pytest.raises(GencheckError, match="precision bf16 there, fp32 here"):
        train(fixture_corpus, fp32, tmp_path, CPU, resume=True)


def test_a_checkpoint_from_before_precision_loads_as_fp32(fixture_corpus, tiny_profile, tmp_path):
    train(fixture_corpus, replace(tiny_profile, train=replace(tiny_profile.train, steps=4)), tmp_path, CPU)
    path = tmp_path / "checkpoint.pt"
    payload = torch.load(path, weights_only=True)
    del payload["train_config"]["precision"]
    torch.save(payload, path)
    assert Checkpoint.load(path).train_config.precision == "fp32"


def test_threads_come_from_the_flag_then_the_environment(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("GENCHECK_THREADS", "1")
        assert use_threads(None) == 1 and torch.get_num_threads() == 1
        monkeypatch.delenv("GENCHECK_THREADS")
        assert use_threads(None) == train_mod.usable_cores()
        with pytest.raises(UsageError, match="at least 1"):
            use_threads(0)
        monkeypatch.setenv("GENCHECK_THREADS", "two")
        with pytest.raises(UsageError, match="GENCHECK_THREADS"):
            use_threads(None)
    finally:
        torch.set_num_threads(before)


def test_the_run_says_which_shape_and_precision_it_took_and_why(monkeypatch, tmp_path, capsys):
    import json

    from gencheck.cli import main

    fake_cpu(monkeypatch, native=False)
    assert main(["run", "--corpus", "latex-fixture", "--profile", "cpu", "--steps", "2", "--batch-size", "4",
                 "--seq-len", "16", "--samples", "2", "--max-chars", "40", "--no-probes", "--no-evolution",
                 "--compile-samples", "0", "--device", "cpu", "--out", str(tmp_path)]) == 0
    (run_dir,) = list(tmp_path.iterdir())
    result = json.loads((run_dir / "results.json").read_text())
    assert (result["model"]["hidden"], result["train"]["precision"]) == (128, "fp32")
    assert result["train"]["shape_note"] == "2×128, fp32: this CPU has no native bf16"
    assert "2×128, fp32: this CPU has no native bf16" in capsys.readouterr().out  # the scorecard caption
