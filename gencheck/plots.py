"""`gencheck report RUN... --plot / --png DIR / --svg DIR`: the figures a reader wants after a run.

Three kinds of figure, all read from results.json only (like `report`, no torch: plotting a finished run
must not wait on a multi-second import nor need the training stack installed):

* bits/char over training characters, one line per run (`train.history` and `train.evolution`);
* the headline probe's accuracy by distance bucket, one line per row (model, 20-gram, majority), with the
  95 % interval;
* for a grid (runs differing in layers, hidden or cell kind): the headline probe's accuracy against width,
  one line per distance bucket and depth, and test bits/char against parameters, one line per depth (and
  cell kind when the kinds differ), each the mean over seeds; a grid's runs get no per-run probe figure
  (a dozen of them would bury the two that compare the shapes).

The figures are first extracted as plain data (`Figure`, `Series`) so tests check the numbers, not
pixels; two renderers draw them: plotext in the terminal, matplotlib to PNG/SVG (the optional extra
`gencheck[plots]`).
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

from .fsutil import GencheckError, UsageError, atomic_write_bytes
from .progress import show_controls
from .results import RunResult

INSTALL_PLOTS = "pip install 'gencheck[plots]'"
HEADLINE_ROWS = ("model", "20-gram", "majority")
MARKERS = ("*", "+", "o", "x", "#", "@", "%", "&")  # terminal markers: lines stay apart without colour
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # plotext's colour codes, taken out when stdout is not a terminal
FILE_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")  # matplotlib's, one per series
FILE_DASHES = ("-", "--", "-.", ":")
LEGEND_MARGIN = 14  # the plot's width less the widest legend label plotext still draws (y ticks, frame, marker)
COLORS = ("blue", "orange", "green", "red", "magenta", "cyan", "gray", "yellow")  # a line and its bars alike


@dataclass(frozen=True)
class Series:
    """One line: points in x order; `lo`/`hi` the interval around each y when there is one."""

    label: str
    x: list[float]
    y: list[float]
    lo: list[float] | None = None
    hi: list[float] | None = None


@dataclass(frozen=True)
class Figure:
    """A figure as data. `xticks` names a categorical x axis (distance buckets) by position."""

    name: str  # file stem for --png/--svg
    title: str
    xlabel: str
    ylabel: str
    series: list[Series]
    xlog: bool = False
    xticks: list[str] = field(default_factory=list)


def training_chars(train: dict, step: int) -> int:
    """Characters trained on by `step`: each step reads batch_size × seq_len characters."""
    return step * int(train.get("batch_size") or 0) * int(train.get("seq_len") or 0)


def curve_label(r: RunResult) -> str:
    """The run's id, and for a warm-started run what came first (characters, corpus): its history counts
    the warm-start characters too, scored on this corpus's validation split, so its line climbs until the
    switch and a reader needs to know why."""
    warm = r.train.get("warm_start") or {}
    if not warm.get("chars"):
        return r.run_id
    return f"{r.run_id} (warm {human(float(warm['chars']))} {warm.get('corpus', '?')})"


def training_curve(results: Sequence[RunResult]) -> Figure | None:
    """Validation bits/char against characters seen, one line per run; the history's steps and the
    evolution's looks merged (both measure val bits/char; the looks add the early, log-spaced points)."""
    series = []
    for r in results:
        points: dict[int, float] = {}
        for h in r.train.get("history") or []:
            if h.get("val_bpc") is not None and training_chars(r.train, h["step"]) > 0:
                points[training_chars(r.train, h["step"])] = float(h["val_bpc"])
        for e in r.train.get("evolution") or []:
            if e.get("val_bpc") is not None and (e.get("chars_seen") or 0) > 0:
                points.setdefault(int(e["chars_seen"]), float(e["val_bpc"]))
        if points:
            xs = sorted(points)
            series.append(Series(curve_label(r), [float(x) for x in xs], [points[x] for x in xs]))
    if not series:
        return None
    return Figure("bits-per-char", "validation bits/char during training", "training characters",
                  "val bits/char", series, xlog=True)


