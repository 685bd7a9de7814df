"""Effective context: how many previous characters does a model actually use?

Bits per character are measured on the test documents when the model may only see the last N
characters, for N in `CONTEXT_LENGTHS` (None = the whole document so far). Every document is read as
SEP + text with fresh state at its SEP; every character of the text is predicted (the SEP is given)
exactly once, so all N score the same positions.

The windows, precisely (N >= 2, S = N // 2): window m reads ids[mS : mS + N] from fresh state and
predicts ids[t] for t in [mS + 1, mS + N], with t - mS characters of context. Only its last S
predictions are scored, t in [mS + N - S + 1, mS + N], so every scored position has between
N - S + 1 (> N/2) and N characters of context; consecutive windows' scored ranges tile the document.
Positions t <= N - S (the start of the document) are scored in window 0 with all t characters there
are, as with full context. Cost: about two passes over the text per N.

For the n-gram the same windows are its `context_lengths` (restarting the state = forgetting all
context); an order-k n-gram uses at most k-1 characters anyway, so its bits at N equal its full-context
bits as soon as N - N//2 + 1 >= k - 1 (for k <= 5: every N >= k).

Effective context = the smallest N whose bits/char is within `tolerance` (1 %) of full context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

CONTEXT_LENGTHS: tuple[int | None, ...] = (10, 30, 100, 300, 1000, 3000, None)
TOLERANCE = 0.01

BitsFn = Callable[[Sequence[np.ndarray], "int | None"], tuple[float, int]]


def window_context(length: int, N: int | None) -> np.ndarray:
    """Context (characters since the window's restart) of positions t = 1..length-1 of one document's
    ids (length includes the SEP), under the windows of the module docstring; N=None: t."""
    t = np.arange(1, max(1, length), dtype=np.int64)
    if N is None:
        return t
    if N < 2:
        raise ValueError("a context length must be at least 2 characters")
    S = N // 2
    first = N - S + 1  # the smallest context scored after window 0
    return np.where(t < first, t, first + (t - first) % S)


def windows(length: int, N: int) -> list[tuple[int, int, int]]:
    """(start, first scored t, last scored t) of each window over a document of `length` ids."""
    S = N // 2
    first = N - S + 1
    out = [(0, 1, min(N, length - 1))]
    m = 1
    while m * S + first <= length - 1:
        out.append((m * S, m * S + first, min(m * S + N, length - 1)))
        m += 1
    return out if length >= 2 else []


def ngram_context_bits(ngram, docs: Sequence[np.ndarray], N: int | None) -> tuple[float, int]:
    """(total bits, positions) of an `NGram` over documents (each SEP + text ids) under the windows."""
    docs = [np.asarray(d, dtype=np.int64) for d in docs if len(d) >= 2]
    if not docs:
        return 0.0, 0
    # one stream; each document's positions keep only its own (windowed) context
    ids = np.concatenate(docs)
    lengths = np.concatenate([np.append(0, window_context(len(d), N)) for d in docs])[1:]
    scored = np.ones(len(ids), bool)
    scored[np.cumsum([0] + [len(d) for d in docs[:-1]])] = False  # each document's own SEP is given
    lp = ngram.logprobs(ids, context_lengths=lengths)
    keep = scored[1:]
    return float(-lp[keep].sum()), int(keep.sum())


def model_context_bits(model, docs: Sequence[np.ndarray], N: int | None, device, batch_size: int = 64,
                       chunk: int = 1024) -> tuple[float, int]:
    """(total bits, positions) of a torch `CharRNN` over documents under the windows (full documents,
    chunked with state carried, for N=None)."""
    from .probes import model_position_bits

    docs = [np.asarray(d, dtype=np.int64) for d in docs if len(d) >= 2]
    if N is None:
        bits = model_position_bits(model, docs, device, batch_size, chunk)
        return float(sum(b.sum() for b in bits)), int(sum(len(b) for b in bits))
    seqs, picks = [], []
    for d in docs:
        for start, lo, hi in windows(len(d), N):
            seqs.append(d[start:min(start + N + 1, len(d))])
            picks.append((lo - start - 1, hi - start))  # slice of the window's bits (local t - 1)
    # short windows: many per batch (about 64k ids a batch), so small N is not dominated by call overhead
    bits = model_position_bits(model, seqs, device, max(batch_size, 65536 // (N + 1)), chunk)
    total = sum(float(b[a:z].sum()) for b, (a, z) in zip(bits, picks))
    count = sum(z - a for a, z in picks)
    return total, int(count)


@dataclass
class ContextCurve:
    bpc: dict[int | None, float]  # N -> bits per character (None = full context)
    positions: int
    tolerance: float = TOLERANCE
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def full(self) -> float:
        return self.bpc[None]

    @property
    def effective(self) -> int | None:
        """The smallest N within `tolerance` of full context (None: only full context is)."""
        return effective_context(self.bpc, self.tolerance)

    def to_json(self) -> dict[str, Any]:
        return {"bpc": {("full" if k is None else str(k)): round(v, 4) for k, v in self.bpc.items()},
                "full_bpc": round(self.full, 4), "effective_context": self.effective,
                "tolerance": self.tolerance, "positions": self.positions, **self.extra}


def effective_context(bpc: dict[int | None, float], tolerance: float = TOLERANCE) -> int | None:
    full = bpc[None]
    for N in sorted(k for k in bpc if k is not None):
        if bpc[N] <= full * (1 + tolerance):
            return N
    return None


def context_curve(bits: BitsFn, docs: Sequence[np.ndarray], lengths: Sequence[int | None] = CONTEXT_LENGTHS,
                  tolerance: float = TOLERANCE) -> ContextCurve:
    """Bits per character at each N (`bits(docs, N) -> (total bits, positions)`, e.g.
    `lambda d, N: model_context_bits(model, d, N, device)` or `partial(ngram_context_bits, ng)`)."""
    out: dict[int | None, float] = {}
    count = 0
    for N in dict.fromkeys([*lengths, None]):
        total, count = bits(docs, N)
        out[N] = total / count if count else float("nan")
    return ContextCurve(out, count, tolerance)
