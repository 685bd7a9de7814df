"""Training: stateful truncated BPTT over document streams, with exact resume.

Read top to bottom: the data (a stream per epoch, a pure function of seed and epoch), the loop, the
evaluation, the checkpoint. The hidden state is carried across consecutive chunks of each of the
`batch_size` parallel streams, like char-rnn's long unroll, and reset at each epoch.
"""

from __future__ import annotations

import math
import os
import random
import stat
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from rich.markup import escape

from .config import (FP32_SHAPES, MODEL_KINDS, PROFILES, Profile, SampleConfig, TrainConfig, setting_problem, shown,
                     unused_settings, with_overrides)
from .corpus import SEP, UNK, Corpus, Vocab, encode, stream
from .fsutil import GencheckError, TrainingDiverged, UsageError, atomic_write  # noqa: F401 - TrainingDiverged is raised here
from .models import CharModel, ModelConfig, ModelDescription, build_model, param_count
from .evolution import evolution_steps
from .progress import log, progress

CHECKPOINT_FORMAT = "gencheck-checkpoint"
CHECKPOINT_VERSION = 1


# --- device ------------------------------------------------------------------------------------------

def pick_device(requested: str = "auto") -> torch.device:
    """auto: CUDA when present, else CPU. Asking for CUDA on a machine without it is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but this machine has no CUDA device (use --device cpu)")
    if requested == "mps" and not torch.backends.mps.is_available():
        raise UsageError("--device mps was asked for, but MPS is not available here")
    try:
        return torch.device(requested)
    except RuntimeError as exc:
        raise UsageError(f"unknown device {requested!r}: {exc}") from None


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, e.g. a container's cpuset), not the host's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def use_threads(requested: int | None) -> int:
    """Set torch's intra-op threads: `--threads`, else $GENCHECK_THREADS, else all usable cores. Training,
    scoring and sampling run one after another and the validation pool only after them (docs/running.md,
    "Threads"), so the two never compete for the same cores."""
    if requested is None and os.environ.get("GENCHECK_THREADS"):
        try:
            requested = int(os.environ["GENCHECK_THREADS"])
        except ValueError:
            raise UsageError(f"GENCHECK_THREADS={os.environ['GENCHECK_THREADS']!r} is not a number of threads") from None
    n = usable_cores() if requested is None else requested
    if n < 1:
        raise UsageError(f"--threads {requested}: give at least 1")
    torch.set_num_threads(n)
    return n


PRECISIONS = ("auto", "fp32", "bf16")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bf16 natively (AVX512-BF16 or AMX): read from /proc/cpuinfo, the one
    public source; elsewhere (macOS, Windows) the answer is no, and `auto` stays in fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))


def _bf16_runs(device: torch.device, model: CharModel) -> str | None:
    """Run one tiny forward+backward under bf16 autocast; None if it works, else the error's first line."""
    try:
        x = torch.zeros(2, 3, dtype=torch.long, device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            logits, _ = model(x)
        logits.float().sum().backward()
        return None
    except RuntimeError as exc:
        return str(exc).splitlines()[0] if str(exc) else repr(exc)
    finally:
        model.zero_grad(set_to_none=True)


def bf16_problem(device: torch.device, kind: str = "lstm") -> str | None:
    """Why bf16 autocast cannot train a `kind` RNN here (None: it can). A CPU without bf16 kernels, such as
    an AVX2-only one, fails inside oneDNN ("could not create a primitive descriptor")."""
    return _bf16_runs(device, build_model(ModelConfig(4, kind, 1, 8, 4)).to(device))


#: bf16 is chosen by `auto` on a CPU only when it trains at least this much faster than fp32 in the race
#: (`bf16_race`): at equal speed fp32 is kept, for its exact arithmetic. Measured on this project's CPUs:
#: 3.3× on one host with native bf16 (2×256 LSTM), 0.76× on another whose flags also say avx512_bf16
#: (docs/measurements.md, "bf16 by flags or by a race"), so the flags alone do not decide.
BF16_MARGIN = 1.15
RACE_ROUNDS = 3
RACE_STEPS = 2  # timed steps per round, after one warm-up step per precision
RACE_BATCH = (32, 64)  # streams × characters: small, so that a race of a 2×256 LSTM takes about a second
#: The shape raced, whatever the run trains: the `cpu` profile's 2×256 LSTM. The question is a property of
#: the machine (are its bf16 kernels fast?), and a tiny model's race is too close to call and flips with the
#: load (measured: a 1×16 grid point trained in bf16 in one process and fp32 in another), so one shape
#: answers it for every run, and two runs of one command on one machine choose alike.
RACE_SHAPE = ModelConfig(100, "lstm", 2, 256, 64)


@dataclass(frozen=True)
class Race:
    """Training speed of one shape in fp32 and in bf16 on this machine, best of RACE_ROUNDS interleaved rounds."""

    shape: str  # "2×256"
    fp32: float  # chars/s
    bf16: float

    @property
    def bf16_wins(self) -> bool:
        return self.bf16 >= BF16_MARGIN * self.fp32

    def describe(self) -> str:
        return f"{self.shape}: bf16 {self.bf16 / 1000:,.1f} k chars/s, fp32 {self.fp32 / 1000:,.1f} k, raced at start"


_RACES: dict[tuple, Race] = {}  # one race per shape, device and thread count in a process: a fact of the machine


def bf16_race(cfg: ModelConfig, device: torch.device) -> Race:
    """Race fp32 against bf16 autocast on `cfg`'s shape: a few `train_step`s of a fresh model in each,
    interleaved so that a drift of the host's speed hits both. Why race at all: a CPU whose flags say
    avx512_bf16 may still run oneDNN's bf16 kernels slower than fp32 (measured; BF16_MARGIN), and the
    choice of shape and precision is what a ten-minute budget rests on. Cached per process, so that the
    shape settled before the corpus is built and the training that follows see the same answer."""
    key = (device.type, replace(cfg, vocab_size=0, dropout=0.0), torch.get_num_threads())
    if key not in _RACES:
        with torch.random.fork_rng(devices=[]):  # the run's own seeding must not depend on whether it raced
            _RACES[key] = _race(cfg, device)
    return _RACES[key]


def _race(cfg: ModelConfig, device: torch.device) -> Race:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, cfg.vocab_size, RACE_BATCH, generator=g).to(device)
    y = torch.roll(x, -1, dims=1)
    runs = {}
    for name, amp in (("fp32", None), ("bf16", torch.bfloat16)):
        torch.manual_seed(0)
        model = build_model(cfg).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        train_step(model, opt, x, y, None, amp, 1.0)  # warm-up: kernel selection, allocations
        runs[name] = (model, opt, amp)
    best = {"fp32": 0.0, "bf16": 0.0}
    for _ in range(RACE_ROUNDS):
        for name, (model, opt, amp) in runs.items():
            t0 = time.perf_counter()
            for _ in range(RACE_STEPS):
                loss, _ = train_step(model, opt, x, y, None, amp, 1.0)
            loss.item()
            best[name] = max(best[name], RACE_STEPS * x.numel() / (time.perf_counter() - t0))
    return Race(f"{cfg.layers}×{cfg.hidden}", best["fp32"], best["bf16"])


