"""Training: stateful truncated BPTT over document streams, with exact resume.

Read top to bottom: the data (a stream per epoch, a pure function of seed and epoch), the loop, the
evaluation, the checkpoint. The hidden state is carried across consecutive chunks of each of the
`batch_size` parallel streams, like char-rnn's long unroll, and reset at each epoch.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .config import Profile, TrainConfig
from .corpus import SEP, Corpus, Vocab, encode, stream
from .fsutil import GencheckError, UsageError, atomic_write
from .model import CharRNN, ModelConfig, detach, param_count, state_from_list, state_to_list
from .progress import log, progress

CHECKPOINT_FORMAT = "gencheck-checkpoint"
CHECKPOINT_VERSION = 1


class TrainingDiverged(GencheckError):
    pass


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


def autocast_dtype(device: torch.device, model: CharRNN) -> torch.dtype | None:
    """bf16 autocast on CUDA when this torch/cuDNN can run the RNN in it; else fp32 with a notice."""
    if device.type != "cuda":
        return None
    try:
        x = torch.zeros(2, 3, dtype=torch.long, device=device)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits, _ = model(x)
        logits.float().sum().backward()
        model.zero_grad(set_to_none=True)
        return torch.bfloat16
    except RuntimeError as exc:
        log(f"[yellow]bf16 autocast is not supported for this RNN here ({str(exc).splitlines()[0]}); "
            "training in fp32 with TF32 matmuls[/]")
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        return None


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
        return cls([encode(SEP + t, vocab) for t in texts], cfg.batch_size, cfg.seq_len, cfg.seed)

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

    def save(self, path: Path) -> None:
        payload = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "model_config": asdict(self.model_config),
            "train_config": asdict(self.train_config),
            "vocab": list(self.vocab.chars),
            "corpus": {"name": self.corpus_name, "content_hash": self.corpus_hash},
            "position": {"step": self.step, "epoch": self.epoch, "chunk": self.chunk},
            "model": self.model_state,
            "optim": self.optim_state,
            "rng": self.rng,
            "hidden": self.hidden,
            "history": self.history,
        }
        atomic_write(path, lambda fh: torch.save(payload, fh))

    @classmethod
    def load(cls, path: Path) -> "Checkpoint":
        """Load with weights_only=True: a checkpoint never runs code. Any damage is one clear error."""
        path = Path(path)
        if not path.is_file():
            raise GencheckError(f"no checkpoint at {path}")
        try:
            p = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many kinds for truncated/foreign files
            raise GencheckError(
                f"{path} is not a readable gencheck checkpoint: truncated, corrupt, or not a torch file "
                f"({type(exc).__name__}); it was not loaded"
            ) from None
        if not isinstance(p, dict) or p.get("format") != CHECKPOINT_FORMAT:
            raise GencheckError(f"{path} is not a gencheck checkpoint (foreign file)")
        if p.get("version") != CHECKPOINT_VERSION:
            raise GencheckError(f"{path} has checkpoint version {p.get('version')}; this gencheck reads {CHECKPOINT_VERSION}")
        try:
            pos = p["position"]
            return cls(
                model_config=ModelConfig(**p["model_config"]), train_config=TrainConfig(**p["train_config"]),
                vocab=Vocab(tuple(p["vocab"])), corpus_name=p["corpus"]["name"],
                corpus_hash=p["corpus"]["content_hash"], step=pos["step"], epoch=pos["epoch"], chunk=pos["chunk"],
                model_state=p["model"], optim_state=p["optim"], rng=p["rng"], hidden=p["hidden"],
                history=p["history"],
            )
        except (KeyError, TypeError) as exc:
            raise GencheckError(f"{path} is a damaged gencheck checkpoint (missing {exc})") from None

    def build_model(self, device: torch.device) -> CharRNN:
        model = CharRNN(self.model_config)
        try:
            model.load_state_dict(self.model_state)
        except RuntimeError as exc:
            raise GencheckError(f"checkpoint weights do not fit its model config: {str(exc).splitlines()[0]}") from None
        return model.to(device)


def rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# --- evaluation --------------------------------------------------------------------------------------

@torch.no_grad()
def bits_per_char(model: CharRNN, texts: list[str], vocab: Vocab, device: torch.device,
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


def train(corpus: Corpus, profile: Profile, out_dir: Path, device: torch.device, resume: bool = False) -> TrainResult:
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
        vocab, mcfg, cfg = ck.vocab, ck.model_config, ck.train_config
        # Only the step budget may grow on resume; everything else comes from the checkpoint.
        cfg = TrainConfig(**{**asdict(cfg), "steps": profile.train.steps})
    else:
        vocab = Vocab.from_texts(corpus.texts("train"), cfg.vocab_min_count)
        mcfg = ModelConfig(vocab.size, profile.kind, profile.layers, profile.hidden, profile.embed, profile.dropout)
        ck = None
    model = CharRNN(mcfg).to(device) if ck is None else ck.build_model(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    amp = autocast_dtype(device, model)
    streams = Streams.from_texts(corpus.texts("train"), vocab, cfg)
    step, epoch, chunk, state, history = 0, 0, 0, None, []
    if ck is not None:
        opt.load_state_dict(ck.optim_state)
        set_rng_state(ck.rng, device)
        step, epoch, chunk, history = ck.step, ck.epoch, ck.chunk, list(ck.history)
        state = state_from_list(ck.hidden, mcfg.kind, device)
        log(f"resuming {ckpt_path} at step {step} (epoch {epoch}, chunk {chunk})")
    data = streams.epoch(epoch)
    val_texts = corpus.texts("val")

    def save() -> None:
        Checkpoint(mcfg, cfg, vocab, corpus.spec.name, corpus.content_hash, step, epoch, chunk,
                   model.state_dict(), opt.state_dict(), rng_state(device), state_to_list(state),
                   history).save(ckpt_path)

    model.train()
    chars_per_step = cfg.batch_size * cfg.seq_len
    t0, start_step, loss_bpc = time.perf_counter(), step, float("nan")
    val_bpc = history[-1]["val_bpc"] if history else float("nan")
    with progress(f"train {mcfg.label()}", cfg.steps) as bar:
        while step < cfg.steps:
            x, y = (t.to(device, non_blocking=True) for t in streams.chunk(data, chunk))
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                logits, state = model(x, state)
            loss = F.cross_entropy(logits.float().reshape(-1, mcfg.vocab_size), y.reshape(-1))
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"loss became {loss.item()} at step {step}; stopped, the last good checkpoint is "
                    f"{ckpt_path} (try a lower --lr)"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            state = detach(state)
            step, chunk = step + 1, chunk + 1
            if chunk >= streams.chunks_per_epoch(data):
                epoch, chunk, state = epoch + 1, 0, None
                data = streams.epoch(epoch)
            loss_bpc = loss.item() / math.log(2)
            rate = (step - start_step) * chars_per_step / (time.perf_counter() - t0)
            if step % cfg.eval_every == 0 or step == cfg.steps:
                val_bpc = bits_per_char(model, val_texts, vocab, device, max_chars=cfg.eval_chars)
                history.append({"step": step, "train_bpc": loss_bpc, "val_bpc": val_bpc,
                                "seconds": time.perf_counter() - t0})
                save()
            bar.update(step, **{"chars/s": f"{rate:,.0f}", "loss": f"{loss_bpc:.3f} bpc",
                                "val": f"{val_bpc:.3f}"})
    seconds = time.perf_counter() - t0
    done = max(1, step - start_step)
    return TrainResult(ckpt_path, mcfg, param_count(model), step, done * chars_per_step / seconds if seconds else 0.0,
                       seconds, loss_bpc, val_bpc, history)
