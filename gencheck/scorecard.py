"""The long-range-dependency scorecard: a data object with a rich view, no I/O.

Metrics are rows and the columns are the model, a baseline and the calibration (the same validator on
real held-out documents), so the table stays readable at 80 columns and a model's numbers sit beside
the floor (baseline) and the ceiling (real text).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Sequence

from rich import box
from rich.console import Group
from rich.markup import escape
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


def trivial(s) -> str:
    """Trivial texts (nothing to judge) as a count of all, like unjudged: in no percentage. "—" for a result
    made before the verdict existed (its rates counted them as valid)."""
    return "—" if not s.count or s.trivial is None else f"{s.trivial:,} of {s.count:,}"


def parsed(s) -> str:
    """Share of the rated texts the format's parser parsed (C: pycparser), "—" where it was not counted."""
    return "—" if s.parse_rate is None else pct(s.parse_rate)


def per_k(c: dict | None) -> str:
    return f"{1000 * c.get('opened', 0) / c['chars']:.1f}" if c and c.get("chars") else "—"


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


ABOVE = "▲"  # the model row's mark: above every other row of the bucket in a paired comparison


FEW_NOTE = "n=N in a cell: fewer than 20 events there, too few for a rate; only the count is shown."


def acc_cell(cell: dict, mark: str = "") -> str:
    """Accuracy in percent over its 95 % interval; a cell with too few events shows only its count."""
    if cell.get("too_few", True) or cell.get("accuracy") is None:
        return f"n={cell['events']}" if cell.get("events") else ""
    return f"{100 * cell['accuracy']:.0f}{mark}" + (f"\n{interval(cell)}" if cell.get("ci95") else "")


def interval(cell: dict, sep: str = "–") -> str:
    lo, hi = cell["ci95"]
    return f"{100 * lo:.0f}{sep}{100 * hi:.0f}"


def cells_at(row: dict, shown: list[int]) -> list[dict]:
    """A row's bucket cells at the shown positions (an empty cell where the row has fewer buckets)."""
    buckets = row.get("buckets") or []
    return [buckets[i] if i < len(buckets) else {"too_few": True, "events": 0} for i in shown]


def above_note(model: dict) -> str:
    """The caption that explains the mark, with where it is (empty for results made before it existed)."""
    if "above_baselines" not in model:
        return ""
    where = escape(", ".join(short(b) for b in model["above_baselines"])) or "no bucket"
    return (f"{ABOVE} model above every other row, paired over units of text (the difference's 95 % interval "
            f"above 0): {where}.")


BEYOND = "†"  # a bucket longer than any training example (drills)


def beyond_note(beyond: set[str], d_train: int | None) -> str:
    return (f"{BEYOND} longer than any training example (the drill trains on distances up to {d_train:,})."
            if beyond and d_train else "")


