"""The recurrent cells torch ships (LSTM, GRU, vanilla RNN): embedding → cuDNN/oneDNN stack → linear head.
Moved here from gencheck/model.py unchanged (same modules, same parameter names, same numbers)."""

from __future__ import annotations

import torch
from torch import nn

from .base import CharModel, ModelConfig, State, register

RNN_KINDS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


@register(*RNN_KINDS)
class CharRNN(CharModel):
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

    @classmethod
    def restore_state(cls, tensors: list[torch.Tensor], kind: str, device: torch.device) -> State:
        """(h, c) for an LSTM, h for the others: what torch's modules take."""
        if not tensors:
            return None
        ts = [t.to(device) for t in tensors]
        return (ts[0], ts[1]) if kind == "lstm" else ts[0]
