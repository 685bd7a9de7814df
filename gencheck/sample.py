"""Batched sampling: many documents in parallel, one forward per character for the whole batch.

Each sequence starts at a document boundary (the separator, then an optional prime) and ends at the
next separator or at `max_chars`; `truncated` says which, so a validator can tell a cut-off sample
(`viable_prefix`) from a finished one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .config import SampleConfig
from .corpus import Vocab
from .fsutil import atomic_write_text
from .models import CharModel
from .progress import progress


#: Prime characters fed to the model at once: the logits of a whole 4 MB prime asked for 8 GB; chunks give
#: the same state (every family runs a stream in chunks as in one pass) in bounded memory.
PRIME_CHUNK = 1024


@dataclass(frozen=True)
class Sample:
    index: int
    text: str
    truncated: bool  # stopped at max_chars rather than at a document separator


@torch.no_grad()
def generate(model: CharModel, vocab: Vocab, cfg: SampleConfig, device: torch.device,
             quiet: bool = False) -> list[Sample]:
    """`cfg.num_samples` samples in one batch, state carried step by step; `quiet`: no progress lines
    (the evolution snapshots sample inside the training bar)."""
    model.eval()
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    n = cfg.num_samples
    prime = torch.tensor([vocab.sep_id] + vocab.encode(cfg.prime), dtype=torch.long, device=device)
    state = None
    for a in range(0, len(prime), PRIME_CHUNK):  # in chunks: logits for a long prime at once filled memory
        logits, state = model(prime[a:a + PRIME_CHUNK].expand(n, -1), state)
    last = logits[:, -1, :]
    out = torch.zeros(n, cfg.max_chars, dtype=torch.long, device=device)
    done = torch.zeros(n, dtype=torch.bool, device=device)
    length = torch.full((n,), cfg.max_chars, dtype=torch.long, device=device)
    with progress("sample", cfg.max_chars, every_s=30, quiet=quiet) as bar:
        for t in range(cfg.max_chars):
            nxt = pick(last.float(), cfg.temperature, cfg.top_k, gen)
            out[:, t] = nxt
            ended = (nxt == vocab.sep_id) & ~done
            length[ended] = t
            done |= ended
            if t % 64 == 0:
                bar.update(t + 1)
                if bool(done.all()):
                    break
            logits, state = model(nxt.unsqueeze(1), state)
            last = logits[:, -1, :]
        bar.update(cfg.max_chars)
    rows, lens, ended_at_sep = out.cpu().tolist(), length.cpu().tolist(), done.cpu().tolist()
    return [
        Sample(i, cfg.prime + vocab.decode(rows[i][: lens[i]]), truncated=not ended_at_sep[i])
        for i in range(n)
    ]


def pick(logits: torch.Tensor, temperature: float, top_k: int, gen: torch.Generator) -> torch.Tensor:
    """Next ids from logits; temperature 0 is greedy, top_k > 0 keeps the k most likely."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=gen).squeeze(1)


def write_jsonl(samples: list[Sample], path: Path) -> None:
    atomic_write_text(path, "".join(json.dumps(asdict(s), ensure_ascii=False) + "\n" for s in samples))


def read_jsonl(path: Path) -> list[Sample]:
    return [Sample(**json.loads(line)) for line in Path(path).read_text(encoding="utf-8").splitlines() if line]


def write_files(samples: list[Sample], folder: Path, suffix: str) -> None:
    for s in samples:
        atomic_write_text(Path(folder) / f"sample-{s.index:04d}{suffix}", s.text)