def headline_by_distance(r: RunResult) -> Figure | None:
    """The headline probe's accuracy per distance bucket for each row; buckets with too few events are
    left out of that row's line (their accuracy is null, never 0)."""
    p = r.probes or {}
    head = p.get("headline")
    rows = (p.get("real") or {}).get(head) or {}
    buckets = list(p.get("buckets") or [])
    if not buckets:
        for res in rows.values():
            buckets = [c["bucket"] for c in res.get("buckets", [])]
            break
    series = []
    for row in (name for name in HEADLINE_ROWS if name in rows):
        x, y, lo, hi = [], [], [], []
        for cell in rows[row].get("buckets", []):
            if cell.get("too_few") or cell.get("accuracy") is None or cell.get("bucket") not in buckets:
                continue
            ci = cell.get("ci95") or [cell["accuracy"], cell["accuracy"]]
            x.append(float(buckets.index(cell["bucket"])))
            y.append(float(cell["accuracy"]))
            lo.append(float(ci[0]))
            hi.append(float(ci[1]))
        if x:
            series.append(Series(row, x, y, lo, hi))
    if not series:
        return None
    return Figure(f"{r.run_id}-{head}-by-distance", f"{head} accuracy by distance, {r.run_id}",
                  "characters from opener to closer", "accuracy", series, xticks=buckets)


def _shape(r: RunResult) -> tuple[str, int, int]:
    return (str(r.model.get("kind")), int(r.model.get("layers") or 0), int(r.model.get("hidden") or 0))


def is_grid(results: Sequence[RunResult]) -> bool:
    """Several runs with more than one model shape (kind, layers, hidden)."""
    return len({_shape(r) for r in results}) > 1


@dataclass(frozen=True)
class SeedMean:
    """One shape's value over its seeds: the mean is the point, min and max the bar (with three seeds
    a 95 % interval would be wider than the spread it describes; the spread is what a reader checks)."""

    mean: float
    low: float
    high: float


def seed_mean(values: Sequence[float]) -> SeedMean:
    return SeedMean(sum(values) / len(values), min(values), max(values))


def _series(label: str, points: dict[float, list[float]]) -> Series:
    """A line through each x's seed mean, bars from the seeds' min to max."""
    xs = sorted(points)
    means = [seed_mean(points[x]) for x in xs]
    return Series(label, xs, [m.mean for m in means], [m.low for m in means], [m.high for m in means])


def seeds_phrase(lines: Sequence[dict[float, list[float]]]) -> str:
    """How a figure's points were made: "one seed each" when every point is one run (no bars to read), else
    "seed mean, bars min-max" with how many seeds."""
    counts = sorted({len(v) for pts in lines for v in pts.values()})
    if counts == [1] or not counts:
        return "one seed each"
    return f"mean of {'-'.join(map(str, (counts[0], counts[-1]) if len(counts) > 1 else counts))} seeds, bars min-max"


def _depth_label(kind: str, layers: int, by_kind: bool) -> str:
    depth = f"{layers} layer" + ("s" if layers != 1 else "")
    return f"{kind} {depth}" if by_kind else depth


def _headline_cells(r: RunResult) -> dict[str, float]:
    """The model row's accuracy per bucket on the headline probe, buckets with too few events left out."""
    p = r.probes or {}
    model = ((p.get("real") or {}).get(p.get("headline")) or {}).get("model") or {}
    return {c["bucket"]: float(c["accuracy"]) for c in model.get("buckets", [])
            if not c.get("too_few") and c.get("accuracy") is not None}


def accuracy_by_width(results: Sequence[RunResult], by_kind: bool | None = None) -> list[Figure]:
    """The headline probe's accuracy against hidden size, one line per distance bucket, one figure per
    depth (and cell kind), the mean over seeds (runs of the same shape): the shape of Zoology's
    recall-against-width plots, where a bucket's line rising with width says how wide a model must be to
    carry structure that far. A figure per depth: a dozen lines in one terminal plot cannot be read.
    `by_kind`: name the cell kind in each figure (default: when the runs hold more than one)."""
    if by_kind is None:
        by_kind = len({_shape(r)[0] for r in results}) > 1
    buckets: list[str] = next((list(r.probes["buckets"]) for r in results if (r.probes or {}).get("buckets")), [])
    order = {b: i for i, b in enumerate(buckets)}
    panels: dict[tuple[str, int], dict[str, dict[float, list[float]]]] = {}
    for r in results:
        kind, layers, hidden = _shape(r)
        for bucket, acc in _headline_cells(r).items():
            panels.setdefault((kind, layers), {}).setdefault(bucket, {}).setdefault(float(hidden), []).append(acc)
    head = next((r.probes.get("headline") for r in results if (r.probes or {}).get("headline")), "headline probe")
    out = []
    for kind, layers in sorted(panels):
        lines = panels[(kind, layers)]
        depth = _depth_label(kind, layers, by_kind)
        series = [_series(b, lines[b]) for b in sorted(lines, key=lambda b: (order.get(b, len(order)), b))]
        out.append(Figure(f"grid-accuracy-by-width-{depth.replace(' ', '-')}",
                          f"{head} by width, {depth}: {seeds_phrase(list(lines.values()))}",
                          "hidden units", "accuracy", series, xlog=True))
    return out


