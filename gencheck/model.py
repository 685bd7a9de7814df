"""Compatibility: what other modules imported from here before the model families moved to
gencheck/models/ (issue 23). New code imports from gencheck.models."""

from __future__ import annotations

import torch

from .models import CharModel, ModelConfig, ModelDescription, State, build_model, detach, family, param_count
from .models.base import flatten_state
from .models.rnn import RNN_KINDS, CharRNN

__all__ = ["RNN_KINDS", "CharModel", "CharRNN", "ModelConfig", "ModelDescription", "State", "build_model",
           "detach", "param_count", "state_from_list", "state_to_list"]


def state_to_list(state: State) -> list[torch.Tensor]:
    return flatten_state(state)


def state_from_list(tensors: list[torch.Tensor], kind: str, device: torch.device) -> State:
    """A saved state for a model of `kind`, as that family restores it."""
    return family(kind).restore_state(tensors, kind, device)
