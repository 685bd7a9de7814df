"""The long-range-dependency scorecard: a data object with a rich view, no I/O.

Metrics are rows and the columns are the model, a baseline and the calibration (the same validator on
real held-out documents), so the table stays readable at 80 columns and a model's numbers sit beside
the floor (baseline) and the ceiling (real text).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich import box
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


PROBE_TITLES = {
    "latex_end": "\\end{NAME}: the name after \\end{, teacher-forced",
    "latex_closer": "which closer: }, $ or \\]",
    "c_closer": "which closer: ), ] or }",
    "c_comment": "*/ ending a /* comment",
    "markdown_link": "link text ] or destination )",
    "markdown_fence": "the closing code fence",
}


#: Short headers for the distance buckets, so seven of them fit in 80 columns.
SHORT_BUCKET = {"1-10": "1-10", "11-30": "11-30", "31-100": "31-100", "101-300": "101-300",
                "301-1000": "301-1k", "1001-3000": "1k-3k", ">3000": ">3k"}


def short(label: str | None) -> str:
    return "—" if not label else SHORT_BUCKET.get(label, label)


def rate(x: float | None) -> str:
    """.60 (two digits, no leading zero): a probe accuracy."""
    if x is None:
        return "—"
    text = f"{x:.2f}"
    return text[1:] if text.startswith("0.") else text


def acc_cell(cell: dict) -> str:
    """Accuracy in percent over its 95 % interval; a cell with too few events shows only its count."""
    if cell["too_few"] or cell["accuracy"] is None:
        return f"n={cell['events']}" if cell["events"] else ""
    lo, hi = cell["ci95"]
    return f"{100 * cell['accuracy']:.0f}\n{100 * lo:.0f}–{100 * hi:.0f}"


def probe_table(title: str, rows: dict[str, dict], order: list[str], caption: str = "") -> Table | None:
    """Rows (model, n-grams, majority) × distance buckets with events; empty buckets hidden."""
    first = rows.get("model") or next(iter(rows.values()), None)
    if first is None:
        return None
    shown = [i for i, c in enumerate(first["buckets"]) if c["events"]]
    if not shown:
        return None
    maj = rows.get("majority") or {}
    if maj.get("trivial"):
        caption = (caption + " " if caption else "") + (f"no majority row: the answer is nearly always "
                   f"{maj.get('answer')!r}, so this probe asks when the closer comes, not which.")
    t = Table(title=title + " · % right, 95 % interval below", title_justify="left", caption=caption or None,
              caption_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    t.add_column("chars →", no_wrap=True)
    for i in shown:
        c = first["buckets"][i]
        t.add_column(f"{short(c['bucket'])}\nn={c['events']}", justify="right", no_wrap=True, min_width=6)
    t.add_column("reach", justify="right", no_wrap=True, min_width=6)
    for name in order:
        if name not in rows or (name == "majority" and maj.get("trivial")):
            continue
        r = rows[name]
        t.add_row(name, *[acc_cell(r["buckets"][i]) for i in shown], short(r.get("reach")))
    return t


@dataclass
class ProbesView:
    """The probes table: teacher-forced closer accuracy by opener→closer distance, with 95 % intervals
    over documents, for the model beside character n-grams and the majority answer; controlled-distance
    documents; effective context and bits/char per row; wrong closes in samples by distance."""

    probes: dict

    def tables(self) -> list:
        p, order = self.probes, self.probes["rows"]
        out: list = []
        for name, rows in p.get("real", {}).items():
            t = probe_table(f"probe {name} · {PROBE_TITLES.get(name, name)} · test split, by characters from "
                            "opener to closer", rows, order)
            if t is not None:
                out.append(t)
        info = p.get("controlled_info") or {}
        for name, rows in p.get("controlled", {}).items():
            t = probe_table(f"controlled documents · {name} · only the distance varies",
                            rows, order, caption=f"opener uniform among {len(info.get('openers', []))} "
                            f"(chance {rate(info.get('chance'))}): {', '.join(info.get('openers', []))}")
            if t is not None:
                out.append(t)
        out.append(self.summary())
        sampled = p.get("sampled") or {}
        cells = [c for c in sampled.get("buckets", []) if c["closes"]]
        if cells:
            t = Table(title=f"samples · wrong closes by distance ({', '.join(sampled['wrong_kinds'])})",
                      title_justify="left", pad_edge=False)
            t.add_column("")
            for c in cells:
                t.add_column(f"{short(c['bucket'])}\nn={c['closes']}", justify="right")
            t.add_row("error rate", *[pct(c["error_rate"]) if not c["too_few"] else f"{c['wrong']}/{c['closes']}"
                                      for c in cells])
            out.append(t)
        return out

    def summary(self) -> Table:
        p = self.probes
        t = Table(title="reach, effective context, bits/char", title_justify="left", pad_edge=False,
                  caption="reach: the farthest bucket with accuracy ≥ 2× chance and the interval above chance "
                          "(string probes: chance = the majority's accuracy). effective context: the fewest "
                          "characters N whose bits/char is within 1 % of full context.", caption_justify="left")
        t.add_column("row")
        real = list(p.get("real", {}))
        for name in real:
            t.add_column(f"reach\n{name}", justify="right")
        for name in p.get("controlled", {}):
            t.add_column(f"reach\ncontrolled", justify="right")
        t.add_column("effective\ncontext", justify="right")
        t.add_column("bits/char\nfull ctx", justify="right")
        for row in p["rows"]:
            cells = [short((p["real"][n].get(row) or {}).get("reach")) for n in real]
            cells += [short((rows.get(row) or {}).get("reach")) for rows in p.get("controlled", {}).values()]
            ctx = p.get("context", {}).get(row)
            eff = "—" if not ctx else (f"{ctx['effective_context']:,}" if ctx["effective_context"] else "> 3,000")
            cells += [eff, num(ctx["full_bpc"]) if ctx else ""]
            t.add_row(row, *cells)
        return t

    def __rich__(self) -> Group:
        return Group(*self.tables())


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
            "structures (a cut-off sample)."
            + (" \\end rows: shares of every \\end outside verbatim, N = that count; a stray \\end (nothing "
               "open) counts as a wrong close, for the baseline too." if self.result.corpus.get("format") == "latex"
               else ""),
            style="dim")
        made = Text(f"made with {one_line(self.result.versions)}", style="dim") if self.result.versions else Text("")
        parts = [self.table(), self.errors(), note]
        if self.result.probes:
            parts.append(ProbesView(self.result.probes))
        if self.result.stages:
            parts.append(Text("stages: " + " · ".join(f"{k} {v:.0f}s" for k, v in self.result.stages.items())
                              + f" (slowest: {max(self.result.stages, key=self.result.stages.get)})", style="dim"))
        return Group(*parts, made)


def _headline_cell(r: RunResult) -> dict | None:
    p = r.probes or {}
    head = p.get("headline")
    model = ((p.get("real") or {}).get(head) or {}).get("model") if head else None
    return (model or {}).get("overall")


@dataclass
class GridView:
    """One row per grid point: size, budget, speed, bits/char, valid %, the headline probe's accuracy with
    its interval, reach and effective context. The best value of a column is marked (*) only when it is
    beyond the noise of the runner-up (bits/char: 0.02; probe accuracy: its interval's lower bound above
    the runner-up)."""

    results: list[RunResult]

    def __rich__(self) -> Table:
        rs = self.results
        head = next(((r.probes or {}).get("headline") for r in rs if r.probes), None)
        t = Table(title=f"gencheck grid · {rs[0].corpus['name']} · {len(rs)} points · {head or 'no probe'} "
                        "accuracy over all distances, % (95 % interval)", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        for col in ("model\nparams", "chars\nseen", "wall\ns", "chars/s", "test\nbpc", "valid", "probe\nall",
                    "reach", "reach\nctrl", "eff.\nctx"):
            t.add_column(col, justify="left" if col.startswith("model") else "right", no_wrap=True)
        bpcs = [r.metrics.get("test_bpc", math.nan) for r in rs]
        accs = [(_headline_cell(r) or {}).get("accuracy") for r in rs]
        best_bpc = _best(bpcs, lower=True, beyond=lambda i, j: bpcs[j] - bpcs[i] > 0.02)

        def acc_beyond(i: int, j: int) -> bool:
            ci = (_headline_cell(rs[i]) or {}).get("ci95") or [0, 0]
            return accs[j] is None or ci[0] > accs[j]

        best_acc = _best(accs, lower=False, beyond=acc_beyond)
        for i, r in enumerate(rs):
            m, tr, p = r.model, r.train, r.probes or {}
            cell = _headline_cell(r) or {}
            acc = "—" if cell.get("accuracy") is None else (
                f"{100 * cell['accuracy']:.0f} ({100 * cell['ci95'][0]:.0f}–{100 * cell['ci95'][1]:.0f})")
            reach = ((p.get("real") or {}).get(head) or {}).get("model", {}).get("reach") if head else None
            ctrl = ((p.get("controlled") or {}).get(head) or {}).get("model", {}).get("reach") if head else None
            ctx = ((p.get("context") or {}).get("model") or {}).get("effective_context")
            t.add_row(f"{m['kind']} {m['layers']}×{m['hidden']}\n{m['params'] / 1e3:,.0f}k",
                      _si(tr["steps"] * tr["batch_size"] * tr["seq_len"]), f"{r.wall_seconds:.0f}",
                      _si(tr["chars_per_s"]), num(bpcs[i]) + ("*" if i == best_bpc else ""),
                      pct(r.samples.rate("valid")), acc + ("*" if i == best_acc else ""), short(reach), short(ctrl),
                      "—" if ctx is None else f"{ctx:,}")
        return t


def _si(x: float) -> str:
    return f"{x / 1e6:.1f}M" if x >= 1e6 else f"{x / 1e3:.0f}k"


def _best(values: list, lower: bool, beyond) -> int | None:
    """Index of the best value when it beats the runner-up beyond noise (`beyond(best, runner_up)`)."""
    ok = [i for i, v in enumerate(values) if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if len(ok) < 2:
        return None
    ranked = sorted(ok, key=lambda i: values[i], reverse=not lower)
    return ranked[0] if beyond(ranked[0], ranked[1]) else None
