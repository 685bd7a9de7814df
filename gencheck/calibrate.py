"""Calibration: are the validators trustworthy on this corpus?

Two numbers per corpus: the share of real documents accepted (every rejection listed, so a reader can
tell a real error from a validator gap) and, per mutation kind, the share of seeded single-edit
mutations of accepted documents that the validator rejects. Both are shares of *judged* texts: a
document or mutant the checker could not judge (`unjudged`: timeout, crash, too long) is neither an
acceptance nor a detection -- it is counted and listed on its own, so a limit set too low cannot
inflate the detection rate.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field

from gencheck.validators import VALID, WARNING, validate_many
from gencheck.validators.base import UNJUDGED
from gencheck.validators.mutations import MUTATION_KINDS, mutate

from .corpus import Corpus


@dataclass
class Rejection:
    path: str
    verdict: str
    kind: str
    message: str
    line: int
    col: int


@dataclass
class MutationRow:
    """Mutants of one kind: `detected` counts judged mutants rejected; `unjudged` ones are in `tried` only."""

    kind: str
    tried: int = 0
    detected: int = 0
    unjudged: int = 0

    @property
    def judged(self) -> int:
        return self.tried - self.unjudged

    @property
    def rate(self) -> float:
        """detected / judged: NaN when nothing was judged."""
        return self.detected / self.judged if self.judged else float("nan")


@dataclass
class Calibration:
    """`rejected`: judged real documents not valid; `unjudged`: those the checker could not judge (with why)."""

    corpus: str
    format: str
    split: str
    documents: int
    accepted: int
    rejected: list[Rejection] = field(default_factory=list)
    mutations: list[MutationRow] = field(default_factory=list)
    unjudged: list[Rejection] = field(default_factory=list)

    @property
    def judged(self) -> int:
        return self.documents - len(self.unjudged)

    @property
    def acceptance(self) -> float:
        """accepted / judged: NaN when nothing was judged."""
        return self.accepted / self.judged if self.judged else float("nan")

    def to_json(self) -> dict:
        d = asdict(self)
        d["judged"] = self.judged
        d["acceptance"] = self.acceptance
        for row, m in zip(d["mutations"], self.mutations):
            row["judged"] = m.judged
            row["rate"] = m.rate
        return d


def calibrate(corpus: Corpus, split: str = "test", per_kind: int = 200, seed: int = 0,
              workers: int = 2, timeout_s: float = 30.0) -> Calibration:
    fmt = corpus.spec.format
    idx = list(range(len(corpus.documents))) if split == "all" else corpus.splits[split]
    docs = [corpus.documents[i] for i in idx]
    verdicts = validate_many([d.text for d in docs], fmt, workers=workers, timeout_s=timeout_s)
    result = Calibration(corpus.spec.name, fmt, split, len(docs), sum(v.verdict == VALID for v in verdicts))
    for d, v in zip(docs, verdicts):
        if v.verdict != VALID:
            f = next((f for f in v.findings if f.severity != WARNING), v.findings[0])  # why it was rejected
            rows = result.unjudged if v.verdict == UNJUDGED else result.rejected
            rows.append(Rejection(d.path, v.verdict, f.kind, f.message, f.line, f.col))
    accepted = [d.text for d, v in zip(docs, verdicts) if v.verdict == VALID]
    rng = random.Random(seed)
    for kind in MUTATION_KINDS.get(fmt, ()):
        mutants = []
        for _ in range(per_kind * 3):
            if len(mutants) >= per_kind or not accepted:
                break
            m = mutate(accepted[rng.randrange(len(accepted))], fmt, kind, rng)
            if m is not None:
                mutants.append(m)
        found = validate_many(mutants, fmt, workers=workers, timeout_s=timeout_s) if mutants else []
        unjudged = sum(v.verdict == UNJUDGED for v in found)
        detected = sum(v.verdict not in (VALID, UNJUDGED) for v in found)
        result.mutations.append(MutationRow(kind, len(mutants), detected, unjudged))
    return result
