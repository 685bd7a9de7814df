"""--precision: what auto picks, what a checkpoint records, and that bf16 really changes the arithmetic."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from gencheck import train as train_mod
from gencheck.fsutil import GencheckError, UsageError
from gencheck.model import CharRNN, ModelConfig
from gencheck.train import Checkpoint, resolve_precision, train, use_threads

CPU = torch.device("cpu")


def tiny_model() -> CharRNN:
    return CharRNN(ModelConfig(20, "lstm", 1, 8, 4))


def test_auto_on_a_cpu_follows_native_bf16(monkeypatch):
    monkeypatch.setattr(train_mod, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", CPU, tiny_model()) == ("fp32", None)
    monkeypatch.setattr(train_mod, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", CPU, tiny_model()) == ("bf16", torch.bfloat16)
    assert resolve_precision("fp32", CPU, tiny_model()) == ("fp32", None)


def test_explicit_bf16_without_native_support_runs_with_a_warning(monkeypatch, capsys):
    monkeypatch.setattr(train_mod, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("bf16", CPU, tiny_model()) == ("bf16", torch.bfloat16)
    assert "no native bf16" in capsys.readouterr().err


def test_bf16_that_cannot_run_is_an_error_when_asked_for_and_fp32_under_auto(monkeypatch):
    monkeypatch.setattr(train_mod, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(train_mod, "_bf16_runs", lambda device, model: "no kernel for this")
    with pytest.raises(UsageError, match="--precision bf16 does not run.*no kernel"):
        resolve_precision("bf16", CPU, tiny_model())
    assert resolve_precision("auto", CPU, tiny_model()) == ("fp32", None)


def test_unknown_precision_is_a_usage_error():
    with pytest.raises(UsageError, match="choose one of auto, fp32, bf16"):
        resolve_precision("fp8", CPU, tiny_model())


def test_checkpoint_records_what_ran_and_bf16_changes_the_weights(fixture_corpus, tiny_profile, tmp_path):
    weights = {}
    for p in ("fp32", "bf16"):
        prof = replace(tiny_profile, train=replace(tiny_profile.train, steps=4, precision=p))
        train(fixture_corpus, prof, tmp_path / p, CPU)
        ck = Checkpoint.load(tmp_path / p / "checkpoint.pt")
        assert ck.train_config.precision == p
        weights[p] = ck.model_state["head.weight"]
    assert not torch.equal(weights["fp32"], weights["bf16"])  # autocast reached the training step


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
