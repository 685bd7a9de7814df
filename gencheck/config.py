"""Run configuration: frozen dataclasses and the named profiles (smoke, cpu, gpu)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000
    batch_size: int = 64
    seq_len: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    eval_every: int = 200  # also the checkpoint interval
    eval_chars: int = 200_000  # val chars scored at each interval (the final score uses all of val/test)
    vocab_min_count: int = 1
    seed: int = 1337
    # fp32, bf16 (autocast; fp32 master weights) or auto. A checkpoint stores what actually ran.
    precision: str = "auto"
    # A warm start (`--warm-start latex-drill:8M`): the first `warm_chars` characters of the budget are drawn
    # from the named corpus's train split, the rest from the run's corpus (gencheck.train, "phases").
    warm_start: str = ""
    warm_chars: int = 0


@dataclass(frozen=True)
class SampleConfig:
    num_samples: int = 64
    max_chars: int = 2000
    temperature: float = 0.8
    top_k: int = 0
    prime: str = ""
    seed: int = 1337


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    kind: str = "lstm"
    layers: int = 2
    hidden: int = 128
    embed: int = 64
    dropout: float = 0.0
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    # Why the shape is what it is on this machine ("2×128, fp32: this CPU has no native bf16"), set by
    # train.settle_shape; shown in the scorecard caption and kept in results.json, never part of a run's identity.
    note: str = ""
    context: int = 256  # transformer: attention window in characters (--context)
    heads: int = 4  # transformer: attention heads (--heads)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        "smoke", "about a minute on a laptop CPU: proves the pipeline, learns little",
        layers=1, hidden=64, embed=32,
        train=TrainConfig(steps=150, batch_size=16, seq_len=64, eval_every=50, eval_chars=20_000),
        sample=SampleConfig(num_samples=16, max_chars=400),
    ),
    # 2×256 in bf16 (a CPU with native bf16, `--precision auto`) trains 17 M characters in the time 2×128
    # took for 26 M in fp32, to val 2.01 bits/char instead of 2.30 on `latex` (docs/measurements.md). In fp32
    # it is 2×128 instead (FP32_SHAPES): 2×256 fp32 runs at 13-14 k chars/s on a 2-core CPU, 21 minutes.
    "cpu": Profile(
        "cpu", "the default without CUDA: about 10 minutes on 2 CPU cores (2×256 in bf16 where the CPU has "
               "it natively, else 2×128 in fp32)",
        layers=2, hidden=256, embed=64,
        train=TrainConfig(steps=2100, batch_size=64, seq_len=128, eval_every=300, vocab_min_count=100),
        sample=SampleConfig(num_samples=128, max_chars=2000, temperature=0.7),
    ),
    # Drill corpora (gencheck/drill.py): a 1×128 LSTM at lr 5e-3, BPTT 256, fp32 (the same figures on every
    # CPU). On latex-drill its memory forms suddenly at about 10 M characters and then holds past d_train;
    # the cpu profile's 2×256 at 3e-3 stayed at chance through 9.5 M (docs/measurements.md, 2026-12-03).
    "drill": Profile(
        "drill", "the default for drill corpora without CUDA: a 1×128 LSTM in fp32, about 5 minutes on 2 CPU cores",
        layers=1, hidden=128, embed=64,
        train=TrainConfig(steps=2400, batch_size=32, seq_len=256, lr=5e-3, eval_every=400, precision="fp32"),
        sample=SampleConfig(num_samples=64, max_chars=2000, temperature=0.7),
    ),
    "gpu": Profile(
        "gpu", "the default with CUDA: a real-size 3×512 LSTM",
        layers=3, hidden=512, embed=128, dropout=0.1,
        train=TrainConfig(steps=6000, batch_size=128, seq_len=256, lr=2e-3, eval_every=500,
                          eval_chars=1_000_000, vocab_min_count=100),
        sample=SampleConfig(num_samples=256, max_chars=3000),
    ),
}


#: The shape a profile trains instead when it runs in fp32 (no native bf16, or `--precision fp32`), so that its
#: step budget still fits its time budget: 2×128 fp32 trains the cpu profile's 17 M characters in 350 s on a
#: 2-core CPU without bf16, where 2×256 fp32 needs 21 minutes (issue 20; docs/measurements.md). A shape flag
#: typed by the user always wins (train.settle_shape).
FP32_SHAPES: dict[str, dict[str, int]] = {"cpu": {"hidden": 128}}


def with_overrides(profile: Profile, **kw) -> Profile:
    """Apply CLI overrides that are not None (model fields at the top, train/sample fields nested)."""
    top = {k: v for k, v in kw.items() if v is not None and k in Profile.__dataclass_fields__}
    tr = {k: v for k, v in kw.items() if v is not None and k in TrainConfig.__dataclass_fields__}
    sm = {k: v for k, v in kw.items() if v is not None and k in SampleConfig.__dataclass_fields__}
    if set(top) & {"kind", "layers", "hidden"} or "precision" in tr:
        top["note"] = ""  # it explained the shape and precision these replace
    out = replace(profile, **top, train=replace(profile.train, **tr), sample=replace(profile.sample, **sm))
    check_profile(out)
    return out


#: Every `--model` name (gencheck/models registers the same, in this order; a test checks). Kept here so
#: that the command line parses without importing torch.
MODEL_KINDS = ("lstm", "gru", "rnn", "mingru", "transformer", "conv", "xlstm")

#: Model settings only some families use, with those families: left out of a grid point's identity and of
#: results.json's `model` for the others, so that older grids keep their folders and an LSTM shows no window.
FAMILY_SETTINGS: dict[str, tuple[str, ...]] = {
    "context": ("transformer",), "heads": ("transformer", "xlstm"),
    # the xlstm package's model embeds at its width and has no dropout
    "embed": tuple(k for k in MODEL_KINDS if k != "xlstm"), "dropout": tuple(k for k in MODEL_KINDS if k != "xlstm")}


def unused_settings(kind: str) -> list[str]:
    """The model settings a `kind` model ignores."""
    return [k for k, families in FAMILY_SETTINGS.items() if kind not in families]


#: Settings that must be whole numbers ≥ 1, with the flag that sets them.
_AT_LEAST_ONE = {"layers": "--layers", "hidden": "--hidden", "embed": "--embed", "context": "--context",
                 "heads": "--heads"}
_TRAIN_AT_LEAST_ONE = {"steps": "--steps", "batch_size": "--batch-size", "seq_len": "--seq-len"}


def check_profile(profile: Profile) -> None:
    """Refuse a setting no model can train with, naming the flag, before anything is built (a zero-width
    LSTM otherwise fails deep inside torch, a grid point only after the points before it)."""
    from .fsutil import UsageError

    bad = [f"{flag} {getattr(profile, k)}" for k, flag in _AT_LEAST_ONE.items() if getattr(profile, k) < 1]
    bad += [f"{flag} {getattr(profile.train, k)}" for k, flag in _TRAIN_AT_LEAST_ONE.items()
            if getattr(profile.train, k) < 1]
    if bad:
        raise UsageError(f"{', '.join(bad)}: must be at least 1")
    if profile.kind not in MODEL_KINDS:
        raise UsageError(f"--model {profile.kind}: choose from {', '.join(MODEL_KINDS)}")
    if not 0.0 <= profile.dropout < 1.0:
        raise UsageError(f"--dropout {profile.dropout:g}: must be at least 0 and below 1")
    if not profile.train.lr > 0:
        raise UsageError(f"--lr {profile.train.lr:g}: must be positive")
    check_sample(profile.sample)


def check_sample(cfg: SampleConfig, count_flag: str = "--samples") -> None:
    """Refuse sampling settings no sampler can use, naming the flag, before a model is trained or loaded
    (no samples crashed a run after training; a NaN temperature crashed torch.multinomial)."""
    import math

    from .fsutil import UsageError

    if cfg.num_samples < 1:
        raise UsageError(f"{count_flag} {cfg.num_samples}: must be at least 1")
    if cfg.max_chars < 1:
        raise UsageError(f"--max-chars {cfg.max_chars}: must be at least 1")
    if not (math.isfinite(cfg.temperature) and cfg.temperature >= 0):
        raise UsageError(f"--temperature {cfg.temperature:g}: must be a finite number, 0 (greedy) or more")
    if cfg.top_k < 0:
        raise UsageError(f"--top-k {cfg.top_k}: must be 0 (all) or more")
