"""The model protocol every family implements, written down once.

A character model is called as `model(x, state) -> (logits, state)` on chunks of a (B, T) long tensor of
character ids, with `state` carried from one chunk to the next (None at the start of a stream). Running a
stream in chunks equals one full pass over it (each family has a test). Training, sampling, the probes,
the grid and resume use nothing else, so a new family that keeps this contract needs no special case:

- `forward(x, state)`: logits (B, T, vocab) and the state after the chunk;
- `detach_state(state)`: the same values cut from the graph (truncated BPTT between training chunks);
- `state_to_list(state)` / `state_from_list(tensors, device)`: the state as a flat list of CPU tensors for
  the checkpoint (`Checkpoint.hidden`) and back;
- `describe()`: a `ModelDescription` (parameters, forward FLOPs per character, context limit).

A state is None, a tensor, or a tuple of tensors; families whose state is a tuple of tensors need not
override the (de)serialisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ..fsutil import UsageError

State = Any  # None, a tensor or a tuple of tensors: what a family's forward returns


@dataclass(frozen=True)
class ModelConfig:
    """What a checkpoint stores (`asdict`) to rebuild a model. Fields added later have defaults, so older
    checkpoints still load. `context` and `heads` matter only to the families that use them."""

    vocab_size: int
    kind: str = "lstm"
    layers: int = 2
    hidden: int = 128
    embed: int = 64
    dropout: float = 0.0
    context: int = 256  # transformer: attention window in characters
    heads: int = 4  # transformer: attention heads

    def label(self) -> str:
        return f"{self.kind} {self.layers}×{self.hidden}"


@dataclass(frozen=True)
class ModelDescription:
    """What a model costs and how far it can see, for results.json and the scorecard.

    params: every parameter, the embedding and head included.
    flops_per_char: approximate forward FLOPs per character: 2 per weight of every matrix or convolution a
        character passes through (a multiply and an add; the embedding is a lookup and counts 0), plus what
        a family adds on top (attention: 4 × d_model per attended position per layer, for QKᵀ and AV at a
        full window). Biases, norms and nonlinearities are left out: they are a few % at these sizes.
    context_limit: the farthest character, counting the current one, that can influence a prediction;
        None where the state is recurrent and in principle unbounded.
    """

    params: int
    flops_per_char: int
    context_limit: int | None


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def detach(state: State) -> State:
    """Cut the graph between chunks (truncated BPTT) while keeping the values; any family's state, and a
    user's model's (`gencheck probe --model-entry`): tensors inside tuples, lists and dicts, anything else
    kept as it is."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return tuple(detach(s) for s in state)
    if isinstance(state, dict):
        return {k: detach(v) for k, v in state.items()}
    return state


def flatten_state(state: State) -> list[torch.Tensor]:
    """The state's tensors in order, detached, on the CPU: what a checkpoint keeps."""
    if state is None:
        return []
    if isinstance(state, (tuple, list)):
        return [t for s in state for t in flatten_state(s)]
    return [state.detach().cpu()]


class CharModel(nn.Module):
    """Base of every family: embedding → body → head, behind `forward(x, state) -> (logits, state)`."""

    cfg: ModelConfig

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:  # pragma: no cover
        raise NotImplementedError

    def detach_state(self, state: State) -> State:
        return detach(state)

    def state_to_list(self, state: State) -> list[torch.Tensor]:
        return flatten_state(state)

    def state_from_list(self, tensors: list[torch.Tensor], device: torch.device) -> State:
        return type(self).restore_state(tensors, self.cfg.kind, device)

    @classmethod
    def restore_state(cls, tensors: list[torch.Tensor], kind: str, device: torch.device) -> State:
        """A state saved by `state_to_list`, on `device`: a tuple of the tensors (None when there are none)."""
        return tuple(t.to(device) for t in tensors) if tensors else None

    def context_limit(self) -> int | None:
        return None

    @classmethod
    def width_multiple(cls, cfg: ModelConfig) -> int:
        """The widths (`hidden`) this family accepts are multiples of this (`--match` steps by it)."""
        return 1

    def extra_flops_per_char(self) -> int:
        """FLOPs per character beyond the weights (attention over the window); 0 for most families."""
        return 0

    def weight_flops_per_char(self) -> int:
        """2 FLOPs per parameter outside the embedding: every other weight is used once per character."""
        embedding = sum(m.weight.numel() for m in self.modules() if isinstance(m, nn.Embedding))
        return 2 * (param_count(self) - embedding)

    def describe(self) -> ModelDescription:
        return ModelDescription(param_count(self), self.weight_flops_per_char() + self.extra_flops_per_char(),
                                self.context_limit())


#: kind → family class; filled by `register` as the family modules are imported (gencheck/models/__init__.py).
FAMILIES: dict[str, type[CharModel]] = {}


def register(*kinds: str) -> Callable[[type[CharModel]], type[CharModel]]:
    """Class decorator: `@register("mingru")` makes `--model mingru` build this family."""
    def add(cls: type[CharModel]) -> type[CharModel]:
        for k in kinds:
            FAMILIES[k] = cls
        return cls
    return add


def family(kind: str) -> type[CharModel]:
    try:
        return FAMILIES[kind]
    except KeyError:
        raise UsageError(f"unknown model kind {kind!r}; known: {', '.join(FAMILIES)}") from None


class StackLM(CharModel):
    """embedding → linear to `hidden` → `layers` residual blocks (`make_block(i)` builds layer i) → LayerNorm
    → head, for the families built from blocks (mingru, transformer, conv). Each block is called as
    `block(h, its_state, **kw) -> (h, its_state)`, its state a tuple of `block.state_size` tensors (None at a
    stream start); the model's state is all of them in one flat tuple, so checkpoints keep it without a
    family-specific rule."""

    def __init__(self, cfg: ModelConfig, make_block: Callable[[int], nn.Module]) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed)
        self.proj = nn.Linear(cfg.embed, cfg.hidden)
        self.blocks = nn.ModuleList(make_block(i) for i in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.hidden)
        self.head = nn.Linear(cfg.hidden, cfg.vocab_size)

    def run_blocks(self, x: torch.Tensor, state: State, **kw: Any) -> tuple[torch.Tensor, State]:
        h, new, i = self.proj(self.embed(x)), [], 0
        for block in self.blocks:
            n = block.state_size
            h, out = block(h, None if state is None else tuple(state[i:i + n]), **kw)
            new.extend(out)
            i += n
        return self.head(self.norm(h)), tuple(new)

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        return self.run_blocks(x, state)
