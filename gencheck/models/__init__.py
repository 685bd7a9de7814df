"""Model families behind one interface (base.py): `build_model(cfg)` builds the family `cfg.kind` names.

Importing a family module registers its kinds; the order here is the order `--help` lists them in.
"""

from __future__ import annotations

from . import rnn  # noqa: F401  (importing a family registers its kinds, in this order)
from . import mingru  # noqa: F401
from . import transformer  # noqa: F401
from . import conv  # noqa: F401
from . import xlstm  # noqa: F401  (the xlstm package itself is imported only when such a model is built)
from .base import FAMILIES, CharModel, ModelConfig, ModelDescription, State, detach, family, param_count

__all__ = ["CharModel", "ModelConfig", "ModelDescription", "State", "build_model", "detach", "family", "kinds",
           "param_count"]


def kinds() -> tuple[str, ...]:
    """Every `--model` name, in registration order."""
    return tuple(FAMILIES)


def build_model(cfg: ModelConfig) -> CharModel:
    """The model `cfg.kind` names; an unknown kind is a UsageError naming the known ones."""
    return family(cfg.kind)(cfg)