def probe_table(title: str, rows: dict[str, dict], order: list[str], caption: str = "",
                beyond: set[str] = frozenset(), blind: set[str] = frozenset()) -> Table | None:
    """Rows (model, n-grams, majority) × distance buckets with events; empty buckets hidden; `beyond`:
    buckets marked as longer than any training example; `blind`: buckets beyond the model's context limit
    (its cells marked, `blind_buckets`)."""
    first = rows.get("model") or next(iter(rows.values()), None)
    if first is None:
        return None
    shown = [i for i, c in enumerate(first["buckets"]) if c["events"]]
    if not shown:
        return None
    maj = rows.get("majority") or {}
    if maj.get("trivial"):
        caption = (caption + " " if caption else "") + (f"no majority row: the answer is nearly always "
                   f"{escape(repr(maj.get('answer')))}, so this probe asks when the closer comes, not which.")
    model = rows.get("model") or {}
    above, note = set(model.get("above_baselines") or ()), above_note(model)
    if note:
        caption = (caption + "\n" if caption else "") + note
    blind = {first["buckets"][i]["bucket"] for i in shown} & set(blind)
    if blind and "model" in rows:
        caption = (caption + "\n" if caption else "") + BLIND_NOTE
    if any(first["buckets"][i].get("too_few") and first["buckets"][i].get("events") for i in shown):
        caption = (caption + "\n" if caption else "") + FEW_NOTE
    t = Table(title=title + " · % right, 95 % interval below", title_justify="left", caption=caption or None,
              caption_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    t.add_column("chars →", no_wrap=True)
    for i in shown:
        c = first["buckets"][i]
        mark = BEYOND if c["bucket"] in beyond else ""
        t.add_column(f"{escape(short(c['bucket']))}{mark}\nn={c['events']}", justify="right", no_wrap=True,
                     min_width=6)
    t.add_column("reach", justify="right", no_wrap=True, min_width=6)
    for name in order:
        if name not in rows or (name == "majority" and maj.get("trivial")):
            continue
        r = rows[name]
        cells = cells_at(r, shown)
        marks = [(ABOVE if name == "model" and c.get("bucket") in above else "")
                 + (BLIND if name == "model" and c.get("bucket") in blind else "") for c in cells]
        t.add_row(escape(name), *[acc_cell(c, m) for c, m in zip(cells, marks)], escape(short(r.get("reach"))))
    return t


def full_width(t: Table) -> Group:
    """A table whose title and caption wrap at the terminal's width, not the table's: a narrow table of
    buckets folded its caption into eight short lines (#37, `COLUMNS=120`)."""
    title, caption = t.title, t.caption
    t.title = t.caption = None
    parts = ([Text.from_markup(title, style="bold")] if title else []) + [t]
    return Group(*parts, *([Text.from_markup(caption, style="dim")] if caption else []))


@dataclass
class ProbesView:
    """The probes table: teacher-forced closer accuracy by opener→closer distance, with 95 % intervals
    over units of text, for the model beside character n-grams and the majority answer; controlled-distance
    documents; effective context and bits/char per row; wrong closes in samples by distance."""

    probes: dict
    model: dict = field(default_factory=dict)  # results.json `model`: its context limit marks blind buckets

    def tables(self) -> list:
        p, order = self.probes, self.probes.get("rows") or []
        blind = blind_buckets(self.model, p.get("buckets") or [])
        out: list = []
        drill = p.get("drill") or {}
        beyond = set(drill.get("beyond_training") or ())
        for name, rows in p.get("real", {}).items():
            is_head = name == p.get("headline")
            t = probe_table(f"probe {escape(name)} · {escape(PROBE_TITLES.get(name, name))} · test split, by "
                            "characters from opener to closer", rows, order,
                            caption=beyond_note(beyond, drill.get("d_train")) if is_head else "",
                            beyond=beyond if is_head else frozenset(), blind=blind)
            if t is not None:
                out.append(full_width(t))
            if is_head and drill.get("by_depth"):
                t = probe_table(f"probe {escape(name)} · the model by nesting depth (1 = outermost open) × distance",
                                {f"depth {d}": r for d, r in drill["by_depth"].items()},
                                [f"depth {d}" for d in drill["by_depth"]], beyond=beyond)
                if t is not None:
                    out.append(full_width(t))
        info = p.get("controlled_info") or {}
        for name, rows in p.get("controlled", {}).items():
            t = probe_table(f"controlled documents · {escape(name)} · only the distance varies",
                            rows, order, caption=f"opener uniform among {len(info.get('openers', []))} "
                            f"(chance {rate(info.get('chance'))}): {escape(', '.join(info.get('openers', [])))}",
                            blind=blind)
            if t is not None:
                out.append(full_width(t))
        out.append(full_width(self.summary()))
        sampled = p.get("sampled") or {}
        cells = [c for c in sampled.get("buckets", []) if c["closes"]]
        if cells:
            t = Table(title=f"samples · wrong closes by distance ({escape(', '.join(sampled.get('wrong_kinds', [])))})",
                      title_justify="left", pad_edge=False)
            t.add_column("")
            for c in cells:
                t.add_column(f"{escape(short(c['bucket']))}\nn={c['closes']}", justify="right")
            t.add_row("error rate", *[pct(c.get("error_rate")) if not c["too_few"] else f"{c['wrong']}/{c['closes']}"
                                      for c in cells])
            out.append(t)
        return out

    def summary(self) -> Table:
        p = self.probes
        t = Table(title="reach, effective context, bits/char", title_justify="left", pad_edge=False,
                  caption="reach: the end of the unbroken run of buckets, from the nearest, whose accuracy is above "
                          "chance beyond noise (one-sided bootstrap over units of text, Holm-corrected; chance = the "
                          "best constant answer in the bucket, at least 1/K). effective context: the fewest "
                          "characters N whose bits/char is within 1 % of full context.", caption_justify="left")
        t.add_column("row")
        real = list(p.get("real", {}))
        for name in real:
            t.add_column(f"reach\n{escape(name)}", justify="right")
        for name in p.get("controlled", {}):
            t.add_column("reach\ncontrolled", justify="right")
        t.add_column("effective\ncontext", justify="right")
        t.add_column("bits/char\nfull ctx", justify="right")
        for row in p.get("rows") or []:
            cells = [escape(short((p["real"][n].get(row) or {}).get("reach"))) for n in real]
            cells += [escape(short((rows.get(row) or {}).get("reach"))) for rows in p.get("controlled", {}).values()]
            ctx = p.get("context", {}).get(row)
            eff = "—" if not ctx else (f"{ctx['effective_context']:,}" if ctx.get("effective_context") else "> 3,000")
            cells += [eff, num(ctx.get("full_bpc")) if ctx else ""]
            t.add_row(escape(row), *cells)
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
        t = Table(title=f"gencheck scorecard · {escape(r.corpus['name'])} ({escape(r.corpus['content_hash'][:12])})",
                  caption=escape(f"run {r.run_id} · {r.device} · {r.train.get('precision', 'fp32')} · seed {r.seed} · "
                                 f"{r.wall_seconds:.0f}s wall" +
                                 (f"\n{r.train['shape_note']}" if r.train.get("shape_note") else "") +
                                 warm_note(r.train, r.corpus["name"])))
        t.add_column("metric")
        t.add_column(f"{model_label(m)}\n{m['params']:,} params", justify="right")
        t.add_column("baseline", justify="right")
        t.add_column(f"real text\n{c.count} test docs", justify="right")
        for split in ("val", "test"):  # the unigram is fitted on train and scored on each split, like the model
            t.add_row(f"{split} bits/char", num(r.metrics.get(f"{split}_bpc")),
                      f"{num(r.metrics.get(f'unigram_{split}_bpc'))} unigram", "")
        t.add_row("valid (% of judged)", pct(s.rate("valid")), "", pct(c.rate("valid")))
        t.add_row("viable prefix", pct(s.rate("viable_prefix")), "", pct(c.rate("viable_prefix")))
        t.add_row("invalid", pct(s.rate("invalid")), "", pct(c.rate("invalid")))
        if s.parses is not None or c.parses is not None:  # C: pycparser's parse, beside the lexer's verdict
            t.add_row("parses (pycparser)", parsed(s), "", parsed(c))
        t.add_row("trivial (not in %)", trivial(s), "", trivial(c))
        t.add_row("unjudged (not in %)", unjudged(s), "", unjudged(c))
        for row in toolchain_rows(r.toolchain):
            t.add_row(*row)
        if r.corpus.get("format") == "latex":
            sampled, real = r.closers.get("samples"), r.closers.get("real")
            t.add_row("\\begin per 1k chars", per_k(sampled), "", per_k(real))
            t.add_row("\\end closes the open env", closes(sampled),
                      f"{closes(maj)}\n(always {escape(maj.get('env') or '?')})", closes(real))
            t.add_row("stray \\end (none open)", closes(sampled, "stray"), "", closes(real, "stray"))
        return t

    def _judge_note(self) -> str:
        tc = self.result.toolchain
        if not tc.get("available"):
            return f"{tc.get('column', 'compiles')} n/a: no {tc.get('name')} on the machine that made the run."
        what = ("renders as written: mistune and markdown-it build the same block structure and the validator "
                "says valid" if tc.get("column") == "renders" else f"compiles: {tc.get('name')} accepts the text")
        return (f"{what}, on the first {tc.get('n')} samples and test documents ({tc.get('version') or '?'}); "
                "a judge's timeout is in no share.")

    def errors(self) -> Table | Text:
        s = self.result.samples
        if not s.top_errors:
            return Text("no findings in the samples")
        t = Table(title="top findings in samples", title_justify="left", show_edge=False)
        t.add_column("count", justify="right")
        t.add_column("kind")
        t.add_column("example", overflow="fold")
        for e in s.top_errors:
            t.add_row(str(e["count"]), escape(e["kind"]), escape(e["example"]))
        return t

    def __rich__(self) -> Group:
        tr = self.result.train
        note = Text(
            f"trained {tr['steps']:,} steps in {tr['seconds']:.0f}s at {tr['chars_per_s']:,.0f} chars/s"
            + (f" (+{tr['evolution_seconds']:.0f}s looking at the model, in the train stage's time)"
               if tr.get("evolution_seconds") else "") + "; "
            f"samples ≤ {tr.get('sample_max_chars', '?')} chars at temperature {tr.get('temperature', '?')}. "
            "bits/char below the unigram baseline (fitted on train, scored on the same split) = the model "
            "learned something; valid/viable prefix/invalid are shares of the judged texts, for samples and "
            "real text alike: neither trivial (no error, but nothing to judge: empty, only comments, no "
            "structure of the format, or under 20 non-space characters) nor unjudged (the checker timed out, "
            "crashed or was given too long a text); viable prefix = only still-open structures (a cut-off "
            "sample)."
            + (" parses: the share of the same texts pycparser parses, beside the verdict (which is the lexer's): "
               "macros and types from headers it cannot see make it fail on some real code, so the real-text "
               "column is its ceiling." if self.result.samples.parses is not None else "")
            + (f" {self._judge_note()}" if self.result.toolchain else "")
            + (" \\end rows: shares of every \\end outside verbatim, N = that count; a stray \\end (nothing "
               "open) counts as a wrong close, for the baseline too." if self.result.corpus.get("format") == "latex"
               else ""),
            style="dim")
        made = Text(f"made with {one_line(self.result.versions)}", style="dim") if self.result.versions else Text("")
        parts = [self.table(), self.errors(), note]
        if self.result.probes:
            parts.append(ProbesView(self.result.probes, self.result.model or {}))
        if self.result.stages:
            parts.append(Text("stages: " + " · ".join(f"{k} {v:.0f}s" for k, v in self.result.stages.items())
                              + f" (slowest: {max(self.result.stages, key=self.result.stages.get)})", style="dim"))
        return Group(*parts, made)


def _share(counts: dict | None, key: str, of: str = "judged") -> str:
    """`key` as a share of `of` (the texts the judge gave an opinion on), with that count: 12% of 64."""
    if not counts or not counts.get(of):
        return "—"
    return f"{pct(counts.get(key, 0) / counts[of])} of {counts[of]}"


def toolchain_rows(tc: dict | None) -> list[tuple[str, str, str, str]]:
    """Scorecard rows (metric, model, baseline, real text) for the toolchain judge: `compiles` (LaTeX, C)
    or `renders as written` (Markdown), on the first N samples and test documents; n/a when the tool is
    absent; none when the format has no judge."""
    if not tc:
        return []
    first = f"first {tc.get('n', '?')}"
    name, column = escape(tc.get("name", "?")), escape(tc.get("column", "compiles"))
    if not tc.get("available"):
        return [(f"{column} ({name})", "n/a", f"no {name} here", "n/a")]
    s, r = tc.get("samples"), tc.get("real")
    if column == "renders":
        return [(f"renders as written ({name}), {first}", _share(s, "both"), "", _share(r, "both"))]
    rows = [(f"compiles ({name}), {first}", _share(s, "ok"), "", _share(r, "ok"))]
    if tc.get("name") == "pdflatex":
        rows.append(("compiles, undefined \\cs tolerated", _share(s, "tolerant_ok"), "", _share(r, "tolerant_ok")))
    if tc.get("name") == "gcc" and s and "parses" in s:  # pycparser's verdict beside gcc's (C only)
        rows.append((f"parses (pycparser), {first}", _share(s, "parses", "parses_of"), "",
                     _share(r, "parses", "parses_of")))
    return rows


def _headline_cell(r: RunResult) -> dict | None:
    p = r.probes or {}
    head = p.get("headline")
    model = ((p.get("real") or {}).get(head) or {}).get("model") if head else None
    return (model or {}).get("overall")


def _headline_summary(r: RunResult, head: str | None) -> tuple[str, str | None, str | None, int | None]:
    """The model's headline accuracy over all distances ("45 (40–50)"), reach on real and controlled
    documents, and effective context: the columns a grid or a markdown report has per run."""
    p = r.probes or {}
    cell = _headline_cell(r) or {}
    acc = "—" if cell.get("accuracy") is None else (
        f"{100 * cell['accuracy']:.0f}" + (f" ({interval(cell)})" if cell.get("ci95") else ""))
    reach = ((p.get("real") or {}).get(head) or {}).get("model", {}).get("reach") if head else None
    ctrl = ((p.get("controlled") or {}).get(head) or {}).get("model", {}).get("reach") if head else None
    return acc, reach, ctrl, ((p.get("context") or {}).get("model") or {}).get("effective_context")


FORMED_NOTE = ("memory formed: characters seen by which the headline probe stayed above chance beyond noise in "
               "every bucket from 31 to 1,000 characters (evolution looks; chance on a drill is 1/K and the best "
               "constant answer, on real text the 20-gram on the looks' slice); with seeds, the mean over the "
               "seeds where it formed, and how many did.")


def formed_cell(runs: list[RunResult]) -> str:
    """The grid's memory-formed cell for one point (its seeds): "6.5M", "7.1M ± 0.4M (3/3)", "— (0/3)"."""
    from .evolution import formation_chars

    chars = [formation_chars(r.train.get("memory_formed")) for r in runs]
    got = [c for c in chars if c is not None]
    if len(runs) == 1:
        return si_chars(got[0]) if got else "—"
    if not got:
        return f"— (0/{len(runs)})"
    mean = sum(got) / len(got)
    sd = (sum((c - mean) ** 2 for c in got) / (len(got) - 1)) ** 0.5 if len(got) > 1 else 0.0
    return f"{si_chars(mean)} ± {si_chars(sd)} ({len(got)}/{len(runs)})"


GRID_STAR_NOTE = ("* the column's best point, marked only beyond the runner-up's noise (test bits/char: 0.02 apart; "
                  "probe accuracy: its 95 % interval's low end above the runner-up).")


@dataclass
class GridView:
    """One row per grid point: size, budget, speed, bits/char, valid %, the headline probe's accuracy with
    its interval, reach and effective context. The best value of a column is marked (*) only when it is
    beyond the noise of the runner-up (bits/char: 0.02; probe accuracy: its interval's lower bound above
    the runner-up)."""

    results: list[RunResult]

    def __rich__(self) -> Table:
        groups = seed_groups(self.results)
        main = self._seeded(groups) if any(len(g) > 1 for g in groups) else self._points()
        by_bucket = grid_bucket_table(groups)
        return main if by_bucket is None else Group(main, by_bucket)

    def _points(self) -> Table:
        rs = self.results
        head = next(((r.probes or {}).get("headline") for r in rs if r.probes), None)
        t = Table(title=f"gencheck grid · {escape(rs[0].corpus['name'])} · {len(rs)} points · "
                        f"{escape(head or 'no probe')} accuracy over all distances, % (95 % interval)", title_justify="left",
                  caption=GRID_STAR_NOTE, caption_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        formed = any("memory_formed" in r.train for r in rs)
        for col in ("model\nparams · ctx", "FLOPs\n/char", "chars\nseen", "wall\ns", "chars/s", "test\nbpc",
                    "valid", "probe\nall", "reach", "reach\nctrl", "eff.\nctx", *(["memory\nformed"] if formed else [])):
            t.add_column(col, justify="left" if col.startswith("model") else "right", no_wrap=True)
        bpcs = [r.metrics.get("test_bpc", math.nan) for r in rs]
        accs = [(_headline_cell(r) or {}).get("accuracy") for r in rs]
        best_bpc = _best(bpcs, lower=True, beyond=lambda i, j: bpcs[j] - bpcs[i] > 0.02)

        def acc_beyond(i: int, j: int) -> bool:
            ci = (_headline_cell(rs[i]) or {}).get("ci95") or [0, 0]
            return accs[j] is None or ci[0] > accs[j]

        best_acc = _best(accs, lower=False, beyond=acc_beyond)
        for i, r in enumerate(rs):
            m, tr = r.model, r.train
            acc, reach, ctrl, ctx = _headline_summary(r, head)
            t.add_row(*model_cost_cells(m), _chars_seen(tr), f"{r.wall_seconds:.0f}",
                      si_chars(tr["chars_per_s"]), num(bpcs[i]) + ("*" if i == best_bpc else ""),
                      pct(r.samples.rate("valid")), acc + ("*" if i == best_acc else ""), escape(short(reach)),
                      escape(short(ctrl)),
                      "—" if ctx is None else f"{ctx:,}", *([formed_cell([r])] if formed else []))
        if formed:
            t.caption = f"{t.caption}\n{FORMED_NOTE}"
            t.caption_justify = "left"
        return t


    def _seeded(self, groups: list[list[RunResult]]) -> Table:
        """Points repeated over seeds (--seeds): mean ± standard deviation over the seeds of each point; a
        best value is marked only when its distance to the runner-up exceeds both spreads together."""
        rs = self.results
        head = next(((r.probes or {}).get("headline") for r in rs if r.probes), None)
        t = Table(title=f"gencheck grid · {escape(rs[0].corpus['name'])} · {len(groups)} points × seeds · mean ± sd "
                        f"over seeds ({seeds_varied(groups)}) · {escape(head or 'no probe')} accuracy over all "
                        "distances, %", title_justify="left", caption=GRID_STAR_NOTE + " With seeds: beyond both spreads.",
                  caption_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        formed = any("memory_formed" in r.train for r in rs)
        for col in ("model\nparams · ctx", "FLOPs\n/char", "seeds", "chars\nseen", "chars/s", "test\nbpc",
                    "valid", "probe\nall", "reach", "eff.\nctx", *(["memory\nformed"] if formed else [])):
            t.add_column(col, justify="left" if col.startswith("model") else "right", no_wrap=True)
        bpc = [_mean_sd([r.metrics.get("test_bpc") for r in g]) for g in groups]
        acc = [_mean_sd([(_headline_cell(r) or {}).get("accuracy") for r in g]) for g in groups]
        valid = [_mean_sd([r.samples.rate("valid") for r in g]) for g in groups]

        def apart(stats):
            return lambda i, j: abs(stats[i][0] - stats[j][0]) > stats[i][1] + stats[j][1]

        best_bpc = _best([b[0] for b in bpc], lower=True, beyond=apart(bpc))
        best_acc = _best([a[0] for a in acc], lower=False, beyond=apart(acc))
        for i, g in enumerate(groups):
            r0 = g[0]
            m, tr = r0.model, r0.train
            reach = sorted({short(((r.probes or {}).get("real") or {}).get(head, {}).get("model", {}).get("reach"))
                            for r in g}) if head else ["—"]
            ctx = sorted({str((((r.probes or {}).get("context") or {}).get("model") or {}).get("effective_context", "—"))
                          for r in g})
            t.add_row(*model_cost_cells(m), str(len(g)), _chars_seen(tr),
                      si_chars(sum(r.train["chars_per_s"] for r in g) / len(g)),
                      _pm(bpc[i], "{:.3f}") + ("*" if i == best_bpc else ""), _pm(valid[i], "{:.0f}", 100),
                      _pm(acc[i], "{:.0f}", 100) + ("*" if i == best_acc else ""), escape("/".join(reach)),
                      escape("/".join(ctx)), *([formed_cell(g)] if formed else []))
        if formed:
            t.caption = f"{t.caption}\n{FORMED_NOTE}"
            t.caption_justify = "left"
        return t


def cost_cells(m: dict) -> tuple[str, str]:
    """FLOPs per character and context limit of a results.json `model` ("—" for results made before them;
    "∞" for a recurrent state, which has no limit)."""
    flops = m.get("flops_per_char")
    if "context_limit" not in m:
        return (si_chars(flops) if flops else "—"), "—"
    limit = m["context_limit"]
    return (si_chars(flops) if flops else "—"), ("∞" if limit is None else f"{limit:,}")


def model_cost_cells(m: dict) -> tuple[str, str]:
    """The grid's model cell (label, parameters and context limit) and its FLOPs/char cell."""
    flops, limit = cost_cells(m)
    return f"{model_label(m)}\n{m['params'] / 1e3:,.0f}k · {limit}", flops


BLIND = "‡"  # a bucket whose every distance is beyond the model's context limit


def blind_buckets(m: dict, labels: Sequence[str]) -> set[str]:
    """The distance buckets a model cannot see across: every distance in them exceeds its context limit,
    so the opener is out of sight and chance is its ceiling there (not a failure of memory)."""
    from .stats import buckets_beyond

    limit = m.get("context_limit")
    return set() if limit is None else set(labels) & set(buckets_beyond(limit))


BLIND_NOTE = (f"{BLIND} every distance of the bucket is beyond the model's context limit: the opener is out of its "
              "sight, so chance is its ceiling there.")


def _headline_row(r: RunResult, row: str = "model") -> dict:
    """One row of the run's headline probe on real text ({} when the run has none)."""
    p = r.probes or {}
    head = p.get("headline")
    return (((p.get("real") or {}).get(head) or {}).get(row) or {}) if head else {}


def _bucket_cells(r: RunResult, row: str = "model") -> list[dict]:
    return _headline_row(r, row).get("buckets") or []


def _above_baselines(r: RunResult) -> set[str] | None:
    """The buckets where the run's model is above every other row of the headline probe (paired), or None
    for results made before that comparison existed."""
    model = _headline_row(r)
    return set(model["above_baselines"]) if "above_baselines" in model else None


def grid_bucket_table(groups: list[list[RunResult]]) -> Table | None:
    """The headline probe by distance bucket, one row per grid point (mean ± sd over seeds where a point
    has several), then the 20-gram and majority rows of the first point (the same corpus and events for
    every point): how the points' closer accuracy falls with distance, beside the floors. Buckets where no
    point has enough events are left out; a column's best is starred only beyond the runner-up's noise
    (its interval's lower bound above the runner-up; with seeds, apart by both spreads)."""
    if not groups or not groups[0]:
        return None
    first = groups[0][0]
    head = (first.probes or {}).get("headline")
    cells = [[_bucket_cells(r) for r in g] for g in groups]  # per point, per seed: the model's bucket cells
    cells0 = cells[0][0]

    def usable(cs: list[dict], i: int) -> dict | None:
        return cs[i] if len(cs) > i and cs[i]["events"] and not cs[i]["too_few"] else None

    shown = [i for i in range(len(cells0)) if any(usable(cs, i) for g in cells for cs in g)]
    if not head or not shown:
        return None
    seeded = any(len(g) > 1 for g in groups)
    aboves = [[_above_baselines(r) for r in g] for g in groups]
    compared = all(a is not None for g in aboves for a in g)
    caption = "* the column's best point, beyond noise." + (
        f" {ABOVE} above every baseline row of its own run, paired over units of text"
        + (" (in every seed)." if seeded else ".") if compared else "")
    t = Table(title=f"{escape(head)} by distance from opener to closer · % right, "
                    + ("mean ± sd over seeds" if seeded else "95 % interval below"),
              title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
              caption=caption, caption_justify="left")
    t.add_column("model", no_wrap=True)
    for i in shown:
        t.add_column(f"{escape(short(cells0[i]['bucket']))}\nn={cells0[i]['events']}", justify="right", no_wrap=True)
    stats = [[_mean_sd([(usable(cs, i) or {}).get("accuracy") for cs in g]) for i in shown] for g in cells]
    best: list[int | None] = []
    for col, i in enumerate(shown):
        means = [st[col][0] for st in stats]

        def beyond(a: int, b: int, col: int = col, i: int = i, means: list = means) -> bool:
            if seeded:
                return abs(stats[a][col][0] - stats[b][col][0]) > stats[a][col][1] + stats[b][col][1]
            return ((usable(cells[a][0], i) or {}).get("ci95") or [0, 0])[0] > means[b]

        best.append(_best(means, lower=False, beyond=beyond))
    blind_any = False
    for k, g in enumerate(groups):
        row = [model_label(g[0].model)]
        blind = blind_buckets(g[0].model, [cells0[i]["bucket"] for i in shown])
        blind_any |= bool(blind)
        for col, i in enumerate(shown):
            star = "*" if best[col] == k else ""
            star += BLIND if cells0[i]["bucket"] in blind else ""
            if compared and all(cells0[i]["bucket"] in a for a in aboves[k]):  # type: ignore[operator]
                star += ABOVE
            if seeded:
                row.append(_pm(stats[k][col], "{:.0f}", 100) + star)
            else:
                cs = cells[k][0]
                row.append(acc_cell(cs[i] if len(cs) > i else {"too_few": True, "events": 0}, star))
        t.add_row(*row)
    for base in ("20-gram", "majority"):
        cs = _bucket_cells(first, base)
        if cs:
            t.add_row(f"[dim]{base}[/]", *[f"[dim]{acc_cell(c)}[/]" for c in cells_at({"buckets": cs}, shown)])
    if blind_any:
        t.caption = f"{t.caption}\n{BLIND_NOTE}"
    return t


def seed_groups(results: list[RunResult]) -> list[list[RunResult]]:
    """Results that differ only in their seeds (results.configuration), in first-seen order (one group per
    grid point)."""
    from .results import configuration

    groups: dict[str, list[RunResult]] = {}
    for r in results:
        groups.setdefault(json.dumps(configuration(r), sort_keys=True, default=str), []).append(r)
    return list(groups.values())


def seeds_varied(groups: list[list[RunResult]]) -> str:
    """What the seeds of the groups varied, for a table's title: initialisation, data order or both (runs
    before --data-seeds record neither seed: their seed varied both)."""
    init = any(len({r.train.get("seed", r.seed) for r in g}) > 1 for g in groups)
    known = all("data_seed" in r.train for g in groups for r in g)
    data = any(len({r.train.get("data_seed") for r in g}) > 1 for g in groups) if known else init
    if init and data:
        return "initialisation and data order varied" if known else "initialisation and data order varied together"
    return "initialisation varied, data order fixed" if init else "data order varied, initialisation fixed"


def _mean_sd(values: list) -> tuple[float, float]:
    """Mean and sample standard deviation of the values that exist (nan, 0 when there are none)."""
    xs = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not xs:
        return math.nan, 0.0
    mean = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return mean, sd


def _pm(stat: tuple[float, float], fmt: str, scale: float = 1.0) -> str:
    mean, sd = stat
    return "—" if math.isnan(mean) else f"{fmt.format(mean * scale)} ±{fmt.format(sd * scale)}"


def warm_note(train: dict, corpus: str) -> str:
    """`warm start: the first 8.0M characters from latex-drill, then 9.7M from latex` (a new line), or ""."""
    w = train.get("warm_start")
    if not w:
        return ""
    total = train.get("steps", 0) * train.get("batch_size", 0) * train.get("seq_len", 0)
    rest = f", then {si_chars(total - w['chars'])} from {corpus}" if total > w["chars"] else ""
    look = w.get("look") or {}
    cells = [f"{b} {100 * right / n:.0f}%" for b, (n, right) in (look.get("probe_buckets") or {}).items() if n]
    seen = f"\n{look['probe']} on {w['corpus']} at the switch: {', '.join(cells)}" if cells else ""
    return f"\nwarm start: the first {si_chars(w['chars'])} characters from {w['corpus']}{rest}{seen}"


def si_chars(x: float) -> str:
    """Characters as 6.8M or 82k (grid, markdown and evolution tables)."""
    return f"{x / 1e6:.1f}M" if x >= 1e6 else f"{x / 1e3:.0f}k"


def _best(values: list, lower: bool, beyond) -> int | None:
    """Index of the best value when it beats the runner-up beyond noise (`beyond(best, runner_up)`)."""
    ok = [i for i, v in enumerate(values) if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if len(ok) < 2:
        return None
    ranked = sorted(ok, key=lambda i: values[i], reverse=not lower)
    return ranked[0] if beyond(ranked[0], ranked[1]) else None


def formed_caption(formed: dict, against: dict | None = None) -> str:
    """"memory formed …, by distance: 31-100 at 6.5M, …": against chance (drills) or a reference row."""
    what = ("memory formed (headline probe above chance beyond noise from then on)" if not against else
            f"memory left the {against.get('row')} (headline probe above the {against.get('row')}'s rate on the looks' "
            f"slice of test, {si_chars(against.get('chars') or 0)} characters, beyond noise from then on)")
    return what + ", by distance: " + ", ".join(f"{k} at {si_chars(v)}" if v is not None else f"{k} not yet"
                                               for k, v in formed.items())


@dataclass
class EvolutionView:
    """What the model could do at about ten log-spaced steps (gencheck.evolution): the start of a sample,
    val bits/char, valid % of a few short samples and the headline probe on a slice of test."""

    rows: list
    seconds: float = 0.0
    train_seconds: float = 0.0
    # real text: results.json's train.memory_formed and train.formed_against (known only after the probes)
    formed: dict | None = None
    against: dict | None = None

    def __rich__(self) -> Table:
        probe = next((r.get("probe") for r in self.rows if r.get("probe")), None)
        cost = (f" · {self.seconds:.0f}s to look, {100 * self.seconds / self.train_seconds:.0f} % of training"
                if self.train_seconds else "")
        from .evolution import memory_formed

        formed = self.formed if self.against else memory_formed(self.rows)
        caption = (formed_caption(formed, self.against)) if formed else None
        t = Table(title=f"evolution during training · sample at a fixed seed{cost}", title_justify="left",
                  caption=caption, caption_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)
        phases = any("trained_on" in r for r in self.rows)  # a warm start: say what came just before each look
        for col in ("step", "chars", *(("trained on",) if phases else ()), "val\nbpc", "valid",
                    escape(probe or "probe"), "sample (⏎ = new line)"):
            t.add_column(col, justify="left" if col.startswith(("sample", "trained")) else "right", no_wrap=True)
        from .evolution import table_rows

        for row, cells in zip(self.rows, table_rows(self.rows)):
            on = (escape(str(row.get("trained_on", ""))),) if phases else ()
            t.add_row(*cells[:2], *on, *cells[2:-1], escape(cells[-1]))
        return t


# --- markdown ----------------------------------------------------------------------------------------

def markdown_report(results: list[RunResult]) -> str:
    """`gencheck report --markdown`: one table of the runs (a row each), then each run's headline probe by
    distance, as GitHub markdown to paste into a README or a pull-request comment."""
    lines = ["| run | corpus | model | params | FLOPs/char | context limit | chars seen | train s | precision | "
             "test bpc | valid | headline, all distances | reach | reach (controlled) | effective context |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        m, tr, p = r.model, r.train, r.probes or {}
        head = p.get("headline")
        acc, reach, ctrl, ctx = _headline_summary(r, head)
        acc = acc if acc == "—" else f"{head} {acc.replace(' (', ' % (', 1)}"
        secs = tr.get("seconds")
        lines.append(f"| {r.run_id} | {r.corpus['name']} | {m['kind']} {m['layers']}×{m['hidden']} | "
                     f"{m['params']:,} | {' | '.join(cost_cells(m))} | {_chars_seen(tr)} | "
                     f"{'—' if secs is None else f'{secs:.0f}'} | "
                     f"{tr.get('precision', 'fp32')} | {num(r.metrics.get('test_bpc', math.nan))} | "
                     f"{pct(r.samples.rate('valid'))} | {acc} | {short(reach)} | {short(ctrl)} | "
                     f"{'—' if ctx is None else f'{ctx:,}'} |")
    for r in results:
        lines += _markdown_buckets(r)
    return "\n".join(lines) + "\n"


def model_label(m: dict) -> str:
    """`lstm 2×128`, escaped for rich markup (the cell name comes from the file)."""
    return escape(f"{m['kind']} {m['layers']}×{m['hidden']}")


def _chars_seen(tr: dict) -> str:
    if not all(k in tr for k in ("steps", "batch_size", "seq_len")):
        return "—"
    return si_chars(tr["steps"] * tr["batch_size"] * tr["seq_len"])


def _markdown_buckets(r: RunResult) -> list[str]:
    """The headline probe of one run: rows (model, n-grams, majority) × distance buckets, % right with the
    95 % interval; cells with too few events show their count only."""
    p = r.probes or {}
    head = p.get("headline")
    table = (p.get("real") or {}).get(head) if head else None
    if not table:
        return []
    rows = [row for row in p.get("rows", []) if row in table]
    if not rows:
        return []
    buckets = [b["bucket"] for b in table[rows[0]]["buckets"] if b["events"]]
    out = ["", f"**{r.run_id}** · `{head}` on the test split, % right (95 % interval) by characters from opener "
               "to closer", "", "| row | " + " | ".join(buckets) + " |", "|---" * (len(buckets) + 1) + "|"]
    above = set(table.get("model", {}).get("above_baselines") or ())
    blind = blind_buckets(r.model or {}, buckets)
    for row in rows:
        cells = {b["bucket"]: b for b in table[row]["buckets"]}
        text = []
        for name in buckets:
            b = cells.get(name, {"too_few": True, "events": 0})
            mark = (ABOVE if row == "model" and name in above else "") + (BLIND if row == "model" and name in blind else "")
            text.append(f"n={b['events']}" if b["too_few"] or b.get("accuracy") is None else
                        f"{100 * b['accuracy']:.0f}{mark}" + (f" ({interval(b)})" if b.get("ci95") else ""))
        out.append(f"| {row} | " + " | ".join(text) + " |")
    if "above_baselines" in table.get("model", {}):
        out += ["", (f"{ABOVE}: the model is above every other row there, paired over units of text (the "
                     "difference's 95 % interval above 0).")]
    if blind:
        out += ["", BLIND_NOTE]
    return out
