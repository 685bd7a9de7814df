"""Model families behind one interface (gencheck/models): registry, state (de)serialisation, describe(),
old checkpoints, and each family's chunked-equals-full contract. CPU, seeded, seconds."""

from __future__ import annotations

from dataclasses import asdict, replace

import pytest
import torch
from torch import nn

from gencheck.fsutil import UsageError
from gencheck.model import CharRNN, state_from_list, state_to_list
from gencheck.models import ModelConfig, build_model, kinds
from gencheck.train import Checkpoint, train

CPU = torch.device("cpu")
RNNS = ["lstm", "gru", "rnn"]
try:
    import xlstm  # noqa: F401

    NO_XLSTM = ""
except ImportError as exc:  # the optional extra (Python >= 3.11): its family's tests are skipped with the reason
    NO_XLSTM = f"the xlstm extra is not installed ({exc})"
#: Every family, the xlstm one skipped where its extra is missing.
FAMILIES = [pytest.param(k, marks=pytest.mark.skipif(bool(NO_XLSTM) and k == "xlstm", reason=NO_XLSTM or "-"))
            for k in kinds()]


def tiny(kind: str, **kw) -> ModelConfig:
    return ModelConfig(20, kind, **{"layers": 2, "hidden": 16, "embed": 8, **kw})


@pytest.mark.parametrize("kind", RNNS)
def test_the_registry_builds_the_rnns_as_before(kind):
    """Same modules in the same order: the same initial weights and outputs as the textbook model."""
    torch.manual_seed(0)
    model = build_model(tiny(kind))
    torch.manual_seed(0)
    ref = nn.ModuleDict({"embed": nn.Embedding(20, 8),
                         "rnn": {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind](8, 16, 2, batch_first=True),
                         "head": nn.Linear(16, 20)})
    assert isinstance(model, CharRNN)
    sd = model.state_dict()
    assert list(sd) == [k for k in ref.state_dict()] and all(torch.equal(sd[k], v) for k, v in ref.state_dict().items())
    x = torch.randint(0, 20, (2, 9))
    out, _ = ref["rnn"](ref["embed"](x))
    assert torch.equal(model(x)[0], ref["head"](out))


def test_an_unknown_kind_is_a_usage_error_naming_the_known_ones():
    with pytest.raises(UsageError, match="unknown model kind 'gpt5'; known: lstm, gru, rnn"):
        build_model(tiny("gpt5"))


@pytest.mark.parametrize("kind", FAMILIES)
def test_state_survives_the_checkpoint_round_trip(kind):
    torch.manual_seed(1)
    model = build_model(tiny(kind)).eval()
    x = torch.randint(0, 20, (3, 11))
    _, state = model(x)
    saved = model.state_to_list(state)
    assert all(t.device == CPU and not t.requires_grad for t in saved)
    restored = model.state_from_list(saved, CPU)
    nxt = torch.randint(0, 20, (3, 5))
    assert torch.equal(model(nxt, state)[0], model(nxt, restored)[0])
    # the old module-level helpers give the same
    assert all(torch.equal(a, b) for a, b in zip(state_to_list(state), saved))
    assert torch.equal(model(nxt, state_from_list(saved, kind, CPU))[0], model(nxt, state)[0])
    assert model.state_from_list([], CPU) is None


def test_describe_counts_weights_not_the_embedding():
    model = build_model(ModelConfig(20, "lstm", layers=1, hidden=16, embed=8))
    d = model.describe()
    lstm = 4 * 16 * (8 + 16) + 2 * 4 * 16
    head = 16 * 20 + 20
    assert d.params == 20 * 8 + lstm + head
    assert d.flops_per_char == 2 * (lstm + head) and d.context_limit is None


def test_a_checkpoint_written_before_the_model_families_still_loads_and_resumes(fixture_corpus, tiny_profile,
                                                                               tmp_path):
    """A payload as `Checkpoint.save` wrote it before issue 23: `model_config` without the fields added since."""
    p = replace(tiny_profile, train=replace(tiny_profile.train, steps=4))
    train(fixture_corpus, p, tmp_path, CPU)
    path = tmp_path / "checkpoint.pt"
    old = torch.load(path, weights_only=True)
    before = {"vocab_size", "kind", "layers", "hidden", "embed", "dropout"}
    old["model_config"] = {k: v for k, v in old["model_config"].items() if k in before}
    assert set(old["model_config"]) == before and len(old["hidden"]) == 2  # an LSTM's (h, c)
    torch.save(old, path)
    ck = Checkpoint.load(path)
    assert asdict(ck.model_config) == {**old["model_config"], "context": 256, "heads": 4}
    assert isinstance(ck.build_model(CPU), CharRNN)
    r = train(fixture_corpus, replace(p, train=replace(p.train, steps=8)), tmp_path, CPU, resume=True)
    assert r.steps == 8


