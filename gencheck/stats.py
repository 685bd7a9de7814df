"""The statistics of the probes, apart from the scoring (probes.py is "events + scorer → outcomes"; this is
"outcomes → cells"): distance buckets, per-bucket accuracy and mean bits with 95 % percentile bootstrap
intervals over documents (events in one document are not independent), reach, and the paired difference
of two rows scored on the same events. Pure numpy: no torch, no text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

BUCKET_BOUNDS = (10, 30, 100, 300, 1000, 3000)  # inclusive upper bounds; the last bucket is > 3000
BUCKET_LABELS = ("1-10", "11-30", "31-100", "101-300", "301-1000", "1001-3000", ">3000")
MIN_EVENTS = 20  # a cell with fewer events is flagged too_few and shows no rates


def buckets_beyond(distance: int) -> list[str]:
    """The buckets whose every distance is longer than `distance`: beyond a drill's longest training example,
    or beyond a model's context limit."""
    lows = (0, *BUCKET_BOUNDS)
    return [label for label, lo in zip(BUCKET_LABELS, lows) if lo >= distance]


def bucket_of(distance: int) -> int:
    """Index into BUCKET_LABELS of a distance in characters."""
    for i, bound in enumerate(BUCKET_BOUNDS):
        if distance <= bound:
            return i
    return len(BUCKET_BOUNDS)


@dataclass(frozen=True)
class Outcome:
    doc: int
    distance: int
    depth: int
    correct: bool
    bits: float | None  # -log2 p(target): of the whole target string, or of the true closer


@dataclass
class Cell:
    """One distance bucket (or all of them): point estimates and 95 % bootstrap intervals over documents."""

    label: str
    events: int
    documents: int
    correct: int
    accuracy: float
    ci: tuple[float, float]
    mean_bits: float | None = None
    bits_ci: tuple[float, float] | None = None
    too_few: bool = False

    def to_json(self) -> dict[str, Any]:
        """Rates are null when the cell has too few events, so nobody shows them as 0 % or 100 %."""
        hide = self.too_few or not self.events

        def r(v):
            return None if hide or v is None or not math.isfinite(v) else round(float(v), 4)

        return {
            "bucket": self.label, "events": self.events, "documents": self.documents,
            "too_few": self.too_few,
            "accuracy": r(self.accuracy), "ci95": None if hide else [r(self.ci[0]), r(self.ci[1])],
            "mean_bits": r(self.mean_bits),
            "bits_ci95": None if hide or self.bits_ci is None else [r(self.bits_ci[0]), r(self.bits_ci[1])],
        }