@dataclass(frozen=True)
class PrecisionChoice:
    """What training runs in and why, decided before anything is built."""

    precision: str  # fp32 or bf16, never auto
    reason: str  # for a person: "this CPU has no native bf16", "--precision fp32", ...
    failed: str | None = None  # the error of a bf16 attempt that did not run

    @property
    def amp(self) -> torch.dtype | None:
        return torch.bfloat16 if self.precision == "bf16" else None


def choose_precision(requested: str, device: torch.device, model: CharModel) -> PrecisionChoice:
    """auto: bf16 on CUDA when this torch/cuDNN runs the RNN in it (else fp32 with TF32 matmuls); on a CPU
    with native bf16 where the kernels run, bf16 when a race (on RACE_SHAPE) finds it BF16_MARGIN faster than
    fp32 (`bf16_race`; the `cpu` profile gets the same bits/char at equal characters either way,
    docs/measurements.md), fp32 elsewhere. An explicit bf16 that cannot run is
    an error. Logs nothing: `resolve_precision` says what a person needs to know."""
    if requested not in PRECISIONS:
        raise UsageError(f"--precision {requested!r}: choose one of {', '.join(PRECISIONS)}")
    if requested == "fp32":
        return PrecisionChoice("fp32", "--precision fp32")
    if device.type not in ("cuda", "cpu"):
        return PrecisionChoice("fp32", f"bf16 is not tried on {device.type}")
    native = device.type == "cuda" or cpu_has_native_bf16()
    if requested == "auto" and not native:
        return PrecisionChoice("fp32", "this CPU has no native bf16")
    failed = _bf16_runs(device, model)
    if failed is None and requested == "auto" and device.type == "cpu":
        race = bf16_race(RACE_SHAPE, device)
        if not race.bf16_wins:
            return PrecisionChoice("fp32", f"bf16 is not faster here ({race.describe()})")
        return PrecisionChoice("bf16", f"this CPU has native bf16 ({race.describe()})")
    if failed is None:
        return PrecisionChoice("bf16", "--precision bf16" if requested == "bf16" else "bf16 autocast on CUDA")
    if requested == "bf16":
        raise UsageError(f"--precision bf16 does not run this {model.cfg.kind.upper()} on {device.type} "
                         f"here ({failed}); use --precision fp32")
    return PrecisionChoice("fp32", f"bf16 does not run this {model.cfg.kind.upper()} here", failed)


def resolve_precision(requested: str, device: torch.device, model: CharModel) -> tuple[str, torch.dtype | None]:
    """The precision training runs in, and the autocast dtype for it (None: plain fp32), saying once what
    a person should know (an emulated bf16, a fallback to fp32)."""
    choice = choose_precision(requested, device, model)
    if choice.precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        log("[yellow]--precision bf16: this CPU has no native bf16 (AVX512-BF16/AMX); it runs emulated, "
            "probably slower than fp32[/]")
    if choice.failed is not None:
        log(f"[yellow]bf16 autocast does not run this {model.cfg.kind} here ({escape(choice.failed)}); "
            "training in fp32[/]")
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
    return choice.precision, choice.amp


def settle_shape(name: str, profile: Profile, device: torch.device, typed: set[str] = frozenset()) -> Profile:
    """The profile as it will train on this machine: a profile with an fp32 shape (config.FP32_SHAPES) takes
    it when training would run in fp32, unless the user typed that setting. The choice and its reason go
    into `profile.note`, which the scorecard caption and results.json show, so two users on different CPUs
    know why their figures differ."""
    alt = {k: v for k, v in FP32_SHAPES.get(name, {}).items() if k not in typed}
    if not alt:
        return profile
    probe = build_model(ModelConfig(4, profile.kind, 1, 8, 4)).to(device)  # the family; the race has its own shape
    choice = choose_precision(profile.train.precision, device, probe)
    if choice.precision == "fp32":
        profile = replace(profile, **alt)
    return replace(profile, note=f"{profile.layers}×{profile.hidden}, {choice.precision}: {choice.reason}")


