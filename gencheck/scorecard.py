"""The long-range-dependency scorecard: a data object with a rich view, no I/O.

Metrics are rows and the columns are the model, a baseline and the calibration (the same validator on
real held-out documents), so the table stays readable at 80 columns and a model's numbers sit beside
the floor (baseline) and the ceiling (real text).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.console import Group
from rich.table import Table
from rich.text import Text

from gencheck.validators.base import UNJUDGED

from .provenance import one_line
from .results import RunResult


def pct(x: float | None) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"


def num(x: float | None) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def closes(c: dict | None, key: str = "right") -> str:
    """`key` (right, stray) as a share of every counted `\\end` (`total`)."""
    if not c or not c.get("total") or key not in c:
        return "—"
    return f"{pct(c[key] / c['total'])} of {c['total']:,}"


def unjudged(s) -> str:
    """Unjudged texts as a count of all: they are in no percentage above them."""
    return f"{s.counts.get(UNJUDGED, 0):,} of {s.count:,}" if s.count else "—"


def per_k(c: dict | None) -> str:
    return f"{1000 * c['opened'] / c['chars']:.1f}" if c and c.get("chars") else "—"


@dataclass
class Scorecard:
    result: RunResult

    def table(self) -> Table:
        r, m = self.result, self.result.model
        s, c = r.samples, r.calibration
        maj = r.closers.get("majority_baseline") or {}
        t = Table(title=f"gencheck scorecard · {r.corpus['name']} ({r.corpus['content_hash'][:12]})",
                  caption=f"run {r.run_id} · {r.device} · seed {r.seed} · {r.wall_seconds:.0f}s wall")
        t.add_column("metric")
        t.add_column(f"{m['kind']} {m['layers']}×{m['hidden']}\n{m['params']:,} params", justify="right")
        t.add_column("baseline", justify="right")
        t.add_column(f"real text\n{c.count} test docs", justify="right")
        for split in ("val", "test"):  # the unigram is fitted on train and scored on each split, like the model
            t.add_row(f"{split} bits/char", num(r.metrics[f"{split}_bpc"]),
                      f"{num(r.metrics.get(f'unigram_{split}_bpc'))} unigram", "")
        t.add_row("valid (% of judged)", pct(s.rate("valid")), "", pct(c.rate("valid")))
        t.add_row("viable prefix", pct(s.rate("viable_prefix")), "", pct(c.rate("viable_prefix")))
        t.add_row("invalid", pct(s.rate("invalid")), "", pct(c.rate("invalid")))
        t.add_row("unjudged (not in %)", unjudged(s), "", unjudged(c))
        if r.corpus.get("format") == "latex":
            sampled, real = r.closers.get("samples"), r.closers.get("real")
            t.add_row("\\begin per 1k chars", per_k(sampled), "", per_k(real))
            t.add_row("\\end closes the open env", closes(sampled),
                      f"{closes(maj)}\n(always {maj.get('env') or '?'})", closes(real))
            t.add_row("stray \\end (none open)", closes(sampled, "stray"), "", closes(real, "stray"))
        return t

    def errors(self) -> Table | Text:
        s = self.result.samples
        if not s.top_errors:
            return Text("no findings in the samples")
        t = Table(title="top findings in samples", title_justify="left", show_edge=False)
        t.add_column("count", justify="right")
        t.add_column("kind")
        t.add_column("example", overflow="fold")
        for e in s.top_errors:
            t.add_row(str(e["count"]), e["kind"], e["example"])
        return t

    def __rich__(self) -> Group:
        tr = self.result.train
        note = Text(
            f"trained {tr['steps']:,} steps in {tr['seconds']:.0f}s at {tr['chars_per_s']:,.0f} chars/s; "
            f"samples ≤ {tr.get('sample_max_chars', '?')} chars at temperature {tr.get('temperature', '?')}. "
            "bits/char below the unigram baseline (fitted on train, scored on the same split) = the model "
            "learned something; valid/viable prefix/invalid are shares of the judged texts (unjudged: the "
            "checker timed out, crashed or was given too long a text); viable prefix = only still-open "
            "structures (a cut-off sample). \\end rows: shares of every \\end outside verbatim, N = that "
            "count; a stray \\end (nothing open) counts as a wrong close, for the baseline too.",
            style="dim")
        made = Text(f"made with {one_line(self.result.versions)}", style="dim") if self.result.versions else Text("")
        return Group(self.table(), self.errors(), note, made)