def _bootstrap(num: np.ndarray, den: np.ndarray, resamples: int, rng: np.random.Generator) -> tuple[float, float]:
    """95 % percentile interval of sum(num)/sum(den) over documents resampled with replacement."""
    D = len(num)
    stats = np.empty(resamples)
    step = max(1, 4_000_000 // max(1, D))
    for a in range(0, resamples, step):
        idx = rng.integers(0, D, size=(min(step, resamples - a), D))
        stats[a:a + len(idx)] = num[idx].sum(axis=1) / den[idx].sum(axis=1)
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return float(lo), float(hi)


def _cell(label: str, outs: list[Outcome], resamples: int, seed: Sequence[int], min_events: int) -> Cell:
    if not outs:
        return Cell(label, 0, 0, 0, float("nan"), (float("nan"), float("nan")), None, None, True)
    docs = np.array([o.doc for o in outs])
    uniq, inv = np.unique(docs, return_inverse=True)
    ev = np.bincount(inv).astype(np.float64)
    right = np.bincount(inv, weights=[o.correct for o in outs])
    acc = float(right.sum() / ev.sum())
    rng = np.random.default_rng(list(seed))
    ci = _bootstrap(right, ev, resamples, rng)
    mean_bits = bits_ci = None
    if all(o.bits is not None for o in outs):
        b = np.bincount(inv, weights=[o.bits for o in outs])
        mean_bits = float(b.sum() / ev.sum())
        bits_ci = _bootstrap(b, ev, resamples, np.random.default_rng([*seed, 1]))
    return Cell(label, len(outs), len(uniq), int(right.sum()), acc, ci, mean_bits, bits_ci, len(outs) < min_events)


@dataclass
class ProbeResult:
    probe: str
    scorer: str
    cells: list[Cell]  # one per bucket, in BUCKET_LABELS order
    overall: Cell
    chance: float | dict[str, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list, repr=False, compare=False)  # for paired comparisons

    def reach(self, chance: float | dict[str, float] | None = None) -> str | None:
        """The largest bucket whose accuracy is at least twice chance and whose interval's lower bound is
        above chance (None: no such bucket). `chance` is one number or one per bucket label."""
        return reach(self.cells, self.chance if chance is None else chance)

    def to_json(self) -> dict[str, Any]:
        chance = self.chance
        return {
            "probe": self.probe, "scorer": self.scorer,
            "chance": chance if not isinstance(chance, float) else round(chance, 4),
            "reach": self.reach(), "overall": self.overall.to_json(),
            "buckets": [c.to_json() for c in self.cells], **self.extra,
        }


def reach(cells: Sequence[Cell], chance: float | dict[str, float] | None) -> str | None:
    if chance is None:
        return None
    best = None
    for cell in cells:
        ch = chance.get(cell.label) if isinstance(chance, dict) else chance
        if ch is None or cell.too_few or not cell.events:
            continue
        if cell.accuracy >= 2 * ch and cell.ci[0] > ch:
            best = cell.label
    return best


def aggregate(outcomes: Sequence[Outcome], probe: str, scorer: str = "", chance=None, resamples: int = 1000,
              seed: int = 0, min_events: int = MIN_EVENTS) -> ProbeResult:
    """Per distance bucket and overall: events, documents, accuracy, mean bits, bootstrap intervals
    (seeded: `seed` and the bucket's index), too_few below `min_events`."""
    by_bucket: list[list[Outcome]] = [[] for _ in BUCKET_LABELS]
    for o in outcomes:
        by_bucket[bucket_of(o.distance)].append(o)
    cells = [_cell(label, outs, resamples, (seed, i), min_events)
             for i, (label, outs) in enumerate(zip(BUCKET_LABELS, by_bucket))]
    overall = _cell("all", list(outcomes), resamples, (seed, len(BUCKET_LABELS)), min_events)
    return ProbeResult(probe, scorer, cells, overall, chance, outcomes=list(outcomes))


# --- paired comparison of two rows ----------------------------------------------------------------------

@dataclass
class Difference:
    """Accuracy of one row minus another's on the same events of one bucket, with a 95 % interval from
    resampling documents for both rows at once. Two rows scored on the same documents share their hard
    and easy documents, so the difference varies far less than either accuracy: intervals that overlap
    can still hide a difference that every resample agrees on."""

    label: str
    events: int
    documents: int
    diff: float
    ci: tuple[float, float]
    too_few: bool = False

    @property
    def above(self) -> bool:
        """The first row is above the second beyond noise: the whole interval is above 0."""
        return not self.too_few and self.events > 0 and self.ci[0] > 0

    def to_json(self) -> dict[str, Any]:
        hide = self.too_few or not self.events
        r = (lambda v: None if hide or not math.isfinite(v) else round(float(v), 4))
        return {"bucket": self.label, "events": self.events, "documents": self.documents,
                "too_few": self.too_few, "diff": r(self.diff),
                "ci95": None if hide else [r(self.ci[0]), r(self.ci[1])]}


def _difference(label: str, a: list[Outcome], b: list[Outcome], resamples: int, seed: Sequence[int],
                min_events: int) -> Difference:
    if not a:
        return Difference(label, 0, 0, float("nan"), (float("nan"), float("nan")), True)
    uniq, inv = np.unique([o.doc for o in a], return_inverse=True)
    ev = np.bincount(inv).astype(np.float64)
    delta = np.bincount(inv, weights=[float(x.correct) - float(y.correct) for x, y in zip(a, b)],
                        minlength=len(uniq))
    ci = _bootstrap(delta, ev, resamples, np.random.default_rng(list(seed)))
    return Difference(label, len(a), len(uniq), float(delta.sum() / ev.sum()), ci, len(a) < min_events)


def paired_difference(a: ProbeResult, b: ProbeResult, resamples: int = 1000, seed: int = 0,
                      min_events: int = MIN_EVENTS) -> tuple[list[Difference], Difference]:
    """`a` minus `b` per distance bucket and overall, resampling documents for both at once. The rows
    must have scored the same events in the same order (every row of one probe on one split does)."""
    if len(a.outcomes) != len(b.outcomes) or any(
            (x.doc, x.distance, x.depth) != (y.doc, y.distance, y.depth) for x, y in zip(a.outcomes, b.outcomes)):
        raise ValueError(f"rows {a.scorer!r} and {b.scorer!r} of {a.probe} were not scored on the same events")
    pairs: list[tuple[list[Outcome], list[Outcome]]] = [([], []) for _ in BUCKET_LABELS]
    for x, y in zip(a.outcomes, b.outcomes):
        i = bucket_of(x.distance)
        pairs[i][0].append(x)
        pairs[i][1].append(y)
    cells = [_difference(label, xa, xb, resamples, (seed, i, 2), min_events)
             for i, (label, (xa, xb)) in enumerate(zip(BUCKET_LABELS, pairs))]
    overall = _difference("all", a.outcomes, b.outcomes, resamples, (seed, len(BUCKET_LABELS), 2), min_events)
    return cells, overall


def versus(rows: dict[str, ProbeResult], seed: int = 0, of: str = "model") -> dict[str, Any]:
    """The `of` row against every other row of one probe (a trivial majority row, one answer nearly
    always, is no floor and is left out): `versus` {row: {overall, buckets}} of paired differences, and
    `above_baselines`, the buckets where `of` is above every other row beyond noise."""
    mine = rows[of]
    others = {name: r for name, r in rows.items() if name != of and not r.extra.get("trivial")}
    out: dict[str, Any] = {}
    above: list[bool] | None = None
    for name, other in others.items():
        try:
            cells, overall = paired_difference(mine, other, seed=seed)
        except ValueError as exc:  # no comparison is better than a wrong one; nothing is above it
            out[name] = {"skipped": str(exc)}
            above = [False] * len(BUCKET_LABELS)
            continue
        out[name] = {"overall": overall.to_json(), "buckets": [c.to_json() for c in cells]}
        flags = [c.above for c in cells]
        above = flags if above is None else [x and y for x, y in zip(above, flags)]
    return {"versus": out,
            "above_baselines": [lab for lab, ok in zip(BUCKET_LABELS, above or []) if ok]}