def bpc_by_params(results: Sequence[RunResult]) -> Figure | None:
    """Test bits/char against parameters, one line per depth (or cell kind and depth), the mean over seeds."""
    by_kind = len({_shape(r)[0] for r in results}) > 1
    lines: dict[tuple[str, int], dict[float, list[float]]] = {}
    for r in results:
        if r.model.get("params") and r.metrics.get("test_bpc") is not None:
            kind, layers, _ = _shape(r)
            lines.setdefault((kind, layers), {}).setdefault(float(r.model["params"]), []).append(
                float(r.metrics["test_bpc"]))
    if not lines:
        return None
    series = [_series(_depth_label(kind, layers, by_kind), lines[(kind, layers)]) for kind, layers in sorted(lines)]
    return Figure("grid-test-bpc", f"test bits/char by parameters: {seeds_phrase(list(lines.values()))}", "parameters",
                  "test bits/char", series, xlog=True)


def families_by_distance(results: Sequence[RunResult]) -> Figure | None:
    """For a grid of model families: the headline probe's accuracy by distance bucket, one line per shape
    (the seed mean, bars min-max), beside the first run's 20-gram and majority rows: where each family
    remembers, at a glance. None when the runs are of one family."""
    if len({_shape(r)[0] for r in results}) < 2:
        return None
    buckets: list[str] = next((list(r.probes["buckets"]) for r in results if (r.probes or {}).get("buckets")), [])
    head = next((r.probes.get("headline") for r in results if (r.probes or {}).get("headline")), None)
    if not buckets or not head:
        return None
    lines: dict[str, dict[float, list[float]]] = {}
    for r in results:
        kind, layers, hidden = _shape(r)
        for bucket, acc in _headline_cells(r).items():
            if bucket in buckets:
                lines.setdefault(f"{kind} {layers}×{hidden}", {}).setdefault(float(buckets.index(bucket)), []).append(acc)
    seeds = seeds_phrase(list(lines.values()))
    series = [_series(label, pts) for label, pts in lines.items()]
    first = next((f for f in map(headline_by_distance, results) if f), None)
    series += [s for s in (first.series if first else []) if s.label in ("20-gram", "majority")]
    if not series:
        return None
    return Figure(f"grid-{head}-by-distance", f"{head} by distance, a line per model: {seeds}",
                  "characters from opener to closer", "accuracy", series, xticks=buckets)


def grid_figures(results: Sequence[RunResult]) -> list[Figure]:
    """For runs of more than one shape: accuracy by distance per model family (when several), accuracy
    against width by bucket (for the shapes with more than one width), test bits/char against parameters.
    Depth is a line, not an axis: the grids this project runs have two or three depths."""
    if not is_grid(results):
        return []
    widths: dict[tuple[str, int], set[int]] = {}
    for r in results:
        kind, layers, hidden = _shape(r)
        widths.setdefault((kind, layers), set()).add(hidden)
    wide = [r for r in results if len(widths[_shape(r)[:2]]) > 1]  # a width axis to plot against
    by_kind = len({_shape(r)[0] for r in results}) > 1
    return ([f for f in [families_by_distance(results)] if f] + (accuracy_by_width(wide, by_kind) if wide else [])
            + [f for f in [bpc_by_params(results)] if f])


def figures(results: Sequence[RunResult]) -> list[Figure]:
    """Every figure the runs can fill, in reading order; only finite points (a results.json may hold NaN or
    infinite figures: they are left out of the lines, as a bucket with too few events is)."""
    out = [f for f in [training_curve(results)] if f]
    out += grid_figures(results) if is_grid(results) else [f for f in (headline_by_distance(r) for r in results) if f]
    return [f for f in (finite_figure(f) for f in out) if f is not None]