# --- data --------------------------------------------------------------------------------------------

@dataclass
class Streams:
    """Train documents encoded once; each epoch concatenates them in a seeded order."""

    docs: list[np.ndarray]
    batch_size: int
    seq_len: int
    seed: int

    @classmethod
    def from_texts(cls, texts: list[str], vocab: Vocab, cfg: TrainConfig) -> "Streams":
        return cls([encode(SEP + t, vocab) for t in texts], cfg.batch_size, cfg.seq_len,
                   cfg.seed if cfg.data_seed is None else cfg.data_seed)

    def epoch(self, epoch: int) -> torch.Tensor:
        """(batch_size, n) ids for this epoch: a pure function of (seed, epoch)."""
        order = list(range(len(self.docs)))
        random.Random(self.seed * 100_003 + epoch).shuffle(order)
        flat = np.concatenate([self.docs[i] for i in order])
        n = len(flat) // self.batch_size
        if n < self.seq_len + 1:
            raise GencheckError(
                f"the train split has {len(flat)} characters, too few for {self.batch_size} streams of "
                f"{self.seq_len + 1}: use a bigger corpus or a smaller --batch-size/--seq-len"
            )
        return torch.from_numpy(flat[: n * self.batch_size].reshape(self.batch_size, n))

    def chunks_per_epoch(self, data: torch.Tensor) -> int:
        return (data.shape[1] - 1) // self.seq_len

    def chunk(self, data: torch.Tensor, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        a = i * self.seq_len
        return data[:, a : a + self.seq_len], data[:, a + 1 : a + self.seq_len + 1]


def corpus_source(corpus: Corpus) -> dict:
    """What `--resume` needs to build `corpus` again: its declaration file or folder, and its format."""
    return {"origin": corpus.spec.origin, "format": corpus.spec.format} if corpus.spec.origin else {}


def recorded_corpus(ck: "Checkpoint") -> tuple[str, str | None]:
    """The `--corpus` argument (and `--format`) that builds the checkpoint's corpus again: the built-in name
    where the run was on a built-in, else the declaration file or folder it recorded; an older checkpoint
    without the record gives its corpus's name."""
    from .corpus import builtin_specs

    origin, fmt = ck.corpus_source.get("origin"), ck.corpus_source.get("format")
    builtin = builtin_specs()
    if not origin or (ck.corpus_name in builtin.names() and str(builtin.get(ck.corpus_name)) == origin):
        return ck.corpus_name, None
    return origin, fmt


# --- checkpoint --------------------------------------------------------------------------------------

@dataclass
class Checkpoint:
    model_config: ModelConfig
    train_config: TrainConfig
    vocab: Vocab
    corpus_name: str
    corpus_hash: str
    step: int
    epoch: int
    chunk: int
    model_state: dict
    optim_state: dict | None = None
    rng: dict = field(default_factory=dict)
    hidden: list = field(default_factory=list)
    history: list = field(default_factory=list)
    # Added within version 1 (None in older checkpoints): what a resumed run must report and sample with.
    profile_name: str | None = None
    sample_config: SampleConfig | None = None  # None until a `gencheck run` chose them
    train_seconds: float | None = None  # training time up to `step`, over all sessions
    evolution: list = field(default_factory=list)  # rows of gencheck.evolution, up to `step`
    profile_note: str = ""  # why the shape is what it is on the machine that started it (Profile.note)
    warm: dict = field(default_factory=dict)  # the warm-start phase ({corpus, content_hash, steps, chars}), if any
    # where the corpus was declared ({origin, format}: a declaration file or a folder of files), so that
    # `--resume` builds the same corpus without being told; empty in older checkpoints
    corpus_source: dict = field(default_factory=dict)

    def save(self, path: Path) -> None:
        payload = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "model_config": asdict(self.model_config),
            "train_config": asdict(self.train_config),
            "vocab": list(self.vocab.chars),
            "corpus": {"name": self.corpus_name, "content_hash": self.corpus_hash, "source": self.corpus_source},
            "position": {"step": self.step, "epoch": self.epoch, "chunk": self.chunk, "seconds": self.train_seconds},
            "profile": {"name": self.profile_name,
                        "sample": asdict(self.sample_config) if self.sample_config is not None else None,
                        "note": self.profile_note},
            "model": self.model_state,
            "optim": self.optim_state,
            "rng": self.rng,
            "hidden": self.hidden,
            "history": self.history,
            "evolution": self.evolution,
            "warm": self.warm,
        }
        try:
            atomic_write(path, lambda fh: torch.save(payload, fh))
        except RuntimeError as exc:  # torch's stream writer on a failed write; atomic_write removed the temp
            raise GencheckError(f"could not write {path}: {str(exc).splitlines()[0] if str(exc) else exc!r}; "
                                "any previous checkpoint there is unchanged") from exc

    @classmethod
    def load(cls, path: Path) -> "Checkpoint":
        """Load with weights_only=True: a checkpoint never runs code. Any damage is one clear error.

        Every checkpoint gencheck reads comes through here (sample, cells, a run's scoring, resume, warm
        start), so this is where a file is held to what it may be: a regular file of at most
        MAX_CHECKPOINT_BYTES (a FIFO or /dev/zero never reaches torch.load), whose model settings and
        vocabulary are in range (check_saved_model) before any model is built from them."""
        path = checkpoint_file(Path(path))
        p = _load_payload(path)
        if not isinstance(p, dict) or p.get("format") != CHECKPOINT_FORMAT:
            raise GencheckError(f"{path} is not a gencheck checkpoint (foreign file)")
        if p.get("version") != CHECKPOINT_VERSION:
            raise GencheckError(f"{path} has checkpoint version {shown(str(p.get('version')))}; "
                                f"this gencheck reads {CHECKPOINT_VERSION}")
        try:
            check_saved_model(p["model_config"], p["vocab"], p["train_config"])
            pos, prof = p["position"], p.get("profile") or {}
            return cls(
                model_config=ModelConfig(**p["model_config"]),
                train_config=TrainConfig(**{"precision": "fp32", **p["train_config"]}),  # older ones ran fp32
                vocab=Vocab(tuple(p["vocab"])), corpus_name=p["corpus"]["name"],
                corpus_hash=p["corpus"]["content_hash"], step=pos["step"], epoch=pos["epoch"], chunk=pos["chunk"],
                model_state=p["model"], optim_state=p["optim"], rng=p["rng"], hidden=p["hidden"],
                history=p["history"], profile_name=prof.get("name"),
                sample_config=SampleConfig(**prof["sample"]) if prof.get("sample") else None,
                train_seconds=pos.get("seconds"), evolution=p.get("evolution") or [],
                profile_note=str(prof.get("note") or ""), warm=dict(p.get("warm") or {}),
                corpus_source=dict(p["corpus"].get("source") or {}),
            )
        except (KeyError, TypeError) as exc:
            raise GencheckError(f"{path} is a damaged gencheck checkpoint (missing {shown(str(exc))})") from None
        except ValueError as exc:
            raise GencheckError(f"{path} is a damaged gencheck checkpoint: {exc}; it was not loaded") from None

    def build_model(self, device: torch.device) -> CharModel:
        """The saved model with its weights. Its shape is built on the meta device first (no memory) and must
        be what the saved weights hold, so a damaged config within range (16,384 wide, 256 deep) never
        allocates beyond what the file itself holds."""
        with torch.device("meta"):
            wanted = {k: tuple(v.shape) for k, v in build_model(self.model_config).state_dict().items()}
        held = {k: tuple(v.shape) for k, v in self.model_state.items() if isinstance(v, torch.Tensor)} \
            if isinstance(self.model_state, dict) else {}
        if held != wanted:
            odd = sorted(set(wanted) ^ set(held)) or sorted(k for k in wanted if wanted[k] != held[k])
            raise GencheckError(f"checkpoint weights do not fit its model config ({self.model_config.label()}): "
                                f"{shown(odd[0], 60)} differs")
        model = build_model(self.model_config)
        try:
            model.load_state_dict(self.model_state)
        except RuntimeError as exc:
            raise GencheckError(f"checkpoint weights do not fit its model config: {str(exc).splitlines()[0]}") from None
        return model.to(device)


