"""The statistics of the probes, apart from the scoring (probes.py is "events + scorer → outcomes"; this is
"outcomes → cells"): distance buckets, per-bucket accuracy and mean bits with 95 % percentile bootstrap
intervals over units of text (events in one stretch of a document are not independent), reach, and the
paired difference of two rows scored on the same events. Pure numpy: no torch, no text.

The resampling unit is a block of BLOCK_CHARS characters of one document (by the position of the event's
closer): a corpus of many short documents resamples documents, as before; one of a few long documents
(`latex-stacks` has six test chapters) resamples their blocks, a block bootstrap over the document stream,
so that an interval rests on 51 units instead of six (docs/probes.md, "Intervals").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

#: Family-wise error rate of reach and of the ▲ marks: over the buckets tested, Holm's step-down keeps the chance of
#: any spurious bucket at or below this (docs/probes.md, "Chance and reach").
ALPHA = 0.05
#: Document resamples behind a bucket's one-sided p-value; the smallest p is 1/(TEST_RESAMPLES + 1), well below
#: ALPHA / 7 (Holm's strictest level over the seven buckets).
TEST_RESAMPLES = 2000
BUCKET_BOUNDS = (10, 30, 100, 300, 1000, 3000)  # inclusive upper bounds; the last bucket is > 3000
BUCKET_LABELS = ("1-10", "11-30", "31-100", "101-300", "301-1000", "1001-3000", ">3000")
MIN_EVENTS = 20  # a cell with fewer events is flagged too_few and shows no rates
#: Characters per resampling unit. Ten times the longest bucket edge the probes test (3,000), so that the
#: events of neighbouring blocks share little of what they depend on; shorter documents are one unit each.
BLOCK_CHARS = 30_000


def buckets_beyond(distance: int) -> list[str]:
    """The buckets whose every distance is longer than `distance`: beyond a drill's longest training example,
    or beyond a model's context limit."""
    lows = (0, *BUCKET_BOUNDS)
    return [label for label, lo in zip(BUCKET_LABELS, lows) if lo >= distance]


def bucket_counts(outs: Sequence["Outcome"]) -> dict[str, list[int]]:
    """[events, right] per distance bucket that has events, in bucket order."""
    counts = {label: [0, 0] for label in BUCKET_LABELS}
    for o in outs:
        cell = counts[BUCKET_LABELS[bucket_of(o.distance)]]
        cell[0] += 1
        cell[1] += int(o.correct)
    return {k: v for k, v in counts.items() if v[0]}


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
    block: int = 0  # the closer's position // BLOCK_CHARS: with `doc`, the bootstrap's unit


def block_of(pos: int) -> int:
    return pos // BLOCK_CHARS


def units(outs: Sequence[Outcome]) -> tuple[int, np.ndarray]:
    """How many resampling units `outs` fall in, and each outcome's unit index (for np.bincount)."""
    if not outs:
        return 0, np.zeros(0, dtype=np.int64)
    keys = np.array([(o.doc, o.block) for o in outs], dtype=np.int64)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    return len(uniq), inv.reshape(-1)


@dataclass
class Cell:
    """One distance bucket (or all of them): point estimates and 95 % bootstrap intervals over units
    (documents, or blocks of long ones)."""

    label: str
    events: int
    documents: int
    correct: int
    accuracy: float
    ci: tuple[float, float]
    mean_bits: float | None = None
    bits_ci: tuple[float, float] | None = None
    too_few: bool = False
    units: int = 0  # resampled by the bootstrap: documents, or BLOCK_CHARS blocks of long ones

    def to_json(self) -> dict[str, Any]:
        """Rates are null when the cell has too few events, so nobody shows them as 0 % or 100 %."""
        hide = self.too_few or not self.events

        def r(v):
            return None if hide or v is None or not math.isfinite(v) else round(float(v), 4)

        return {
            "bucket": self.label, "events": self.events, "documents": self.documents, "units": self.units,
            "too_few": self.too_few,
            "accuracy": r(self.accuracy), "ci95": None if hide else [r(self.ci[0]), r(self.ci[1])],
            "mean_bits": r(self.mean_bits),
            "bits_ci95": None if hide or self.bits_ci is None else [r(self.bits_ci[0]), r(self.bits_ci[1])],
        }


def _bootstrap(num: np.ndarray, den: np.ndarray, resamples: int, rng: np.random.Generator) -> tuple[float, float]:
    """95 % percentile interval of sum(num)/sum(den) over units resampled with replacement."""
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
    n_units, inv = units(outs)
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
    documents = len({o.doc for o in outs})
    return Cell(label, len(outs), documents, int(right.sum()), acc, ci, mean_bits, bits_ci, len(outs) < min_events,
                n_units)