def finite_figure(fig: Figure) -> Figure | None:
    """`fig` with every point whose x, y or interval is not a finite number taken out (None: no point left)."""
    series = []
    for s in fig.series:
        keep = [i for i in range(len(s.x)) if all(math.isfinite(v) for v in
                (s.x[i], s.y[i], *((s.lo[i], s.hi[i]) if s.lo is not None and s.hi is not None else ())))]
        if keep:
            pick = (lambda vals: None if vals is None else [vals[i] for i in keep])  # noqa: E731
            series.append(Series(s.label, pick(s.x), pick(s.y), pick(s.lo), pick(s.hi)))
    return replace(fig, series=series) if series else None


#: The characters a figure's file name keeps; anything else from the data becomes "-".
_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
SLUG_MAX = 120


def slug(name: str) -> str:
    """A file stem made from data (a run id, a probe, a model kind): one safe alphabet, no separator, no
    leading dot or dash, at most SLUG_MAX characters; never empty."""
    s = _SLUG_UNSAFE.sub("-", name).strip(".-")[:SLUG_MAX].strip(".-")
    return s or "figure"


def human(x: float) -> str:
    """A tick label a reader takes in at a glance: 64, 37k, 1.2M."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}"


def log_ticks(fig: Figure) -> tuple[list[float], list[str]]:
    """Ticks for a log x axis: the data's own x values when there are few (a grid's widths), else the
    powers of ten inside the data's range (plotext would label 63.9, 76.0, ...)."""
    xs = sorted({x for s in fig.series for x in s.x if x > 0})
    if not xs:
        return [], []
    if len(xs) <= 6:
        return xs, [human(x) for x in xs]
    lo, hi = math.floor(math.log10(xs[0])), math.ceil(math.log10(xs[-1]))
    ticks = [10.0 ** k for k in range(lo, hi + 1) if xs[0] <= 10.0 ** k <= xs[-1]]
    return ticks, [human(t) for t in ticks]


def _offset(i: int, n: int, spread: float = 0.24) -> float:
    """Where series i of n draws its interval bars around a categorical x (±spread/2)."""
    return 0.0 if n < 2 else spread * (i / (n - 1) - 0.5)


def bar_xs(fig: Figure, i: int) -> list[float]:
    """Series i's bar positions, set a little apart from the other series' so overlapping intervals stay
    readable: shifted on a linear axis, scaled on a log one (a shift of 0.1 is nothing beside 64)."""
    s, off = fig.series[i], _offset(i, len(fig.series))
    return [x * 2 ** (off * 0.3) for x in s.x] if fig.xlog else [x + off for x in s.x]


def fit_label(label: str, room: int) -> str:
    """A legend label cut in the middle to `room` characters: plotext drops the whole legend, silently,
    when a label does not fit, and a run id's ends (date, seed, key) are what tell runs apart."""
    if len(label) <= room:
        return label
    head = (room - 1) // 2
    return label[:head] + "…" + label[len(label) - (room - 1 - head):]


def terminal_plot(fig: Figure, width: int = 80, height: int = 20, color: bool = True) -> str:
    """The figure drawn with plotext, as text; one marker character per series so the lines stay apart
    in a log file without colour. Intervals are drawn as error bars."""
    import plotext as plt

    plt.clear_figure()
    plt.plot_size(width, height)
    for i, s in enumerate(fig.series):
        hue = COLORS[i % len(COLORS)]
        plt.plot(s.x, s.y, label=fit_label(show_controls(s.label), width - LEGEND_MARGIN), marker=MARKERS[i % len(MARKERS)],
                 color=hue)
        if s.lo is not None and s.hi is not None:
            # plotext's bars are symmetric: centre each on the interval's middle so it spans lo..hi; each
            # row's bars a little apart so overlapping intervals stay readable
            plt.error(bar_xs(fig, i), [(lo + hi) / 2 for lo, hi in zip(s.lo, s.hi)],
                      yerr=[(hi - lo) / 2 for lo, hi in zip(s.lo, s.hi)], color=hue)
    if fig.xlog:
        plt.xscale("log")
        plt.xticks(*log_ticks(fig))
    if fig.xticks:
        plt.xticks(list(range(len(fig.xticks))), fig.xticks)
    plt.title(show_controls(fig.title))
    plt.xlabel(show_controls(fig.xlabel))
    plt.ylabel(show_controls(fig.ylabel))
    text = plt.build()
    return text if color else ANSI.sub("", text)