@pytest.mark.parametrize("kind", FAMILIES)
def test_chunks_with_carried_state_equal_one_pass(kind):
    torch.manual_seed(0)
    model = build_model(tiny(kind)).eval()
    x = torch.randint(0, 20, (3, 50))
    full, _ = model(x)
    state, parts = None, []
    for a in range(0, 50, 7):
        out, state = model(x[:, a : a + 7], state)
        parts.append(out)
    assert torch.allclose(full, torch.cat(parts, dim=1), atol=1e-5)


def test_the_command_lines_model_names_are_the_registry():
    from gencheck.config import MODEL_KINDS

    assert MODEL_KINDS == kinds()


@pytest.mark.parametrize("carried", [False, True])
def test_mingru_scan_equals_the_sequential_form(carried):
    """The training path (log-space scan) and the sampling path (one step after another) agree."""
    torch.manual_seed(2)
    model = build_model(tiny("mingru", layers=3)).eval()
    state = model(torch.randint(0, 20, (4, 13)), parallel=False)[1] if carried else None
    x = torch.randint(0, 20, (4, 40))
    scan, s1 = model(x, state, parallel=True)
    seq, s2 = model(x, state, parallel=False)
    assert torch.allclose(scan, seq, atol=1e-5, rtol=1e-4)
    assert all(torch.allclose(a, b, atol=1e-5, rtol=1e-4) for a, b in zip(s1, s2))


def test_mingru_scan_is_stable_over_a_long_chunk():
    """a* = Σ log a falls by hundreds over a long chunk; the log-space scan must not overflow or underflow."""
    torch.manual_seed(3)
    model = build_model(tiny("mingru"))
    logits, state = model(torch.randint(0, 20, (2, 4000)))
    assert torch.isfinite(logits).all() and all(torch.isfinite(s).all() and (s > 0).all() for s in state)
    logits.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def transformer(**kw) -> torch.nn.Module:
    torch.manual_seed(4)
    return build_model(tiny("transformer", **{"context": 9, "heads": 2, **kw})).eval()


def test_transformer_one_character_at_a_time_equals_a_full_forward():
    """Sampling's path (one character per call, keys and values carried) gives the full pass's logits."""
    model = transformer(layers=3)
    x = torch.randint(0, 20, (2, 40))
    full, _ = model(x)
    state, steps = None, []
    for t in range(40):
        out, state = model(x[:, t : t + 1], state)
        steps.append(out)
    assert torch.allclose(full, torch.cat(steps, dim=1), atol=1e-5)
    assert all(s.shape[2] == 8 for s in state)  # W − 1 positions kept, not the whole stream


def test_transformer_sees_exactly_its_window():
    """A character beyond layers × (W − 1) cannot change a prediction; one just inside can."""
    model = transformer(layers=2)
    limit = model.describe().context_limit
    assert limit == 2 * 8 + 1
    x = torch.randint(0, 19, (1, 30))
    for far, changes in ((30 - limit - 1, False), (30 - limit, True)):
        y = x.clone()
        y[0, far] += 1
        assert (not torch.allclose(model(x)[0][0, -1], model(y)[0][0, -1])) == changes, far


def test_transformer_positions_do_not_grow_with_the_stream():
    """Rotary positions count from the window: the last chunk of a long stream, run in chunks, equals a fresh
    pass over just the characters it can see (which starts its positions at 0)."""
    model = transformer(layers=2)
    x = torch.randint(0, 20, (2, 600))
    state = None
    for a in range(0, 600, 12):
        out, state = model(x[:, a : a + 12], state)
    seen = x[:, -(12 + model.describe().context_limit - 1):]
    assert torch.allclose(out, model(seen)[0][:, -12:], atol=1e-5)
    assert all(s.shape[2] == 8 for s in state)


def test_transformer_refuses_a_width_the_heads_cannot_split():
    with pytest.raises(UsageError, match="--hidden 15 --heads 2"):
        build_model(tiny("transformer", hidden=15, heads=2))


def test_conv_sees_exactly_its_receptive_field():
    torch.manual_seed(5)
    model = build_model(tiny("conv", layers=3)).eval()
    limit = model.describe().context_limit
    assert limit == 1 + 2 * (1 + 2 + 4)
    x = torch.randint(0, 19, (1, 30))
    for far, changes in ((30 - limit - 1, False), (30 - limit, True)):
        y = x.clone()
        y[0, far] += 1
        assert (not torch.allclose(model(x)[0][0, -1], model(y)[0][0, -1])) == changes, far


