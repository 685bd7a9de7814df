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
    # the training data's order alone (None: `seed`); `--seeds` varies seed with this fixed, `--data-seeds` this
    data_seed: int | None = None
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
    # 2×256 in bf16 (a CPU with native bf16 that races faster than fp32, `--precision auto`) trains 17 M characters in the time 2×128
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
        "drill", "the default for drill corpora without CUDA: a 1×128 LSTM in fp32, about 6 minutes on 2 CPU cores",
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


@dataclass(frozen=True)
class Limit:
    """The range a numeric setting may take: `lo` ≤ value ≤ `hi` (`lo` excluded where `lo_open`, `hi` where
    `hi_open`), a whole number where `integer`. One table (LIMITS) serves the command line's parser
    (gencheck.cli: `--hidden 1000000000` is refused as it is parsed), the profile check below, and a
    checkpoint's saved settings (train.Checkpoint.load: a damaged file never reaches torch with them)."""

    lo: float
    hi: float
    integer: bool = True
    lo_open: bool = False
    hi_open: bool = False

    def problem(self, value: object) -> str | None:
        """Why `value` is not in range (None when it is); a bool, a string or NaN is never a number here."""
        import math

        if isinstance(value, bool) or not isinstance(value, int if self.integer else (int, float)):
            return f"must be {'a whole number' if self.integer else 'a number'}"
        if not self.integer and not math.isfinite(value):
            return "must be a finite number"
        if value < self.lo or value > self.hi or (self.lo_open and value == self.lo) or \
                (self.hi_open and value == self.hi):
            return f"must be {self.describe()}"
        return None

    def describe(self) -> str:
        show = (lambda v: f"{v:,}") if self.integer else (lambda v: f"{v:g}")
        lo = f"above {show(self.lo)}" if self.lo_open else f"at least {show(self.lo)}"
        hi = f"below {show(self.hi)}" if self.hi_open else f"at most {show(self.hi)}"
        return f"{lo} and {hi}"


#: The most characters a vocabulary can hold: every Unicode code point, plus separator and unknown.
MAX_VOCAB = 0x110000 + 2
#: The largest seed: what numpy's and torch's generators all accept (K seeds of a grid start below it too).
MAX_SEED = 2**32 - 1

#: Every numeric model, training and sampling setting, by its name in Profile, TrainConfig, SampleConfig and
#: models.ModelConfig. Wide enough for any real run, narrow enough that nothing in range overflows or asks
#: for an absurd allocation (a width of 16,384 is the widest `--match` searches too).
LIMITS: dict[str, Limit] = {
    "vocab_size": Limit(2, MAX_VOCAB),
    "layers": Limit(1, 256), "hidden": Limit(1, 16_384), "embed": Limit(1, 16_384),
    "context": Limit(1, 1 << 20), "heads": Limit(1, 1024),
    "dropout": Limit(0.0, 1.0, integer=False, hi_open=True),
    "steps": Limit(1, 10**9), "batch_size": Limit(1, 1 << 16), "seq_len": Limit(1, 1 << 20),
    "lr": Limit(0.0, 10.0, integer=False, lo_open=True),
    "seed": Limit(0, MAX_SEED), "data_seed": Limit(0, MAX_SEED),
    "num_samples": Limit(1, 1 << 20), "max_chars": Limit(1, 10**8),
    "top_k": Limit(0, MAX_VOCAB),
    # 0 is greedy; between 0 and 1e-3 the logits / temperature overflow to inf (1e-320 crashed torch)
    "temperature": Limit(0.0, 1000.0, integer=False),
}
#: The longest prime (`sample --prime-file`): a megabyte of text is a long document already.
MAX_PRIME_CHARS = 1 << 20
#: The most characters one sampling batch holds (samples × (max_chars + prime)): 2 GB of ids.
MAX_BATCH_CHARS = 1 << 28
#: The smallest temperature above 0 (greedy) that sampling divides by without overflow.
MIN_TEMPERATURE = 1e-3


def shown(text: str | None, width: int = 40) -> str:
    """A typed value as a message shows it: one of 400 digits cut to its first `width` characters."""
    text = text or ""
    return text if len(text) <= width else text[:width] + "…"


def setting_problem(name: str, value: object) -> str | None:
    """Why a setting's value is out of LIMITS (None when it is in range, or has no limit)."""
    if name == "data_seed" and value is None:
        return None  # the run's seed orders the data
    limit = LIMITS.get(name)
    why = limit.problem(value) if limit is not None else None
    if why is None and name == "temperature" and 0 < value < MIN_TEMPERATURE:  # type: ignore[operator]
        why = f"must be 0 (greedy) or at least {MIN_TEMPERATURE:g}"
    return why


def check_profile(profile: Profile) -> None:
    """Refuse a setting no model can train with, naming the flag, before anything is built (a zero-width
    LSTM otherwise fails deep inside torch, a grid point only after the points before it)."""
    from dataclasses import asdict

    from .fsutil import UsageError

    flags = {"kind": "--model", "batch_size": "--batch-size", "seq_len": "--seq-len"}
    settings = {**{k: getattr(profile, k) for k in ("layers", "hidden", "embed", "dropout", "context", "heads")},
                **{k: v for k, v in asdict(profile.train).items() if k in ("steps", "batch_size", "seq_len", "lr",
                                                                             "seed", "data_seed")}}
    bad = [f"{flags.get(k, '--' + k)} {v}: {why}" for k, v in settings.items()
           if (why := setting_problem(k, v)) is not None]
    if bad:
        raise UsageError("; ".join(bad))
    if profile.kind not in MODEL_KINDS:
        raise UsageError(f"--model {profile.kind}: choose from {', '.join(MODEL_KINDS)}")
    check_sample(profile.sample)


def check_sample(cfg: SampleConfig, count_flag: str = "--samples") -> None:
    """Refuse sampling settings no sampler can use, naming the flag, before a model is trained or loaded
    (no samples crashed a run after training; a NaN temperature crashed torch.multinomial)."""
    from .fsutil import UsageError

    flags = {"num_samples": count_flag, "max_chars": "--max-chars", "top_k": "--top-k"}
    if len(cfg.prime) > MAX_PRIME_CHARS:
        raise UsageError(f"the prime has {len(cfg.prime):,} characters, more than the {MAX_PRIME_CHARS:,} allowed")
    for name in ("num_samples", "max_chars", "temperature", "top_k", "seed"):
        value = getattr(cfg, name)
        why = setting_problem(name, value)
        if why is not None:
            raise UsageError(f"{flags.get(name, '--' + name)} {value}: {why}")
    chars = cfg.num_samples * (cfg.max_chars + len(cfg.prime))
    if chars > MAX_BATCH_CHARS:  # the batch holds every sample's characters at once
        raise UsageError(f"{count_flag} {cfg.num_samples} × --max-chars {cfg.max_chars} (+ the prime): "
                         f"{chars:,} characters in one batch, more than the {MAX_BATCH_CHARS:,} allowed")