def _matplotlib():
    """matplotlib's Figure class, or a usage error naming the install command (it is an optional extra)."""
    try:
        from matplotlib.figure import Figure as MplFigure
    except ImportError:
        raise UsageError(f"--png and --svg need matplotlib: {INSTALL_PLOTS}") from None
    return MplFigure


def render_file(fig: Figure, fmt: str) -> bytes:
    """The figure as PNG or SVG bytes, drawn with matplotlib's object API (no pyplot: no global state,
    no GUI backend)."""
    import matplotlib

    MplFigure = _matplotlib()
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):  # text from data is plain text
        return _render_file(MplFigure, fig, fmt)


#: Control characters (C0, DEL, C1) in text from data, drawn as \\xNN in a file figure: the fonts have no glyph.
_MPL_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MPL_TEXT_MAX = 80


def mpl_text(text: str) -> str:
    """Text from data (a run id, a label) as matplotlib draws it literally: control characters spelled out,
    at most MPL_TEXT_MAX characters (a longer title or label collapses the axes), never empty, and a leading "_" kept visible
    (matplotlib drops a legend label that starts with one)."""
    s = _MPL_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    s = s if len(s) <= MPL_TEXT_MAX else s[:MPL_TEXT_MAX - 1] + "\u2026"
    return " " + s if s.startswith("_") else s or "(no name)"


def _render_file(MplFigure, fig: Figure, fmt: str) -> bytes:
    mfig = MplFigure(figsize=(8, 4.5), layout="constrained")
    ax = mfig.add_subplot()
    for i, s in enumerate(fig.series):
        # open markers of different shapes, and dashes, so that coinciding lines (a model that always
        # answers the majority environment) still show both
        line, = ax.plot(s.x, s.y, marker=FILE_MARKERS[i % len(FILE_MARKERS)], markerfacecolor="none",
                        markersize=8, linestyle=FILE_DASHES[i % len(FILE_DASHES)], label=mpl_text(s.label))
        if s.lo is not None and s.hi is not None:
            ax.errorbar(bar_xs(fig, i), s.y, yerr=[[y - lo for y, lo in zip(s.y, s.lo)], [hi - y for y, hi in zip(s.y, s.hi)]],
                        fmt="none", ecolor=line.get_color(), capsize=3, alpha=0.7)
    if fig.xlog:
        ax.set_xscale("log")
        ax.set_xticks(*log_ticks(fig))
        ax.minorticks_off()
    if fig.xticks:
        ax.set_xticks(range(len(fig.xticks)), [mpl_text(t) for t in fig.xticks])
    ax.set_title(mpl_text(fig.title), fontsize=10)
    ax.set_xlabel(mpl_text(fig.xlabel))
    ax.set_ylabel(mpl_text(fig.ylabel))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    mfig.savefig(buf, format=fmt, dpi=120)
    return buf.getvalue()


def write_files(figs: Sequence[Figure], folder: Path, fmt: str) -> list[Path]:
    """Each figure to `folder/<name>.<fmt>`, atomically; matplotlib is checked before anything is
    written, so a missing extra leaves no folder and no half set."""
    _matplotlib()
    folder.mkdir(parents=True, exist_ok=True)
    inside = folder.resolve()
    paths = []
    for fig in figs:
        path = folder / f"{slug(fig.name)}.{fmt}"
        if path.resolve().parent != inside:  # a slug has no separator; a planted symlink is refused too
            raise GencheckError(f"refusing to write {path}: it is not a file inside {folder}")
        atomic_write_bytes(path, render_file(fig, fmt))
        paths.append(path)
    return paths


def plot_command(results: Sequence[RunResult], terminal: bool, png: Path | None, svg: Path | None) -> int:
    """`report --plot/--png/--svg`: draw what the runs hold; say so when they hold nothing to draw."""
    import sys

    from .progress import log

    figs = figures(results)
    if not figs:
        raise UsageError("nothing to plot: these runs have no training history, probes or grid")
    if png or svg:
        _matplotlib()
    if terminal:
        color = sys.stdout.isatty()
        for fig in figs:
            print(terminal_plot(fig, color=color))
            print()
    for folder, fmt in ((png, "png"), (svg, "svg")):
        if folder:
            for path in write_files(figs, folder, fmt):
                log(f"wrote {path}")
    return 0