@dataclass
class ProbeResult:
    probe: str
    scorer: str
    cells: list[Cell]  # one per bucket, in BUCKET_LABELS order
    overall: Cell
    chance: float | dict[str, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list, repr=False, compare=False)  # for paired comparisons

    null: "ProbeResult | None" = field(default=None, repr=False, compare=False)  # the best constant answer's row
    floor: float = 0.0  # the construction's chance (1/K on drills and controlled documents; 1/candidates)
    seed: int = 0  # of the bootstrap behind the cells, and so of the tests
    _passes: list[bool] | None = field(default=None, init=False, repr=False, compare=False)

    def with_null(self, null: "ProbeResult | None", floor: float = 0.0) -> "ProbeResult":
        """This row tested against `null` (the best constant answer on the same events) and `floor`; its chance
        becomes the per-bucket level it is tested against. Returns self."""
        self.null, self.floor, self._passes = null, floor, None
        self.chance = chance_levels(null, floor)
        return self

    def passes(self) -> list[bool]:
        """Per bucket: above chance beyond noise, Holm-corrected over the buckets tested (`passing_buckets`);
        computed once (2,000 resamples a bucket) until with_null changes the null."""
        if self._passes is None:
            self._passes = passing_buckets(self, self.null, self.floor)
        return self._passes

    def reach(self) -> str | None:
        """The farthest bucket of the unbroken run of passing buckets that starts at the nearest bucket with
        enough events (None: that bucket does not pass, or this row has no null to be tested against)."""
        if self.null is None:
            return None
        return run_end(self.cells, self.passes())

    def to_json(self) -> dict[str, Any]:
        """`passes`: the buckets above chance beyond noise (the test behind reach), where a null is known."""
        chance = chance_levels(self.null, self.floor) if self.null is not None else self.chance
        tested = {"passes": [c.label for c, ok in zip(self.cells, self.passes()) if ok]} if self.null is not None else {}
        return {
            "probe": self.probe, "scorer": self.scorer,
            "chance": chance if not isinstance(chance, float) else round(chance, 4),
            "reach": self.reach(), **tested, "overall": self.overall.to_json(),
            "buckets": [c.to_json() for c in self.cells], **self.extra,
        }


# --- chance, reach and the tests behind them ------------------------------------------------------------

def best_constant_outcomes(events: Sequence[tuple[int, int, int, str] | tuple[int, int, int, str, int]]) -> list[Outcome]:
    """The null row: on each bucket's events, the constant answer that is right most often there (ties: the
    smallest string), scored on the same events in the same order. No row without memory of the opener can
    beat it in expectation where the text before the closer says nothing of the opener (drills, controlled
    documents); it is chosen after seeing the answers, so it is a generous null. `events`: (document,
    distance, depth, target[, block]) of every scored event."""
    counts: list[dict[str, int]] = [{} for _ in BUCKET_LABELS]
    for _, distance, _, target, *_ in events:
        c = counts[bucket_of(distance)]
        c[target] = c.get(target, 0) + 1
    best = [min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] if c else None for c in counts]
    return [Outcome(doc, distance, depth, target == best[bucket_of(distance)], None, *block)
            for doc, distance, depth, target, *block in events]


def chance_levels(null: "ProbeResult | None", floor: float) -> dict[str, float] | None:
    """The chance level of each bucket that has events: the best constant answer's accuracy there, and at
    least `floor` (the construction's 1/K)."""
    if null is None:
        return None
    return {c.label: round(max(c.accuracy, floor), 4) for c in null.cells if c.events}


def _same_events(a: Sequence[Outcome], b: Sequence[Outcome]) -> bool:
    return len(a) == len(b) and all((x.doc, x.block, x.distance, x.depth) == (y.doc, y.block, y.distance, y.depth)
                                    for x, y in zip(a, b))


