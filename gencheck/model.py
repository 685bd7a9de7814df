"""Character models: embedding → recurrent stack (LSTM / GRU / vanilla RNN) → linear head.

`forward(x, state) -> (logits, state)` everywhere, so training, sampling and probes can carry state
across chunks of a long stream (running in chunks equals one full pass; tests check it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

RNN_KINDS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    kind: str = "lstm"
    layers: int = 2
    hidden: int = 128
    embed: int = 64
    dropout: float = 0.0

    def label(self) -> str:
        return f"{self.kind} {self.layers}×{self.hidden}"


class CharRNN(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.kind not in RNN_KINDS:
            raise ValueError(f"unknown model kind {cfg.kind!r}; known: {', '.join(RNN_KINDS)}")
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed)
        self.rnn = RNN_KINDS[cfg.kind](
            cfg.embed, cfg.hidden, num_layers=cfg.layers, batch_first=True,
            dropout=cfg.dropout if cfg.layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden, cfg.vocab_size)

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        out, state = self.rnn(self.embed(x), state)
        return self.head(self.drop(out)), state


def detach(state: State) -> State:
    """Cut the graph between chunks (truncated BPTT) while keeping the values."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)  # type: ignore[return-value]
    return state.detach()


def state_to_list(state: State) -> list[torch.Tensor]:
    if state is None:
        return []
    return [s.detach().cpu() for s in (state if isinstance(state, tuple) else (state,))]


def state_from_list(tensors: list[torch.Tensor], kind: str, device: torch.device) -> State:
    if not tensors:
        return None
    ts = [t.to(device) for t in tensors]
    return (ts[0], ts[1]) if kind == "lstm" else ts[0]


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
