"""Your own model behind gencheck's interface: `gencheck probe --model-entry package.module:factory`.

`factory()` (no arguments) returns a torch module `m` with

- `m.chars`: the character of each of its ids, in order (its logits have `len(m.chars)` columns);
- `m(x, state) -> (logits, state)`: `x` a (B, T) long tensor of its ids, `state` None at a document's
  start and otherwise what the previous call returned (anything: a tensor, a tuple, a KV cache); the
  logits are (B, T, len(chars)) for the next character after each position;
- optionally `m.start`: the character fed at a document's start (default gencheck's separator "\\x1e",
  which must then be one of `m.chars`), `m.unknown`: the character fed for one the model does not know
  (default: gencheck's "\\x1a" where it is in `chars`, else `start`), and `m.describe()` returning `ModelDescription` (else parameters are counted and
  the FLOPs and context limit are left unknown).

`EntryModel` wraps it as a `CharModel` over a gencheck `Vocab` (separator and unknown first, then the
model's characters), translating ids on the way in and logit columns on the way out, so the probes,
effective context, bits/char and the sampler run on it unchanged. docs/models.md has a 20-line example.
"""

from __future__ import annotations

import importlib
from typing import Sequence

import torch
from torch import nn

from ..corpus import SEP, UNK, Vocab
from ..fsutil import UsageError
from .base import CharModel, ModelConfig, ModelDescription, State, param_count


def load_entry(spec: str) -> nn.Module:
    """`package.module:factory` → the module `factory()` returns, checked against the protocol."""
    mod_name, sep, attr = spec.partition(":")
    if not sep or not mod_name or not attr:
        raise UsageError(f"--model-entry {spec!r}: write package.module:factory")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as exc:
        raise UsageError(f"--model-entry {spec}: cannot import {mod_name} ({exc})") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise UsageError(f"--model-entry {spec}: {mod_name} has no callable {attr}")
    model = factory()
    if not isinstance(model, nn.Module):
        raise UsageError(f"--model-entry {spec}: {attr}() returned {type(model).__name__}, not a torch.nn.Module")
    chars = getattr(model, "chars", None)
    if not chars or not all(isinstance(c, str) and len(c) == 1 for c in chars) or len(set(chars)) != len(chars):
        raise UsageError(f"--model-entry {spec}: the model needs `chars`, its distinct characters in id order")
    return model


class EntryModel(CharModel):
    """A user's model (`load_entry`) as a gencheck `CharModel` over `self.vocab`."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        chars: Sequence[str] = list(inner.chars)
        start = getattr(inner, "start", SEP)
        unknown = getattr(inner, "unknown", UNK if UNK in chars else start)
        for what, c in (("start", start), ("unknown", unknown)):
            if c not in chars:
                raise UsageError(f"the model's {what} character {c!r} is not among its chars"
                                 + (" (give the model a `start` character, e.g. '\\n')" if what == "start" else ""))
        own = {c: i for i, c in enumerate(chars)}
        self.vocab = Vocab((SEP, UNK, *sorted(c for c in chars if c not in (SEP, UNK))))  # as Vocab.from_texts
        # gencheck id → the model's id (separator → start, unknown → unknown)
        to_inner = [own[start], own[unknown], *[own[c] for c in self.vocab.chars[2:]]]
        self.register_buffer("to_inner", torch.tensor(to_inner, dtype=torch.long), persistent=False)
        # gencheck column → the model's column; separator and unknown only where the model has them
        cols = [own.get(SEP, -1), own.get(UNK, -1), *[own[c] for c in self.vocab.chars[2:]]]
        self.register_buffer("cols", torch.tensor([max(c, 0) for c in cols], dtype=torch.long), persistent=False)
        self.register_buffer("absent", torch.tensor([c < 0 for c in cols]), persistent=False)
        self.n_inner = len(chars)
        self.cfg = ModelConfig(self.vocab.size, kind="entry", layers=0, hidden=0, embed=0)

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        logits, state = self.inner(self.to_inner[x], state)
        if logits.shape[:2] != x.shape or logits.shape[-1] != self.n_inner:
            raise UsageError(f"the model returned logits of shape {tuple(logits.shape)} for input "
                             f"{tuple(x.shape)}: expected (B, T, {self.n_inner}), one column per character")
        out = logits.index_select(-1, self.cols)
        return out.masked_fill(self.absent, float("-inf")), state

    def describe(self) -> ModelDescription:
        own = getattr(self.inner, "describe", None)
        if callable(own):
            d = own()
            return ModelDescription(int(d.params), int(d.flops_per_char), d.context_limit)
        return ModelDescription(param_count(self.inner), 0, None)