def one_sided_p(row: Sequence[Outcome], other: Sequence[Outcome] | None, floor: float, resamples: int,
                seed: Sequence[int]) -> float:
    """Bootstrap p-value (units resampled, both rows at once) that `row`'s accuracy is not above
    max(`other`'s accuracy, `floor`): the share of resamples where it is not, counted as (k + 1) / (B + 1)
    so that no p is 0. `other` None: against `floor` alone."""
    D, inv = units(row)
    ev = np.bincount(inv, minlength=D).astype(np.float64)
    mine = np.bincount(inv, weights=[float(o.correct) for o in row], minlength=D)
    theirs = (np.bincount(inv, weights=[float(o.correct) for o in other], minlength=D)
              if other is not None else None)
    rng = np.random.default_rng(list(seed))
    not_above = 0
    step = max(1, 4_000_000 // max(1, D))
    for a in range(0, resamples, step):
        idx = rng.integers(0, D, size=(min(step, resamples - a), D))
        den = ev[idx].sum(axis=1)
        level = np.full(len(idx), floor) if theirs is None else np.maximum(theirs[idx].sum(axis=1) / den, floor)
        not_above += int((mine[idx].sum(axis=1) / den <= level).sum())
    return (not_above + 1) / (resamples + 1)


def holm(pvalues: Sequence[float | None], alpha: float = ALPHA) -> list[bool]:
    """Holm's step-down over the tested hypotheses (None: not tested, never rejected): the i-th smallest p
    is rejected while p <= alpha / (m - i), m the number tested; the family-wise error stays <= alpha."""
    tested = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    out = [False] * len(pvalues)
    for rank, (p, i) in enumerate(tested):
        if p > alpha / (len(tested) - rank):
            break
        out[i] = True
    return out


def _by_bucket(outcomes: Sequence[Outcome]) -> list[list[Outcome]]:
    out: list[list[Outcome]] = [[] for _ in BUCKET_LABELS]
    for o in outcomes:
        out[bucket_of(o.distance)].append(o)
    return out


def _bucket_pvalues(row: "ProbeResult", other: Sequence[Outcome] | None, floor: float,
                    tag: tuple[int, ...]) -> list[float | None]:
    """One-sided p per bucket of `row` against `other` (the same events) and `floor`; None where the bucket has
    too few events to be tested."""
    mine = _by_bucket(row.outcomes)
    theirs = _by_bucket(other) if other is not None else [None] * len(BUCKET_LABELS)
    return [None if cell.too_few or not cell.events else
            one_sided_p(m, t, floor, TEST_RESAMPLES, (*tag, i))
            for i, (cell, m, t) in enumerate(zip(row.cells, mine, theirs))]


def passing_buckets(row: "ProbeResult", null: "ProbeResult | None", floor: float,
                    alpha: float = ALPHA) -> list[bool]:
    """Per bucket: `row` is above chance (the null row's accuracy, at least `floor`) beyond noise, Holm-corrected
    over the buckets tested. All False without a null or when the rows were not scored on the same events."""
    if null is None or not _same_events(row.outcomes, null.outcomes):
        return [False] * len(BUCKET_LABELS)
    return holm(_bucket_pvalues(row, null.outcomes, floor, (row.seed, 31)), alpha)


def run_end(cells: Sequence[Cell], passes: Sequence[bool]) -> str | None:
    """The farthest bucket of the unbroken run of passing buckets from the nearest bucket with enough events;
    a bucket with too few events is untested and ends the run."""
    end = None
    started = False
    for cell, ok in zip(cells, passes):
        if not started and (cell.too_few or not cell.events):
            continue
        started = True
        if not ok or cell.too_few or not cell.events:
            break
        end = cell.label
    return end


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
    return ProbeResult(probe, scorer, cells, overall, chance, outcomes=list(outcomes), seed=seed)


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
    n_units, inv = units(a)
    ev = np.bincount(inv).astype(np.float64)
    delta = np.bincount(inv, weights=[float(x.correct) - float(y.correct) for x, y in zip(a, b)],
                        minlength=n_units)
    ci = _bootstrap(delta, ev, resamples, np.random.default_rng(list(seed)))
    return Difference(label, len(a), len({o.doc for o in a}), float(delta.sum() / ev.sum()), ci, len(a) < min_events)


def paired_difference(a: ProbeResult, b: ProbeResult, resamples: int = 1000, seed: int = 0,
                      min_events: int = MIN_EVENTS) -> tuple[list[Difference], Difference]:
    """`a` minus `b` per distance bucket and overall, resampling documents for both at once. The rows
    must have scored the same events in the same order (every row of one probe on one split does)."""
    if len(a.outcomes) != len(b.outcomes) or any(
            (x.doc, x.block, x.distance, x.depth) != (y.doc, y.block, y.distance, y.depth)
            for x, y in zip(a.outcomes, b.outcomes)):
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
    `above_baselines` (▲), the buckets where `of` is above every other row beyond noise -- a one-sided paired
    test per row, Holm-corrected over the buckets -- and above chance (`passing_buckets`)."""
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
        flags = holm(_bucket_pvalues(mine, other.outcomes, 0.0, (seed, 37)), ALPHA)
        above = flags if above is None else [x and y for x, y in zip(above, flags)]
    if above is not None and mine.null is not None:  # and above chance: ▲ never marks a bucket a constant beats
        above = [x and y for x, y in zip(above, mine.passes())]
    return {"versus": out,
            "above_baselines": [lab for lab, ok in zip(BUCKET_LABELS, above or []) if ok]}
