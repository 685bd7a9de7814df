"""`--match params=N`: the width that gives each family a parameter count near N, so that a family grid
compares models of one size (issue 23: "sizes every model family to a parameter count within ±10 %").

Only the width (`hidden`) moves; depth, embedding, window and heads stay what the run or grid point says,
because those are what a comparison varies on purpose. Parameters are counted on a model built on the
`meta` device (shapes only, no memory), so the count is the family's own, never a formula that could drift
from the code.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..config import LIMITS
from ..fsutil import UsageError
from .base import ModelConfig, param_count

#: How far from the asked count a match may land: the issue's ±10 %.
TOLERANCE = 0.10
#: The widest model the search considers: the widest `--hidden` allows (config.LIMITS).
MAX_HIDDEN = int(LIMITS["hidden"].hi)


@dataclass(frozen=True)
class Match:
    hidden: int
    params: int
    target: int

    @property
    def off(self) -> float:
        """Relative distance of the match from the target (0.03 = 3 %)."""
        return abs(self.params - self.target) / self.target


def parse_match(text: str) -> int:
    """`params=200k` → 200000 (the only quantity matched so far)."""
    from ..grid import parse_budget

    key, sep, value = text.partition("=")
    if key.strip() != "params" or not sep or not value:
        raise UsageError(f"--match {text!r}: write params=N, e.g. params=200k")
    return parse_budget(value, "--match params")


def count_params(cfg: ModelConfig) -> int:
    """Parameters of the `cfg` model, built on the meta device (no memory, no initialisation cost)."""
    from . import build_model

    with torch.device("meta"):
        return param_count(build_model(cfg))


def match_hidden(cfg: ModelConfig, target: int) -> Match:
    """The width whose parameter count is nearest `target` (counts grow with width, so a bisection finds
    it); a UsageError where even the nearest is more than TOLERANCE away (a target below what the
    embedding and head alone take)."""
    from . import family

    step = family(cfg.kind).width_multiple(cfg)

    def params(units: int) -> int:
        return count_params(replace(cfg, hidden=units * step))

    lo, hi = 1, MAX_HIDDEN // step
    while lo < hi:  # the fewest units whose count reaches the target
        mid = (lo + hi) // 2
        if params(mid) >= target:
            hi = mid
        else:
            lo = mid + 1
    best = min({lo, max(1, lo - 1)}, key=lambda u: abs(params(u) - target))
    found = Match(best * step, params(best), target)
    if found.off > TOLERANCE:
        raise UsageError(f"--match params={target:,}: the nearest {cfg.kind} {cfg.layers}-layer model has "
                         f"{found.params:,} parameters (hidden {found.hidden}), more than "
                         f"{TOLERANCE:.0%} away; change the target, --layers or --embed")
    return found
