"""The n-gram baseline as a model like the others (issue 23: "every row, the n-gram too, behind one model
interface"): `NGramModel(ngram)` is called `model(x, state) -> (logits, state)` like every family, its
state the last `order - 1` ids of the stream, and its logits the natural log of the fitted Kneser-Ney
distributions (`gencheck/ngram.py`), so softmax gives them back.

Nothing is trained by gradient: `NGram.fit` counts the train split. What the full forward costs (every
column at every position) is why the probes ask the model for a sparse scorer first (`scorer()`,
probes.scorer_for): the n-gram answers just the asked positions and candidate columns, and the full pass
gives the same figures (a test checks it).
"""

from __future__ import annotations

import numpy as np
import torch

from .base import CharModel, ModelConfig, ModelDescription, State


class NGramModel(CharModel):
    """A fitted `NGram` behind the model protocol (a row of the probes table, not a `--model` to train)."""

    def __init__(self, ngram) -> None:
        super().__init__()
        self.ngram = ngram  # read only when asked: a row that comes from the n-gram cache is never fitted

    @property
    def cfg(self) -> ModelConfig:  # type: ignore[override]
        return ModelConfig(self.ngram.vocab_size, kind="ngram", layers=0, hidden=0, embed=0)

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        ids = x.detach().cpu().numpy().astype(np.int64)
        past = np.zeros((ids.shape[0], 0), np.int64) if state is None else state.cpu().numpy()
        rows = []
        for prev, cur in zip(past, ids):
            seq = np.concatenate([prev, cur])
            # the output after reading seq[t] predicts seq[t + 1]: the distribution given seq[:t + 1]
            rows.append(self.ngram.distributions(seq, np.arange(len(prev) + 1, len(seq) + 1)))
        logits = torch.from_numpy(np.log(np.stack(rows)).astype(np.float32)).to(x.device)
        keep = self.ngram.order - 1
        full = np.concatenate([past, ids], axis=1)
        return logits, torch.from_numpy(full[:, full.shape[1] - keep:] if keep else full[:, :0]).to(x.device)

    def scorer(self):
        """Sparse: log2 probabilities at the asked positions and columns only (probes.Scorer)."""
        from ..probes import ngram_scorer

        return ngram_scorer(self.ngram)

    def context_limit(self) -> int | None:
        """It reads the last order − 1 characters, the current one among them."""
        return self.ngram.order - 1

    def describe(self) -> ModelDescription:
        """An n-gram has count tables, not weights, and multiplies nothing: 0 and 0 (its size in bytes is in
        the probes' `ngrams` section)."""
        return ModelDescription(0, 0, self.context_limit())
