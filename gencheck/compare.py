"""Comparing two runs: the figures both have, their deltas, whether a delta is beyond noise, and the
regressions a CI gate should fail on (`gencheck compare BASE NEW`, `gencheck check NEW --baseline BASE`).

Each compared figure is a `Metric` with a direction (is a rise good or bad?) and, where the run measured
one, its own noise: a probe cell's 95 % bootstrap interval. A delta is *beyond noise* when the new value
lies outside the base's interval (probe accuracies), or, for figures without an interval, when it exceeds
the declared default noise (`DEFAULT_NOISE`). `check` (`gate`) compares the means of one or more new runs
with those of one or more baseline runs: a worsening larger than the tolerance fails, the tolerance being
`--tolerance metric=value`, else one measured from the baseline seeds' spread, else (one baseline run) the
default for the metric's family.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass

from .fsutil import UsageError
from .provenance import version_differences
from .results import RunResult, configuration

#: Declared run-to-run noise for figures that carry no interval of their own (until a seed spread is
#: measured): bits/char in bits, rates as shares.
DEFAULT_NOISE = {"bpc": 0.02, "rate": 0.05, "context": 0.0}
#: How much worse a figure may get before `check` fails, by family, unless --tolerance says otherwise.
DEFAULT_TOLERANCE = {"bpc": 0.02, "rate": 0.05, "probe": 0.0, "context": 0.0}


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    higher_is_better: bool
    family: str  # bpc, rate, probe, context
    ci: tuple[float, float] | None = None
    gated: bool = True  # False: shown by compare, never a regression (a larger effective context is no gain)


def shown(name: str, family: str, value: float | None, spread: bool = False) -> str:
    """A figure as compare and check print it: rates to 3 places; a reach as the bucket it ends in (0 buckets:
    "—", as the scorecard shows it; a mean over seeds between two buckets stays a number of buckets);
    `spread`: a difference or an sd, always a number."""
    if value is None:
        return "missing"
    if family in ("bpc", "probe", "rate"):
        return f"{value:.3f}"
    if name.startswith("reach.") and not spread:
        from .stats import BUCKET_LABELS

        if value == 0:
            return "—"
        if float(value).is_integer() and 1 <= value <= len(BUCKET_LABELS):
            return BUCKET_LABELS[int(value) - 1]
        return f"{value:g} buckets"
    return f"{value:g}"


@dataclass(frozen=True)
class Delta:
    name: str
    base: Metric
    new: Metric

    @property
    def change(self) -> float:
        return self.new.value - self.base.value

    @property
    def worse_by(self) -> float:
        """How much worse the new value is (positive = worse), in the metric's own unit."""
        return -self.change if self.base.higher_is_better else self.change

    @property
    def beyond_noise(self) -> bool:
        if self.base.ci is not None:
            lo, hi = self.base.ci
            return not lo <= self.new.value <= hi
        return abs(self.change) > DEFAULT_NOISE.get(self.base.family, 0.0)


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def metrics_of(r: RunResult) -> dict[str, Metric]:
    """Every comparable figure of a run, by a stable name (`test_bpc`, `valid`, `probe.latex_end.101-300`,
    `probe.latex_end.all`, `reach.latex_end`, `controlled.latex_end.31-100`, `effective_context`)."""
    out: dict[str, Metric] = {}

    def put(m: Metric) -> None:
        if _finite(m.value):
            out[m.name] = m

    for key in ("val_bpc", "test_bpc"):
        put(Metric(key, r.metrics.get(key, float("nan")), False, "bpc"))
    if r.samples.rated:  # the share of the judged, non-trivial samples
        put(Metric("valid", r.samples.rate("valid"), True, "rate"))
    p = r.probes or {}
    for section, prefix in (("real", "probe"), ("controlled", "controlled")):
        for probe, rows in (p.get(section) or {}).items():
            model = rows.get("model") or {}
            for cell in [*model.get("buckets", []), model.get("overall") or {}]:
                if cell and not cell.get("too_few") and cell.get("accuracy") is not None:
                    label = cell.get("bucket", "all")
                    put(Metric(f"{prefix}.{probe}.{label}", cell["accuracy"], True, "probe",
                               tuple(cell["ci95"]) if cell.get("ci95") else None))
            if prefix == "probe":
                labels = p.get("buckets") or []
                reach = model.get("reach")
                put(Metric(f"reach.{probe}", labels.index(reach) + 1 if reach in labels else 0, True, "context"))
    ctx = (p.get("context") or {}).get("model") or {}
    if ctx.get("effective_context") is not None:
        put(Metric("effective_context", ctx["effective_context"], True, "context", gated=False))
    return out


def compare(base: RunResult, new: RunResult) -> list[Delta]:
    a, b = metrics_of(base), metrics_of(new)
    return [Delta(k, a[k], b[k]) for k in a if k in b]


def check_comparable(base: RunResult, new: RunResult, allow_other_corpus: bool = False) -> list[str]:
    """UsageError when the runs measure different things; warning lines when their tools differ."""
    if base.corpus.get("content_hash") != new.corpus.get("content_hash") and not allow_other_corpus:
        raise UsageError(
            f"base {base.run_id} is on corpus {base.corpus.get('name')} ({str(base.corpus.get('content_hash'))[:12]}), "
            f"new {new.run_id} on {new.corpus.get('name')} ({str(new.corpus.get('content_hash'))[:12]}): their figures "
            "are not comparable (--allow-other-corpus to compare anyway)")
    a, b = base.corpus.get("split_hash"), new.corpus.get("split_hash")
    if a and b and a != b and not allow_other_corpus:
        raise UsageError(f"base {base.run_id} and new {new.run_id} split the corpus into different train/val/test "
                         "documents: their figures are not comparable (--allow-other-corpus to compare anyway)")
    diff = version_differences(base.versions, new.versions)
    return [f"made with different versions ({'; '.join(diff)}): a difference may come from these"] if diff else []


