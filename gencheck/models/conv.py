"""A causal dilated convolution stack (WaveNet / TCN style).

Layer i (from 0) is a residual block: LayerNorm → causal Conv1d of kernel 3 and dilation 2^i into a gated
activation tanh(f) ⊙ σ(g) (WaveNet) → a 1×1 projection, added to the block's input. A prediction sees the
last 1 + 2 · (2^layers − 1) characters (the receptive field, `describe().context_limit`): 7 with 2 layers,
63 with 5, 1,023 with 9.

The state is, per layer, the last (3 − 1) · 2^i inputs of that layer's convolution: exactly the left
padding the next chunk needs, so running a stream in chunks equals one pass over it (a test checks it); a
stream starts with zeros, as the full pass pads with zeros. Keeping each layer's inputs rather than the
last receptive-field characters means nothing is recomputed from chunk to chunk.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import ModelConfig, StackLM, register

KERNEL = 3


class Block(nn.Module):
    state_size = 1  # the last (KERNEL − 1) · dilation inputs of this layer's convolution

    def __init__(self, dim: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.pad = (KERNEL - 1) * dilation
        self.norm = nn.LayerNorm(dim)
        self.conv = nn.Conv1d(dim, 2 * dim, KERNEL, dilation=dilation)
        self.out = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor] | None) -> tuple[torch.Tensor, tuple[torch.Tensor]]:
        a = self.norm(x).transpose(1, 2)  # (B, D, T)
        past = a.new_zeros(a.shape[0], a.shape[1], self.pad) if state is None else state[0].to(a.dtype)
        a = torch.cat([past, a], dim=2)
        f, g = self.conv(a).chunk(2, dim=1)
        y = (torch.tanh(f) * torch.sigmoid(g)).transpose(1, 2)
        return x + self.drop(self.out(y)), (a[:, :, a.shape[2] - self.pad:],)


@register("conv")
class CausalConv(StackLM):
    """`layers` gated dilated-convolution blocks of width `hidden` (base.StackLM)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg, lambda i: Block(cfg.hidden, 2 ** i, cfg.dropout))

    def context_limit(self) -> int | None:
        return 1 + (KERNEL - 1) * (2 ** self.cfg.layers - 1)
