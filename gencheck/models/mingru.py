"""minGRU (Feng et al. 2024, "Were RNNs All We Needed?", arXiv:2410.01201).

    z_t = σ(W_z x_t),  h̃_t = g(W_h x_t),  h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t

The gate and the candidate depend on x_t only, so over a chunk h is a linear recurrence h_t = a_t h_{t−1} + b_t
that a parallel scan computes. The paper's log-space scan is used for training and scoring (T > 1): with
a*_t = Σ_{s≤t} log a_s, log h_t = a*_t + logcumsumexp_s(log b_s − a*_s), where the carried h_0 enters as a
b_0; it is stable because nothing is exponentiated before the end. g(x) = x + ½ for x ≥ 0 and σ(x) below
keeps h̃ positive, so every h is positive and has a logarithm (the paper's choice for the log-space form).
One character at a time (sampling) runs the sequential form; a test checks the two agree, carried state
included. The scan runs in fp32 even under bf16 autocast (logcumsumexp over a long chunk needs it).

A layer is pre-norm residual as in the paper's language-model stack: x + minGRU(LN(x)), then
x + MLP(LN(x)) (4× GELU). The state is each layer's h (fp32), as a tuple.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import ModelConfig, State, StackLM, register

_TINY = torch.finfo(torch.float32).tiny  # log of a carried h that underflowed to 0 stays finite


def g(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, (F.relu(x) + 0.5).log(), -F.softplus(-x))


def scan_log(log_a: torch.Tensor, log_b: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
    """h_t = a_t h_{t−1} + b_t for t = 1…T given log a, log b (B, T, D) and h_0 (B, D) or None (zero)."""
    if h0 is not None:
        log_a = F.pad(log_a, (0, 0, 1, 0))
        log_b = torch.cat([h0.clamp_min(_TINY).log().unsqueeze(1), log_b], dim=1)
    a_star = torch.cumsum(log_a, dim=1)
    h = torch.exp(a_star + torch.logcumsumexp(log_b - a_star, dim=1))
    return h if h0 is None else h[:, 1:]


class MinGRU(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.to_hz = nn.Linear(dim, 2 * dim)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None, parallel: bool) -> torch.Tensor:
        """All h_t (B, T, D) in fp32: by the log-space scan when `parallel`, else one step after another."""
        cand, gate = self.to_hz(x).float().chunk(2, dim=-1)
        if parallel:
            return scan_log(-F.softplus(gate), -F.softplus(-gate) + log_g(cand), h0)
        z, h_tilde = torch.sigmoid(gate), g(cand)
        h = torch.zeros_like(z[:, 0]) if h0 is None else h0
        out = []
        for t in range(x.shape[1]):
            h = (1 - z[:, t]) * h + z[:, t] * h_tilde[:, t]
            out.append(h)
        return torch.stack(out, dim=1)


class Block(nn.Module):
    state_size = 1  # this layer's h

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.rnn = MinGRU(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor] | None,
                parallel: bool) -> tuple[torch.Tensor, tuple[torch.Tensor]]:
        h = self.rnn(self.norm1(x), None if state is None else state[0], parallel)
        x = x + self.drop(h.to(x.dtype))
        return x + self.drop(self.mlp(self.norm2(x))), (h[:, -1],)


@register("mingru")
class MinGRULM(StackLM):
    """`layers` minGRU blocks of width `hidden` (base.StackLM)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg, lambda _: Block(cfg.hidden, cfg.dropout))

    def forward(self, x: torch.Tensor, state: State = None,
                parallel: bool | None = None) -> tuple[torch.Tensor, State]:
        """`parallel` None: the scan for chunks longer than one character, the sequential form otherwise."""
        return self.run_blocks(x, state, parallel=x.shape[1] > 1 if parallel is None else parallel)