#: The largest checkpoint gencheck reads: far above any model LIMITS allows to train in reasonable time (the
#: gpu profile's 3×512 LSTM with its optimiser state is about 100 MB), far below what would exhaust memory.
MAX_CHECKPOINT_BYTES = 16 << 30


def checkpoint_file(path: Path) -> Path:
    """The checkpoint a path names: the file itself, or a run folder's checkpoint.pt (every other command
    takes run folders, so `--checkpoint runs/<id>` should too); GencheckError for a folder without one."""
    if not path.is_dir():
        return path
    if (path / "checkpoint.pt").is_file():
        return path / "checkpoint.pt"
    raise GencheckError(f"no checkpoint.pt in the folder {path} (give a run folder or its checkpoint.pt)")


def _load_payload(path: Path) -> Any:
    """torch.load of a checkpoint file (weights_only: its one call site), opened without blocking and checked
    on the open descriptor to be a regular file of at most MAX_CHECKPOINT_BYTES, so that what is checked is
    what is read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise GencheckError(f"no checkpoint at {path}") from None
    except OSError as exc:
        raise GencheckError(f"checkpoint {path}: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    why = ("not a regular file" if not stat.S_ISREG(st.st_mode) else
           f"{st.st_size:,} bytes, more than the {MAX_CHECKPOINT_BYTES:,} allowed"
           if st.st_size > MAX_CHECKPOINT_BYTES else None)
    if why is not None:
        os.close(fd)
        raise GencheckError(f"checkpoint {path}: {why}")
    with os.fdopen(fd, "rb") as fh:
        try:
            return torch.load(fh, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many kinds for truncated/foreign files
            raise GencheckError(
                f"{path} is not a readable gencheck checkpoint: truncated, corrupt, or not a torch file "
                f"({type(exc).__name__}); it was not loaded"
            ) from None


def check_saved_model(model: Any, vocab: Any, train_cfg: Any) -> None:
    """A checkpoint's model settings, vocabulary and training settings, held to the ranges of config.LIMITS
    (the command line's) before a model is built from them: a damaged file's `hidden` 10**9 would really
    allocate, `layers` -1, `"64"`, NaN dropout or a vocabulary of numbers failed deep in torch. A ValueError
    saying what is wrong; the caller names the file."""
    for what, settings in (("model_config", model), ("train_config", train_cfg)):
        if not isinstance(settings, dict):
            raise ValueError(f"{what} is not a table of settings")
        for name, value in settings.items():
            why = setting_problem(name, value)
            if why is not None:
                raise ValueError(f"{what} {name} {shown(repr(value))}: {why}")
    if model.get("kind", "lstm") not in MODEL_KINDS:
        raise ValueError(f"model_config kind {shown(repr(model.get('kind')))}: not one of {', '.join(MODEL_KINDS)}")
    if not isinstance(vocab, (list, tuple)) or not all(isinstance(c, str) and len(c) == 1 for c in vocab):
        raise ValueError("its vocabulary is not a list of characters")
    if len(set(vocab)) != len(vocab) or len(vocab) != model.get("vocab_size") or list(vocab[:2]) != [SEP, UNK]:
        raise ValueError(f"its vocabulary of {len(vocab):,} characters does not fit model_config vocab_size "
                         f"{shown(repr(model.get('vocab_size')))} (or repeats a character)")


def rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def run_vocab(corpus: Corpus, warm: Corpus | None, min_count: int) -> Vocab:
    """A new run's vocabulary: its train split's characters, and a warm start's too (one model spans both)."""
    return Vocab.from_texts(corpus.texts("train") + (warm.texts("train") if warm is not None else []), min_count)


def model_config(profile: Profile, vocab_size: int) -> ModelConfig:
    """The model a profile trains over a vocabulary of `vocab_size` characters."""
    return ModelConfig(vocab_size, profile.kind, profile.layers, profile.hidden, profile.embed, profile.dropout,
                       profile.context, profile.heads)


# --- resume ------------------------------------------------------------------------------------------

MODEL_FIELDS = ("kind", "layers", "hidden", "embed", "dropout", "context", "heads")
_FLAGS = {"kind": "--model", "num_samples": "--samples", "warm_chars": "--warm-start characters"}


def flag(name: str) -> str:
    """The command-line flag that sets a setting (kind → --model, batch_size → --batch-size)."""
    return _FLAGS.get(name, "--" + name.replace("_", "-"))


def checkpoint_settings(ck: Checkpoint) -> dict[str, Any]:
    """A checkpoint's settings by name: model shape, training (but the step budget), sampling if stored."""
    sample = asdict(ck.sample_config) if ck.sample_config is not None else {}
    train_cfg = {k: v for k, v in asdict(ck.train_config).items() if k != "steps"}
    return {**sample, **train_cfg, **{k: getattr(ck.model_config, k) for k in MODEL_FIELDS}}


def profile_settings(profile: Profile) -> dict[str, Any]:
    """A profile's model and training settings (but the budget) by the same names, to compare key by key."""
    tr = {k: v for k, v in asdict(profile.train).items()
          if k != "steps" and not (k == "precision" and v == "auto")}  # auto agrees with what it chose
    return {**tr, **{k: getattr(profile, k) for k in MODEL_FIELDS}}


def _differences(have: dict[str, Any], want: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    return [(k, want[k], have[k]) for k in want if k in have and want[k] != have[k]]


def resume_budget(ck: Checkpoint, path: Path, steps: int | None) -> int:
    """The step budget of a resumed run: the checkpoint's, or a larger one; never one already passed."""
    budget, done = ck.train_config.steps, ck.step
    if steps is None or steps == budget:
        return budget
    if steps <= done:
        raise UsageError(f"--steps {steps} is at or below step {done}, where {path} already is: give more "
                         f"than {done} steps to train on, or omit --steps to finish its budget of {budget}")
    if steps < budget:
        raise UsageError(f"--steps {steps} is below the budget of {budget} steps {path} was started with: "
                         "on resume only a larger --steps may be given")
    return steps


def resume_profile(ck: Checkpoint, path: Path, given: dict[str, Any]) -> Profile:
    """The profile a resumed run continues with: every setting from the checkpoint, none from today's defaults.

    `given` holds only the flags the user typed (settings by name, the --profile name under "profile");
    each must equal the checkpoint's, except a larger "steps". Sample settings a checkpoint does not hold
    yet come from its profile's preset with the given flags, and its seed."""
    given = dict(given)
    name, steps = given.pop("profile", None), given.pop("steps", None)
    if given.get("precision") == "auto":
        given.pop("precision")
    have = checkpoint_settings(ck)
    diffs = [f"{flag(k)} {w} (the checkpoint has {k} {h})" for k, w, h in _differences(have, given)]
    if name is not None and ck.profile_name is not None and name != ck.profile_name:
        diffs.insert(0, f"--profile {name} (the checkpoint was trained with profile {ck.profile_name})")
    elif name is not None and ck.profile_name is None:  # an older checkpoint: check what the preset sets
        implied = profile_settings(with_overrides(PROFILES[name], **given))
        diffs += [f"--profile {name} ({k} {w}; the checkpoint has {h})"
                  for k, w, h in _differences(have, {k: v for k, v in implied.items() if k not in given})]
    if diffs:
        raise UsageError(f"--resume {path}: " + "; ".join(diffs) + ". A resumed run keeps its checkpoint's "
                         "settings (only a larger --steps may be given): omit these flags, or start a new run")
    budget = resume_budget(ck, path, steps)
    label = ck.profile_name or name or "unknown"
    preset = PROFILES.get(label, Profile(label, ""))
    sample = ck.sample_config or replace(with_overrides(preset, **given).sample, seed=ck.train_config.seed)
    m = ck.model_config
    return Profile(label, preset.description, m.kind, m.layers, m.hidden, m.embed, m.dropout,
                   train=replace(ck.train_config, steps=budget), sample=sample, note=ck.profile_note,
                   context=m.context, heads=m.heads)


def check_resumable(ck: Checkpoint, path: Path, profile: Profile, sample: SampleConfig | None) -> None:
    """Refuse to continue a checkpoint with other settings than its own (a reused or foreign run folder)."""
    pairs = _differences(checkpoint_settings(ck), profile_settings(profile))
    if sample is not None and ck.sample_config is not None:
        pairs += [(f"sample {k}", w, h) for k, w, h in _differences(asdict(ck.sample_config), asdict(sample))]
    diffs = [f"{k} {h} there, {w} here" for k, w, h in pairs]
    if ck.profile_name is not None and profile.name != ck.profile_name:
        diffs.insert(0, f"profile {ck.profile_name} there, {profile.name} here")
    if diffs:
        raise GencheckError(f"{path} holds a run with other settings ({'; '.join(diffs)}): resume it with its "
                            "own settings, or train into another folder")
    resume_budget(ck, path, profile.train.steps)


# --- evaluation --------------------------------------------------------------------------------------

@torch.no_grad()
def bits_per_char(model: CharModel, texts: list[str], vocab: Vocab, device: torch.device,
                  batch_size: int = 32, seq_len: int = 256, max_chars: int | None = None) -> float:
    """Mean bits per character over the documents, state carried along each of `batch_size` streams."""
    if not texts:
        return float("nan")
    flat = stream(texts, vocab)
    if max_chars:
        flat = flat[: max_chars + 1]
    rows = max(1, min(batch_size, (len(flat) - 1) // seq_len))
    n = (len(flat) - 1) // rows
    x_all = torch.from_numpy(flat[: n * rows].reshape(rows, n))
    y_all = torch.from_numpy(flat[1 : n * rows + 1].reshape(rows, n))
    was_training = model.training
    model.eval()
    state, total, count = None, 0.0, 0
    for a in range(0, n, seq_len):
        x, y = x_all[:, a : a + seq_len].to(device), y_all[:, a : a + seq_len].to(device)
        logits, state = model(x, state)
        total += F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
        count += y.numel()
    model.train(was_training)
    return total / count / math.log(2)


# --- the loop ----------------------------------------------------------------------------------------

#: Steps between host syncs on CUDA (the loss check and the progress line).
SYNC_EVERY = 25


def make_optimizer(model: CharModel, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """AdamW; the fused CUDA kernel on CUDA (one launch for all parameters). The CPU keeps the default
    implementation, so CPU runs stay bit-identical to earlier ones."""
    fused = {"fused": True} if device.type == "cuda" else {}
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, **fused)


def train_step(model: CharModel, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, state,
               amp: torch.dtype | None, grad_clip: float):
    """One step of truncated BPTT: forward (autocast when `amp`), cross-entropy, backward, clipping, AdamW,
    and the state cut from the graph. Returns (the loss as a 0-d tensor, never synced here; the state).
    The training loop and `benchmarks/train_throughput.py` both call this function."""
    with torch.autocast(x.device.type, dtype=amp, enabled=amp is not None):
        logits, state = model(x, state)
    loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    return loss.detach(), model.detach_state(state)


def step_rate(profile: Profile, vocab_size: int, device: torch.device, seconds: float = 3.0) -> float:
    """chars/s of `train_step` for this profile's shape, batch and precision on this machine: two warm-up
    steps, then steps until `seconds` have passed (at least three). How `--minutes` becomes characters."""
    cfg = profile.train
    torch.manual_seed(cfg.seed)
    model = build_model(model_config(profile, vocab_size)).to(device)
    _, amp = resolve_precision(cfg.precision, device, model)
    opt = make_optimizer(model, cfg, device)
    x = torch.randint(0, vocab_size, (cfg.batch_size, cfg.seq_len), device=device)
    y = torch.roll(x, -1, dims=1)
    state, steps = None, 0
    for _ in range(2):
        loss, state = train_step(model, opt, x, y, state, amp, cfg.grad_clip)
    loss.item()
    t0 = time.perf_counter()
    while steps < 3 or time.perf_counter() - t0 < seconds:
        loss, state = train_step(model, opt, x, y, state, amp, cfg.grad_clip)
        steps += 1
        if device.type == "cuda" and steps % SYNC_EVERY == 0:
            loss.item()
    loss.item()
    return steps * cfg.batch_size * cfg.seq_len / (time.perf_counter() - t0)


# --- warm start ----------------------------------------------------------------------------------------

def warm_steps(cfg: TrainConfig) -> int:
    """Steps of the warm-start phase: its characters rounded up to whole steps (0 without one)."""
    return -(-cfg.warm_chars // (cfg.batch_size * cfg.seq_len)) if cfg.warm_start else 0


def check_warm(cfg: TrainConfig, warm: Corpus | None, ck: Checkpoint | None, path: Path) -> int:
    """The warm phase's steps, after refusing a warm start that cannot run as asked: one that leaves no step
    for the run's corpus, or a resumed one whose warm corpus is no longer the one it started on."""
    if not cfg.warm_start:
        return 0
    if warm is None or warm.spec.name != cfg.warm_start:
        raise GencheckError(f"the warm-start corpus {cfg.warm_start!r} was not built for this run")
    n = check_warm_budget(cfg)
    if ck is not None and ck.warm and ck.warm.get("content_hash") != warm.content_hash:
        raise GencheckError(f"{path} was warm-started on {ck.warm.get('corpus')!r} "
                            f"({str(ck.warm.get('content_hash'))[:12]}), which is now {warm.content_hash[:12]}: "
                            "resume with the same warm-start corpus")
    return n


def warm_look(row: dict) -> dict:
    """The probe part of an evolution row on the warm corpus (its sample and val figures are of no use here)."""
    return {k: row[k] for k in ("probe", "probe_accuracy", "probe_buckets", "probe_chance") if k in row}


def check_warm_budget(cfg: TrainConfig) -> int:
    """The warm phase's steps; refused when it would leave no step for the run's own corpus (checked before
    anything is built, and again by `train`)."""
    n = warm_steps(cfg)
    if cfg.warm_start and cfg.warm_chars < 1:
        raise UsageError(f"--warm-start {cfg.warm_start}:{cfg.warm_chars}: give at least one character")
    if cfg.warm_start and n >= cfg.steps:
        per_step = cfg.batch_size * cfg.seq_len
        raise UsageError(f"--warm-start {cfg.warm_start}:{cfg.warm_chars:,} takes {n} steps, and the budget is "
                         f"{cfg.steps} steps ({cfg.steps * per_step:,} characters): nothing would be left for the "
                         "run's own corpus; give fewer warm-start characters or more --steps")
    return n


@dataclass
class TrainResult:
    checkpoint: Path
    model_config: ModelConfig
    params: int
    steps: int
    chars_per_s: float
    train_seconds: float
    final_loss_bpc: float
    val_bpc: float
    history: list
    precision: str = "fp32"
    evolution: list = field(default_factory=list)
    evolution_seconds: float = 0.0  # spent looking at the model (gencheck.evolution), not in chars_per_s
    warm: dict = field(default_factory=dict)  # Checkpoint.warm
    description: ModelDescription | None = None  # the model's describe(): FLOPs per character, context limit


def model_fields(mcfg: ModelConfig, trained: TrainResult) -> dict[str, Any]:
    """results.json's `model`: the config without the settings its family ignores (an LSTM has no window),
    the parameters, and describe()'s FLOPs per character and context limit (docs/results-schema.md)."""
    fields = {k: v for k, v in asdict(mcfg).items() if k not in unused_settings(mcfg.kind)}
    fields["params"] = trained.params
    if trained.description is not None:
        fields.update(flops_per_char=trained.description.flops_per_char,
                      context_limit=trained.description.context_limit)
    return fields


def train(corpus: Corpus, profile: Profile, out_dir: Path, device: torch.device, resume: bool = False,
          sample: SampleConfig | None = None, watch=None, warm: Corpus | None = None,
          warm_watch=None) -> TrainResult:
    """Train to profile.train.steps; on resume the profile must be the checkpoint's (see resume_profile).

    `sample`: the sample settings of a `gencheck run`, stored so that a resumed run samples the same way.
    `watch(model, vocab, step, chars_seen) -> dict`: called at `evolution.evolution_steps(steps, …)` (a
    gencheck.evolution.Watcher); its rows are kept in the checkpoint, and its time is not training time.
    `warm`: the corpus named by `profile.train.warm_start`. Its train split feeds the first
    `warm_steps` steps (a phase of its own: epochs from 0, state reset at the switch), the run's corpus the
    rest; the vocabulary is the union of both train splits, so one model and one checkpoint span the switch,
    and the position (step, epoch, chunk) says which phase it is in. `warm_watch` (a Watcher on the warm
    corpus) looks once, at the switch: its headline probe there goes into the checkpoint's `warm["look"]`,
    so a run says whether the warm phase formed the memory it was meant to."""
    cfg = profile.train
    ckpt_path = Path(out_dir) / "checkpoint.pt"
    torch.manual_seed(cfg.seed)
    if resume:
        ck = Checkpoint.load(ckpt_path)
        if ck.corpus_hash != corpus.content_hash:
            raise GencheckError(
                f"{ckpt_path} was trained on corpus {ck.corpus_name!r} ({ck.corpus_hash[:12]}), not on "
                f"{corpus.spec.name!r} ({corpus.content_hash[:12]}): resume with the same corpus"
            )
        check_resumable(ck, ckpt_path, profile, sample)
        # Only the step budget may grow on resume; everything else comes from the checkpoint.
        vocab, mcfg, cfg = ck.vocab, ck.model_config, replace(ck.train_config, steps=profile.train.steps)
        n_warm = check_warm(cfg, warm, ck, ckpt_path)
    else:
        n_warm = check_warm(cfg, warm, None, ckpt_path)
        vocab = run_vocab(corpus, warm if n_warm else None, cfg.vocab_min_count)
        mcfg = model_config(profile, vocab.size)
        ck = None
    model = build_model(mcfg).to(device) if ck is None else ck.build_model(device)
    opt = make_optimizer(model, cfg, device)
    precision, amp = resolve_precision(cfg.precision if ck is None else ck.train_config.precision, device, model)
    cfg = replace(cfg, precision=precision)  # the checkpoint records what ran, never "auto"
    streams = Streams.from_texts(corpus.texts("train"), vocab, cfg)
    step, epoch, chunk, state, history, evolution = 0, 0, 0, None, [], []
    # Resume keeps what the checkpoint says it is; older ones have no name and no training time.
    name, sample = (ck.profile_name, ck.sample_config or sample) if ck else (profile.name, sample)
    note = ck.profile_note if ck else profile.note
    prior_seconds = ck.train_seconds if ck else 0.0
    if ck is not None:
        opt.load_state_dict(ck.optim_state)
        set_rng_state(ck.rng, device)
        step, epoch, chunk, history, evolution = ck.step, ck.epoch, ck.chunk, list(ck.history), list(ck.evolution)
        state = model.state_from_list(ck.hidden, device)
        log(f"resuming {escape(str(ckpt_path))} at step {step} (epoch {epoch}, chunk {chunk})")
        if step >= cfg.steps:
            log(f"{escape(str(ckpt_path))} has trained its {cfg.steps} steps already: nothing more to train")
    warm_info = (ck.warm if ck is not None and ck.warm else
                 {"corpus": cfg.warm_start, "content_hash": warm.content_hash, "steps": n_warm,
                  "chars": n_warm * cfg.batch_size * cfg.seq_len} if n_warm else {})
    phase = Streams.from_texts(warm.texts("train"), vocab, cfg) if step < n_warm else streams
    data = phase.epoch(epoch).to(device)  # resident on the device: no copy per step
    val_texts = corpus.texts("val")

    def elapsed() -> float:
        """Training seconds over all sessions, or of this one where an older checkpoint did not count
        (time spent in `watch` left out)."""
        return (prior_seconds or 0.0) + time.perf_counter() - t0 - watched

    def save() -> None:
        Checkpoint(mcfg, cfg, vocab, corpus.spec.name, corpus.content_hash, step, epoch, chunk,
                   model.state_dict(), opt.state_dict(), rng_state(device), model.state_to_list(state),
                   history, name, sample, elapsed() if prior_seconds is not None else None,
                   evolution, note, warm_info, corpus_source(corpus)).save(ckpt_path)

    model.train()
    chars_per_step = cfg.batch_size * cfg.seq_len
    t0, start_step, loss_bpc, watched = time.perf_counter(), step, float("nan"), 0.0
    # a look at the switch too: what the warm start alone gave on the run's corpus
    marks = (set(evolution_steps(cfg.steps, chars_per_step=chars_per_step)) |
             ({n_warm} if n_warm else set()) if watch is not None else set())
    val_bpc = history[-1]["val_bpc"] if history else float("nan")
    # On CUDA every .item() waits for the GPU: the loss is checked and shown every `sync_every` steps
    # (and before every checkpoint), with the first non-finite step recorded on the device meanwhile.
    sync_every = 1 if device.type == "cpu" else SYNC_EVERY
    step_t = torch.tensor(step, device=device)
    nonfinite_at = torch.full((), -1, dtype=torch.long, device=device)

    def check_finite() -> None:
        bad = int(nonfinite_at.item())
        if bad >= 0:
            raise TrainingDiverged(
                f"loss became non-finite (nan or inf) at step {bad}; stopped, the last good checkpoint is "
                f"{ckpt_path} (try a lower --lr)"
            )

    with progress(f"train {mcfg.label()}", cfg.steps, start=step) as bar:
        while step < cfg.steps:
            x, y = phase.chunk(data, chunk)
            loss, state = train_step(model, opt, x, y, state, amp, cfg.grad_clip)
            nonfinite_at = torch.where((nonfinite_at < 0) & ~torch.isfinite(loss), step_t, nonfinite_at)
            step_t += 1
            step, chunk = step + 1, chunk + 1
            if step == n_warm:  # the warm start ends: the run's corpus from its first epoch, with a fresh state
                phase, epoch, chunk, state = streams, 0, 0, None
                data = phase.epoch(0).to(device)
                if warm_watch is not None:
                    w = time.perf_counter()
                    warm_info["look"] = warm_look(warm_watch(model, vocab, step, step * chars_per_step))
                    watched += time.perf_counter() - w
                log(f"warm start done at step {step:,} ({escape(cfg.warm_start)}): training on "
                    f"{escape(corpus.spec.name)} from here")
            elif chunk >= phase.chunks_per_epoch(data):
                epoch, chunk, state = epoch + 1, 0, None
                data = phase.epoch(epoch).to(device)
            evaluate = step % cfg.eval_every == 0 or step == cfg.steps
            if step in marks:
                check_finite()
                w = time.perf_counter()
                row = watch(model, vocab, step, step * chars_per_step)
                if n_warm:  # what the model had been trained on just before this look
                    row["trained_on"] = cfg.warm_start if step <= n_warm else corpus.spec.name
                evolution.append(row)
                watched += time.perf_counter() - w
            if not (evaluate or step % sync_every == 0):
                continue
            check_finite()
            loss_bpc = loss.item() / math.log(2)
            rate = (step - start_step) * chars_per_step / (time.perf_counter() - t0 - watched)
            if evaluate:
                val_bpc = bits_per_char(model, val_texts, vocab, device, max_chars=cfg.eval_chars)
                history.append({"step": step, "train_bpc": loss_bpc, "val_bpc": val_bpc, "seconds": elapsed()})
                save()
            bar.update(step, **{"chars/s": f"{rate:,.0f}", "loss": f"{loss_bpc:.3f} bpc",
                                "val": "—" if math.isnan(val_bpc) else f"{val_bpc:.3f}"})  # none yet
    seconds, done = time.perf_counter() - t0 - watched, step - start_step
    if done == 0 and ck is not None and ck.sample_config is None and sample is not None:
        save()  # a finished `gencheck train` model: record the sample settings this run chose
    if done == 0:  # a finished run resumed: its figures are the checkpoint's
        loss_bpc = history[-1]["train_bpc"] if history else float("nan")
        seconds = prior_seconds if prior_seconds is not None else float("nan")
        done = step
    elif prior_seconds is not None:
        seconds, done = elapsed(), step
    return TrainResult(ckpt_path, mcfg, param_count(model), step, done * chars_per_step / seconds if seconds else 0.0,
                       seconds, loss_bpc, val_bpc, history, precision, evolution, watched, warm_info,
                       model.describe())