@pytest.mark.bf16
@pytest.mark.parametrize("kind", FAMILIES)
def test_every_family_trains_in_bf16_autocast(kind):
    """bf16 is probed on the family itself (train.choose_precision), never on an LSTM standing in for it; the
    carried state goes on through steps and the checkpoint's round trip."""
    from gencheck.config import TrainConfig
    from gencheck.train import choose_precision, make_optimizer, train_step

    torch.manual_seed(6)
    model = build_model(tiny(kind))
    choice = choose_precision("bf16", CPU, model)
    assert (choice.precision, choice.failed) == ("bf16", None)
    opt, cfg = make_optimizer(model, TrainConfig(), CPU), TrainConfig()
    x = torch.randint(0, 20, (2, 17))  # 17: not a multiple of xlstm's chunk, which takes its other kernel
    state = None
    for _ in range(3):
        loss, state = train_step(model, opt, x, torch.roll(x, -1, 1), state, choice.amp, cfg.grad_clip)
        state = model.state_from_list(model.state_to_list(state), CPU)
    assert torch.isfinite(loss) and 0 < loss.item() < 10


def test_results_model_fields_hold_describe_and_only_the_familys_settings():
    from gencheck.train import TrainResult, model_fields

    def fields(kind: str) -> dict:
        model = build_model(tiny(kind, heads=2))
        r = TrainResult(None, model.cfg, model.describe().params, 0, 0.0, 0.0, 0.0, 0.0, [],
                        description=model.describe())
        return model_fields(model.cfg, r)

    lstm, gpt = fields("lstm"), fields("transformer")
    assert "context" not in lstm and "heads" not in lstm and lstm["context_limit"] is None
    assert lstm["flops_per_char"] == build_model(tiny("lstm")).describe().flops_per_char
    assert (gpt["context"], gpt["heads"], gpt["context_limit"]) == (256, 2, 2 * 255 + 1)
    assert gpt["flops_per_char"] > 4 * 2 * 256 * 16  # the attention over the window counts


def test_results_json_with_and_without_the_describe_fields_loads():
    """results.json made before describe() (no flops_per_char, context_limit) still loads; new ones too."""
    import json
    from pathlib import Path

    from gencheck.results import RunResult
    from gencheck.schema import RESULTS, ShapeError

    old = json.loads((Path(__file__).parent / "baselines" / "latex-smoke.json").read_text())
    RESULTS(old, "")
    new = {**old, "model": {**old["model"], "flops_per_char": 1000, "context_limit": None}}
    RESULTS(new, "")
    RESULTS({**new, "model": {**new["model"], "kind": "transformer", "context": 64, "heads": 4,
                              "context_limit": 127}}, "")
    with pytest.raises(ShapeError, match="context_limit"):
        RESULTS({**new, "model": {**new["model"], "context_limit": "far"}}, "")
    assert RunResult.from_json(new).model["flops_per_char"] == 1000


@pytest.mark.skipif(bool(NO_XLSTM), reason=NO_XLSTM or "-")
def test_xlstm_both_kernels_give_one_pass_and_a_given_state_is_not_changed():
    from gencheck.models.xlstm import CHUNK

    torch.manual_seed(2)
    model = build_model(tiny("xlstm", layers=2, hidden=16, heads=2)).eval()
    x = torch.randint(0, 20, (2, 3 * CHUNK))
    full, _ = model(x)  # 48 characters: a multiple of the chunk, the chunkwise-parallel kernel
    assert torch.allclose(model.net(x)[0], full, atol=1e-6)  # the package's own forward: the same model
    cuts = [0, CHUNK, CHUNK + 1, CHUNK + 6, 2 * CHUNK, 3 * CHUNK]  # 16 (chunkwise), 1, 5, 10 (the other kernel), 16
    parts, state = [], None
    for a, b in zip(cuts, cuts[1:]):
        kept = None if state is None else [t.clone() for t in state]
        out, new = model(x[:, a:b], state)
        assert kept is None or all(torch.equal(s, k) for s, k in zip(state, kept))  # a caller's state stays
        parts.append(out)
        state = new
    assert torch.allclose(torch.cat(parts, 1), full, atol=1e-5)
    d = model.describe()
    assert d.context_limit is None and d.params == sum(p.numel() for p in model.parameters())


def test_xlstm_refuses_a_width_its_heads_cannot_split():
    with pytest.raises(UsageError, match="divisible by 2 × heads"):
        build_model(tiny("xlstm", hidden=12, heads=4))