def parse_tolerances(specs: list[str]) -> dict[str, float]:
    """`metric=value` pairs; a metric may be a glob (`probe.latex_end.*=0.05`) or a family (`bpc=0.05`)."""
    out: dict[str, float] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise UsageError(f"--tolerance {spec!r}: write metric=value, e.g. test_bpc=0.05 or 'probe.*=0.1'")
        if not math.isfinite(out[name.strip()]):
            raise UsageError(f"--tolerance {spec!r}: the tolerance must be a finite number")
    return out


# --- the gate over seeds -----------------------------------------------------------------------------

#: With several baseline runs (seeds), a gated figure regresses when the new runs' mean is worse than the
#: baseline runs' mean by more than max(FLOOR, K_SD × sd × √(1/n + 1/m)): sd the baseline seeds' sample
#: standard deviation, n and m the baseline and new run counts. K_SD and the floors were chosen so that
#: fresh seeds of the same code pass (docs/measurements.md, "Gate from seeds": the false-alarm rate). The
#: floors are the smallest change the gate claims to see. A probe cell's is 0.15 because a cell at the
#: ceiling (100 % in all three baseline seeds, sd 0) still drops by 0.11 in about one fresh seed of ten on
#: the drill gate: a spread three seeds cannot show; a model that lost its memory falls by 0.7 or more.
K_SD = 4.0
FLOOR = {"bpc": 0.01, "rate": 0.05, "probe": 0.15, "context": 1.0}


@dataclass(frozen=True)
class GateRow:
    """One gated figure: the baseline's mean and spread, the new runs' mean, the tolerance and where it came
    from (`seeds`, `--tolerance`, or `default` with one baseline run), and whether it regressed."""

    name: str
    family: str
    higher_is_better: bool
    base_mean: float
    base_sd: float | None
    n: int
    new_mean: float | None  # None: missing (or not a finite number) in a new run
    m: int
    tolerance: float
    source: str
    regression: bool

    @property
    def worse_by(self) -> float | None:
        if self.new_mean is None:
            return None
        change = self.new_mean - self.base_mean
        return -change if self.higher_is_better else change

    def to_json(self) -> dict:
        return {"metric": self.name, "family": self.family, "base_mean": self.base_mean, "base_sd": self.base_sd,
                "baseline_runs": self.n, "new_mean": self.new_mean, "new_runs": self.m, "worse_by": self.worse_by,
                "tolerance": self.tolerance, "tolerance_from": self.source, "regression": self.regression}


def _mean_sd(values: list[float]) -> tuple[float, float | None]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _explicit(name: str, family: str, tolerances: dict[str, float]) -> float | None:
    for pattern, value in tolerances.items():
        if pattern == name or fnmatch.fnmatchcase(name, pattern):
            return value
    return tolerances.get(family)


def gate(bases: list[RunResult], news: list[RunResult], tolerances: dict[str, float] | None = None) -> list[GateRow]:
    """Every gated figure that every baseline run has, judged on the means (module docstring of this section:
    K_SD, FLOOR). With one baseline run the tolerance is the family's DEFAULT_TOLERANCE, and a probe cell must
    also leave the baseline's 95 % interval (with one new run; with several, its mean is judged alone); an
    explicit --tolerance always wins. A figure a new run lacks is a regression."""
    tolerances = tolerances or {}
    base_metrics = [metrics_of(r) for r in bases]
    new_metrics = [metrics_of(r) for r in news]
    n, m = len(bases), len(news)
    rows = []
    for name, first in base_metrics[0].items():
        if not first.gated or not all(name in b for b in base_metrics[1:]):
            continue
        base_mean, base_sd = _mean_sd([b[name].value for b in base_metrics])
        present = [x[name].value for x in new_metrics if name in x]
        new_mean = _mean_sd(present)[0] if len(present) == m else None
        explicit = _explicit(name, first.family, tolerances)
        if explicit is not None:
            tol, source = explicit, "--tolerance"
        elif base_sd is not None:
            tol = max(FLOOR.get(first.family, 0.0), K_SD * base_sd * math.sqrt(1 / n + 1 / m))
            source = "seeds"
        else:
            tol, source = DEFAULT_TOLERANCE.get(first.family, 0.0), "default"
        if new_mean is None:
            bad = True
        else:
            change = new_mean - base_mean
            worse = -change if first.higher_is_better else change
            bad = worse > tol + 1e-12
            if bad and source != "seeds" and first.family == "probe" and n == 1 and m == 1:
                bad = Delta(name, first, new_metrics[0][name]).beyond_noise
        rows.append(GateRow(name, first.family, first.higher_is_better, base_mean, base_sd, n, new_mean, m, tol,
                            source, bad))
    return rows


def check_same_configuration(runs: list[RunResult], what: str) -> None:
    """UsageError when `runs` (one side of the gate) are not seeds of one configuration."""
    first = configuration(runs[0])
    for r in runs[1:]:
        other = configuration(r)
        for key in first:
            if other[key] != first[key]:
                raise UsageError(f"{what}: {runs[0].run_id} and {r.run_id} differ in {key}: give the seeds of one "
                                 "configuration (one grid point) on each side")
