"""A small causal transformer (GPT, pre-LN) with a sliding attention window of `context` (W) characters.

Each position attends to itself and the W − 1 positions before it, in every layer. The state carried from
chunk to chunk is, per layer, the keys and values of the last W − 1 positions (before rotation). Why a
key/value cache rather than the last W token ids recomputed: with the cache, running a stream in chunks
equals one sliding-window pass over the whole stream, as for the RNNs (a test checks it), because every
layer's keys at the start of a chunk are exactly those the full pass computed; recomputing from token ids
would give the first positions of a recomputed window less context in the upper layers than the full pass
gives, so where the chunks are cut would change the outputs. It is also cheaper: nothing is computed twice.
Like an RNN state it is detached between training chunks (truncated backpropagation).

Rotary position embeddings (RoPE) are applied at attention time with positions counted from the oldest
cached key of this call, never from the stream's start: a training stream is millions of characters and
absolute positions would grow without bound; RoPE scores depend only on the distance between query and
key, so the origin does not change them. A character can influence another up to layers × (W − 1)
characters later (through the layers' windows), which `describe()` reports as the context limit.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..fsutil import UsageError
from .base import ModelConfig, StackLM, register

ROPE_BASE = 10_000.0


def rope_tables(start: int, n: int, d: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin (n, d) of positions start … start+n−1, each frequency repeated for its pair."""
    inv = ROPE_BASE ** (-torch.arange(0, d, 2, device=device, dtype=torch.float32) / d)
    ang = torch.arange(start, start + n, device=device, dtype=torch.float32)[:, None] * inv
    return ang.cos().repeat(1, 2).to(dtype), ang.sin().repeat(1, 2).to(dtype)


def rope(x: torch.Tensor, start: int, tables: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Rotate (B, H, L, d) by positions start … start+L−1 (pairs (i, i + d/2), the GPT-NeoX layout);
    `tables`: `rope_tables` of those positions, where the caller keeps them."""
    cos, sin = tables if tables is not None else rope_tables(start, x.shape[-2], x.shape[-1], x.device, x.dtype)
    a, b = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-b, a], dim=-1) * sin


def window_mask(t: int, length: int, window: int, device: torch.device) -> torch.Tensor:
    """(t, length) True where query i (at position length − t + i) may attend key j: 0 ≤ i' − j < window."""
    q = torch.arange(length - t, length, device=device)[:, None]
    k = torch.arange(length, device=device)[None, :]
    return (k <= q) & (q - k < window)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, window: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.window, self.dropout = heads, window, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        # RoPE tables by (start, length, width, device, dtype): sampling asks for the same window at every
        # character, and building its tables each time was most of a sampling step (docs/running.md)
        self._tables: dict[tuple, Any] = {}

    def _kept(self, key: tuple, make):
        if key not in self._tables:
            if len(self._tables) >= 64:  # training and scoring see a few shapes, sampling one: a small bound
                self._tables.clear()
            self._tables[key] = make()
        return self._tables[key]

    def tables(self, start: int, n: int, d: int, device: torch.device, dtype: torch.dtype):
        return self._kept((start, n, d, device, dtype), lambda: rope_tables(start, n, d, device, dtype))

    def mask(self, t: int, length: int, device: torch.device) -> torch.Tensor:
        return self._kept(("mask", t, length, device), lambda: window_mask(t, length, self.window, device))

    def forward(self, x: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor] | None):
        b, t, dim = x.shape
        q, k, v = (z.view(b, t, self.heads, dim // self.heads).transpose(1, 2) for z in self.qkv(x).chunk(3, -1))
        if cache is not None:
            k, v = torch.cat([cache[0].to(k.dtype), k], dim=2), torch.cat([cache[1].to(v.dtype), v], dim=2)
        length = k.shape[2]
        mask = self.mask(t, length, x.device)
        d = dim // self.heads
        y = F.scaled_dot_product_attention(rope(q, length - t, self.tables(length - t, t, d, x.device, q.dtype)),
                                           rope(k, 0, self.tables(0, length, d, x.device, k.dtype)), v, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        keep = max(0, length - (self.window - 1))
        return self.out(y.transpose(1, 2).reshape(b, t, dim)), (k[:, :, keep:], v[:, :, keep:])


class Block(nn.Module):
    state_size = 2  # this layer's cached keys and values

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        dim = cfg.hidden
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, cfg.heads, cfg.context, cfg.dropout)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None):
        a, cache = self.attn(self.norm1(x), state)
        x = x + self.drop(a)
        return x + self.drop(self.mlp(self.norm2(x))), cache


@register("transformer")
class Transformer(StackLM):
    """`layers` pre-LN blocks of width `hidden` (d_model), `heads` heads, window `context` (base.StackLM)."""

    def __init__(self, cfg: ModelConfig) -> None:
        if cfg.hidden % cfg.heads or (cfg.hidden // cfg.heads) % 2:
            raise UsageError(f"--hidden {cfg.hidden} --heads {cfg.heads}: the transformer needs hidden divisible "
                             "by heads into an even head width (rotary positions rotate pairs)")
        super().__init__(cfg, lambda _: Block(cfg))

    @classmethod
    def width_multiple(cls, cfg: ModelConfig) -> int:
        return 2 * cfg.heads  # an even head width: rotary positions rotate pairs

    def context_limit(self) -> int | None:
        return self.cfg.layers * (self.cfg.context - 1) + 1

    def extra_flops_per_char(self) -> int:
        """QKᵀ and AV: 2 × 2 × d_model per attended position per layer, at a full window of W."""
        return 4 * self.cfg.layers * self.cfg.context * self.cfg.hidden
