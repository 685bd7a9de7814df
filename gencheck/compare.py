"""Comparing two runs: the figures both have, their deltas, whether a delta is beyond noise, and the
regressions a CI gate should fail on (`gencheck compare BASE NEW`, `gencheck check NEW --baseline BASE`).

Each compared figure is a `Metric` with a direction (is a rise good or bad?) and, where the run measured
one, its own noise: a probe cell's 95 % bootstrap interval. A delta is *beyond noise* when the new value
lies outside the base's interval (probe accuracies), or, for figures without an interval, when it exceeds
the declared default noise (`DEFAULT_NOISE`). `check` fails on a worsening larger than its tolerance
(`--tolerance metric=value`, else the default for the metric's family).
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass

from .fsutil import UsageError
from .provenance import version_differences
from .results import RunResult

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
    if r.samples.judged:
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


def missing(base: RunResult, new: RunResult) -> list[Metric]:
    """Gated figures the base has and the new run lacks or has as NaN or infinity: for a gate these are
    regressions, never figures to leave out (a run that measured nothing must not pass)."""
    b = metrics_of(new)
    return [m for k, m in metrics_of(base).items() if m.gated and k not in b]


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


def tolerance_for(d: Delta, tolerances: dict[str, float]) -> float:
    for pattern, value in tolerances.items():
        if pattern == d.name or fnmatch.fnmatchcase(d.name, pattern):
            return value
    if d.base.family in tolerances:
        return tolerances[d.base.family]
    return DEFAULT_TOLERANCE.get(d.base.family, 0.0)


def regressions(deltas: list[Delta], tolerances: dict[str, float]) -> list[tuple[Delta, float]]:
    """Deltas worse than their tolerance; a probe cell must also be beyond its noise (outside the base's
    interval), so a gate never fails on a difference the run itself cannot tell from chance."""
    out = []
    for d in deltas:
        if not d.base.gated:
            continue
        tol = tolerance_for(d, tolerances)
        if d.worse_by > tol + 1e-12 and (d.base.family != "probe" or d.beyond_noise):
            out.append((d, tol))
    return out
