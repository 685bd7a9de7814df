"""`gencheck cells RUN`: which hidden units of an LSTM run track which structure.

After Karpathy, Johnson and Fei-Fei (2015), "Visualizing and Understanding Recurrent Networks": run the
trained model over held-out documents, keep every layer's per-character state (h and c), and score each
unit against features the format's own scanners read from the text (the same scanners the probes use, so
"brace depth" here is the brace depth the probes and the validator see):

* binary features (inside an environment, inside math, inside a comment, inside braces): the unit's
  activation as a one-threshold classifier, scored by max(AUC, 1 − AUC) (a unit may track a feature by
  going down as well as up);
* numeric features (environment depth, brace depth, position in the line): |Pearson r|.

Beside the single units, a linear probe (ridge least squares) from the whole state to environment depth,
fitted on train documents and scored on the held-out ones: a feature can be spread over many units that
no single unit shows.

Every feature is aligned to the state *after* reading a character: position t's feature is what a reader
knows once it has read text[t] (the `{` at t is inside its group; the `}` at t is not).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .fsutil import GencheckError, UsageError
from .progress import show_controls

CELLS_SCHEMA_VERSION = 1
MAX_CHARS = 30_000  # characters scanned per split: a 2×128 checkpoint within a minute on 2 busy cores
AUC_THRESHOLD = 0.9  # a unit "tracks" a binary feature from this AUC
R_THRESHOLD = 0.5  # ... and a numeric one from this |r|
TOP = 3
RIDGE = 1e-2


# --- features -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Feature:
    name: str
    kind: str  # "binary" or "numeric"
    values: np.ndarray  # one value per character


def _depth(n: int, spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """How many spans cover each position; a span (a, b) covers a..b-1 (opened at a, closed at b)."""
    d = np.zeros(n + 1, dtype=np.int64)
    for a, b in spans:
        if 0 <= a < b <= n:
            d[a] += 1
            d[b] -= 1
    return np.cumsum(d)[:n]


def line_position(text: str) -> np.ndarray:
    """Characters since the last newline, after reading each character (0 right after a newline)."""
    out = np.zeros(len(text), dtype=np.int64)
    col = 0
    for i, ch in enumerate(text):
        col = 0 if ch == "\n" else col + 1
        out[i] = col
    return out


def latex_env_spans(text: str) -> list[tuple[int, int, str]]:
    """(after `\\begin{X}`'s brace, at `\\end{X}`'s brace, X) for each environment, as the probes read the
    text (`structure.env_walk`, "search": comments and verbatim skipped; an `\\end` closing an outer
    environment closes everything above it; a stray `\\end` changes nothing); unclosed ones run to the end."""
    from .structure import env_walk

    spans: list[tuple[int, int, str]] = []
    opened: list[tuple[int, str]] = []
    for step in env_walk(text, "search")[0]:
        brace = text.find("}", step.pos)
        if step.kind == "begin":
            opened.append((brace, step.name))
        elif step.closes is not None:
            spans += [(a, brace, name) for a, name in opened[step.closes:]]
            del opened[step.closes:]
    return spans + [(a, len(text), name) for a, name in opened]


def since_opener(n: int, spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """Characters since the innermost open opener at each position (0 where nothing is open): what a model
    must carry to close it. Spans nest (each scanner closes the innermost first), so the innermost is the
    latest-started span covering the position."""
    out = np.zeros(n, dtype=np.int64)
    for a, b in sorted(spans, key=lambda s: (s[0], -s[1])):  # outer first: inner spans overwrite
        if 0 <= a < b <= n:
            out[a:b] = np.arange(b - a)
    return out


def latex_comment_spans(text: str) -> list[tuple[int, int]]:
    """`%` to the end of its line (not `\\%`), the comments structure.env_events skips."""
    from .structure import _TOKEN

    return [(m.start(), m.end()) for m in _TOKEN.finditer(text) if m.group(1) is None]


def latex_features(text: str, names: Sequence[str] = ()) -> list[Feature]:
    """Environment, brace, math and comment structure from the probes' and validator's scanners; `names`:
    the corpus's common environments, one "inside NAME" feature each (which environment is open)."""
    from .probes import latex_closer_pairs

    n = len(text)
    pairs = latex_closer_pairs(text)
    envs = latex_env_spans(text)
    env = _depth(n, [(a, b) for a, b, _ in envs])
    braces = _depth(n, [(a, b) for key, a, b, _ in pairs if key == "}"])
    math = _depth(n, [(a, b) for key, a, b, _ in pairs if key == "$"]) > 0
    comment = _depth(n, latex_comment_spans(text)) > 0
    return [Feature("inside environment", "binary", env > 0), Feature("environment depth", "numeric", env),
            *[Feature(f"inside {name}", "binary", _depth(n, [(a, b) for a, b, x in envs if x == name]) > 0)
              for name in names],
            Feature("chars since \\begin", "numeric", since_opener(n, [(a, b) for a, b, _ in envs])),
            Feature("brace depth", "numeric", braces), Feature("inside braces", "binary", braces > 0),
            Feature("inside math ($…$)", "binary", math), Feature("inside comment", "binary", comment)]


def c_features(text: str, names: Sequence[str] = ()) -> list[Feature]:
    """Bracket depth by kind as the C validator pairs them, inside a string or character literal, a
    comment, a preprocessor line, and the characters since the innermost open bracket."""
    from gencheck.validators import c as vc

    from .probes import c_bracket_pairs

    n = len(text)
    pairs = c_bracket_pairs(text)
    lx = vc._Lexer(text)
    stripped = lx.strip_comments()
    comments = [(a, b + 2) for a, b in lx.comments]
    directives = [(m.start(), m.end()) for m in vc._DIRECTIVE.finditer(stripped)]
    depth = {o: _depth(n, [(a, b) for closer, a, b, _ in pairs if vc._OPENER_OF[closer] == o]) for o in "([{"}
    return [*[Feature(f"{o} depth", "numeric", depth[o]) for o in "{(["],
            Feature("chars since an open bracket", "numeric", since_opener(n, [(a, b) for _, a, b, _ in pairs])),
            Feature("inside string or char", "binary", _depth(n, lx.literals) > 0),
            Feature("inside /* comment */", "binary", _depth(n, comments) > 0),
            Feature("inside preprocessor line", "binary", _depth(n, directives) > 0)]


_LIST_ITEM = re.compile(r"^([ \t]*)(?:[-*+]|\d{1,9}[.)])[ \t]", re.M)


def markdown_features(text: str, names: Sequence[str] = ()) -> list[Feature]:
    """Inside a code fence and inside a link (the probes' readings), the list depth of the line (its
    indentation, two spaces a level), and the characters since the open fence or link."""
    from .probes import markdown_fences, markdown_link_pairs

    n = len(text)
    closed, open_at = markdown_fences(text)
    fences = [(a, b) for a, b, _, _ in closed] + ([(open_at, n)] if open_at is not None else [])
    links = [(a, b) for _, a, b, _ in markdown_link_pairs(text)]
    lists = np.zeros(n, dtype=np.int64)
    for m in _LIST_ITEM.finditer(text):
        end = text.find("\n", m.start())
        lists[m.start():n if end == -1 else end] = len(m.group(1).expandtabs(4)) // 2 + 1
    return [Feature("inside code fence", "binary", _depth(n, fences) > 0),
            Feature("inside link", "binary", _depth(n, links) > 0),
            Feature("list depth", "numeric", lists),
            Feature("chars since an open fence or link", "numeric", since_opener(n, fences + links))]


FORMAT_FEATURES: dict[str, Callable[..., list[Feature]]] = {"latex": latex_features, "c": c_features,
                                                           "markdown": markdown_features}


def features(text: str, fmt: str, names: Sequence[str] = ()) -> list[Feature]:
    """The format's features (if the project has scanners for it) and every format's line position;
    `names`: the corpus's common openers, a feature each where the format has one (LaTeX environments)."""
    extra = FORMAT_FEATURES.get(fmt)
    return (extra(text, names) if extra else []) + [Feature("position in line", "numeric", line_position(text))]


# --- states -------------------------------------------------------------------------------------------

@dataclass
class States:
    """Per-character states: `values[t, u]`, unit u named `names[u]` (`L0.h[12]`, `L1.c[3]`)."""

    values: np.ndarray
    names: list[str]


def _single_layers(model, ids: np.ndarray):
    """(one-layer RNN, its input, its output h) for every layer of the model's recurrent stack over `ids`
    (B, T) from zero state, one layer at a time (the model's nn.LSTM gives only the top layer's outputs)."""
    import torch

    rnn = model.rnn
    with torch.no_grad():
        x = model.embed(torch.as_tensor(ids, dtype=torch.long))
        for layer in range(rnn.num_layers):
            one = type(rnn)(x.shape[-1], rnn.hidden_size, num_layers=1, batch_first=True)
            one.load_state_dict({k.rsplit("_l", 1)[0] + "_l0": getattr(rnn, k) for k in
                                 (f"weight_ih_l{layer}", f"weight_hh_l{layer}", f"bias_ih_l{layer}",
                                  f"bias_hh_l{layer}")})
            h, _ = one(x)
            yield one, x, h
            x = h  # eval: no dropout between layers


def layer_states(model, ids: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(h, c) per character for every layer of a batch of sequences `ids` (B, T), from zero state; each
    array is (B, T, hidden). c is rebuilt from the gates, which every h_{t-1} fixes, by the cell's
    recurrence; None for GRU/vanilla RNN."""
    return [(h.numpy(), _lstm_cells(one, x, h) if model.cfg.kind == "lstm" else None)
            for one, x, h in _single_layers(model, ids)]


def _lstm_gates(one, x, h) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The input, forget, cell-candidate and output gates (B, T, hidden) of a one-layer LSTM given its
    inputs and outputs: each a function of x_t and h_{t-1}."""
    import torch

    h_prev = torch.cat([torch.zeros_like(h[:, :1]), h[:, :-1]], dim=1)
    gates = x @ one.weight_ih_l0.T + one.bias_ih_l0 + h_prev @ one.weight_hh_l0.T + one.bias_hh_l0
    i, f, g, o = gates.chunk(4, dim=-1)
    return torch.sigmoid(i).numpy(), torch.sigmoid(f).numpy(), torch.tanh(g).numpy(), torch.sigmoid(o).numpy()


def _lstm_cells(one, x, h) -> np.ndarray:
    """c_t = f_t·c_{t-1} + i_t·g_t from the gates."""
    i, f, g, _ = _lstm_gates(one, x, h)
    ig = i * g
    c = np.empty_like(ig)
    prev = np.zeros((ig.shape[0], ig.shape[2]), dtype=ig.dtype)
    for t in range(ig.shape[1]):
        prev = f[:, t] * prev + ig[:, t]
        c[:, t] = prev
    return c


SATURATED = 0.1  # a sigmoid gate below 0.1 is left-saturated, above 0.9 right-saturated (Karpathy et al. 2015)


def gate_saturation(model, vocab, text: str) -> list[dict]:
    """Per layer and sigmoid gate (input, forget, output) of an LSTM over one document: the mean share of
    characters at which a unit's gate is left-saturated (< 0.1) and right-saturated (> 0.9), and how many
    units are right-saturated most of the time (a forget gate there makes the cell an integrator that keeps
    what it holds: the 2015 paper's long-memory cells). Empty for other kinds."""
    from .corpus import SEP, encode

    if model.cfg.kind != "lstm" or not text:
        return []
    ids = encode(SEP + text, vocab)[None, :-1]
    out = []
    for layer, (one, x, h) in enumerate(_single_layers(model, ids)):
        i, f, _, o = _lstm_gates(one, x, h)
        for name, g in (("input", i), ("forget", f), ("output", o)):
            left, right = (g[0] < SATURATED).mean(axis=0), (g[0] > 1 - SATURATED).mean(axis=0)
            out.append({"layer": layer, "gate": name, "left": round(float(left.mean()), 4),
                        "right": round(float(right.mean()), 4), "units_mostly_right": int((right > 0.5).sum()),
                        "units": int(g.shape[-1])})
    return out


BATCH = 16  # documents run together (sorted by length, so little padding)


def unit_names(model) -> list[str]:
    tags = ("h", "c") if model.cfg.kind == "lstm" else ("h",)
    return [f"L{li}.{tag}[{u}]" for li in range(model.cfg.layers) for tag in tags for u in range(model.cfg.hidden)]


def batch_states(model, vocab, texts: Sequence[str]) -> list[np.ndarray]:
    """Every layer's h (and c) after each character of each document, (len, units) in `unit_names`
    order, read as training read it: the document separator first, from zero state; the separator's own
    state is dropped. Documents run in batches of similar length, padded at the end (a padded tail
    never changes the states before it)."""
    from .corpus import SEP, encode

    seqs = [encode(SEP + t, vocab) for t in texts]
    out: list[np.ndarray] = [np.empty(0)] * len(seqs)
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    for b in range(0, len(order), BATCH):
        group = order[b:b + BATCH]
        width = max(len(seqs[i]) for i in group)
        ids = np.full((len(group), width), vocab.sep_id, dtype=np.int64)
        for row, i in enumerate(group):
            ids[row, :len(seqs[i])] = seqs[i]
        arrays = [a for h, c in layer_states(model, ids) for a in (h, c) if a is not None]
        for row, i in enumerate(group):
            out[i] = np.concatenate([a[row, 1:len(seqs[i])] for a in arrays], axis=1)
    return out


def doc_states(model, vocab, text: str) -> States:
    """One document's states (see batch_states)."""
    return States(batch_states(model, vocab, [text])[0], unit_names(model))


@dataclass
class Scan:
    """States and features of a set of documents, concatenated, at most `MAX_CHARS` characters."""

    states: np.ndarray
    names: list[str]
    features: dict[str, Feature]
    documents: int
    chars: int
    _ranks: np.ndarray | None = None

    def ranks(self) -> np.ndarray:
        """Each unit's ranks over the characters, computed once for every binary feature's AUC."""
        if self._ranks is None:
            self._ranks = np.column_stack([_average_ranks(self.states[:, u]) for u in range(self.states.shape[1])])
        return self._ranks


def scan(model, vocab, texts: Sequence[str], fmt: str, max_chars: int = MAX_CHARS, names: Sequence[str] = ()) -> Scan:
    """The documents in the given order until `max_chars`, each cut to a tenth of it (at least 2,000
    characters) so one long document cannot be the whole sample; features are read on the whole
    document first, so a cut leaves depths as they were."""
    per_doc = max(2_000, max_chars // 10)
    cuts, feats, used = [], [], 0
    for text in texts:
        if used >= max_chars or not text:
            continue
        take = min(len(text), max_chars - used, per_doc)
        cuts.append(text[:take])
        feats.append([Feature(f.name, f.kind, f.values[:take]) for f in features(text, fmt, names)])
        used += take
    if not cuts:
        raise GencheckError("no documents to scan")
    st = batch_states(model, vocab, cuts)
    docs, names = len(cuts), unit_names(model)
    merged = {f.name: Feature(f.name, f.kind, np.concatenate([d[i].values for d in feats]))
              for i, f in enumerate(feats[0])}
    return Scan(np.concatenate(st).astype(np.float64), names, merged, docs, used)


# --- scores -------------------------------------------------------------------------------------------

def auc_scores(x: np.ndarray, y: np.ndarray, ranks: np.ndarray | None = None) -> np.ndarray:
    """max(AUC, 1 − AUC) of each column of x as a one-threshold classifier of the boolean y (ties
    averaged); `ranks`, x's column ranks, when already known."""
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return np.full(x.shape[1], np.nan)
    if ranks is None:
        ranks = np.column_stack([_average_ranks(x[:, u]) for u in range(x.shape[1])])
    auc = (ranks[y].sum(axis=0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return np.maximum(auc, 1 - auc)


def _average_ranks(v: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their mean rank (a unit stuck at one value scores 0.5, not noise)."""
    order = np.argsort(v, kind="mergesort")
    s = v[order]
    first = np.r_[True, s[1:] != s[:-1]]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(v)]
    mean_rank = (starts + ends + 1) / 2.0
    out = np.empty(len(v))
    out[order] = mean_rank[group]
    return out


def abs_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """|Pearson r| of each column of x with y; 0 for a constant column."""
    xc = x - x.mean(axis=0)
    yc = y - y.mean()
    den = np.sqrt((xc ** 2).sum(axis=0) * (yc ** 2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, (xc * yc[:, None]).sum(axis=0) / np.where(den > 0, den, 1), 0.0)
    return np.abs(r)


@dataclass
class FeatureScore:
    feature: str
    kind: str
    metric: str  # "auc" or "|r|"
    threshold: float
    share: float  # positives (binary) or mean value (numeric)
    top: list[dict]  # [{unit, score}]
    above: int  # units at or above the threshold
    units: int
    skipped: str = ""  # why not scored (constant over the scanned text)


def score_feature(sc: Scan, f: Feature, top: int = TOP) -> FeatureScore:
    y = f.values
    metric, thr = ("auc", AUC_THRESHOLD) if f.kind == "binary" else ("|r|", R_THRESHOLD)
    share = float(np.mean(y))
    units = len(sc.names)
    if np.all(y == y[0]):
        return FeatureScore(f.name, f.kind, metric, thr, share, [], 0, units,
                            skipped=f"constant ({y[0]}) over the scanned text")
    s = auc_scores(sc.states, y.astype(bool), sc.ranks()) if f.kind == "binary" else abs_pearson(sc.states, y.astype(float))
    order = np.argsort(-s, kind="mergesort")[:top]
    return FeatureScore(f.name, f.kind, metric, thr, share,
                        [{"unit": sc.names[u], "score": round(float(s[u]), 4)} for u in order],
                        int((s >= thr).sum()), units)


@dataclass
class LinearProbe:
    """Ridge least squares from the whole state (+ bias) to a numeric feature: train docs → held-out docs."""

    feature: str
    train_chars: int
    test_chars: int
    r2: float  # on the held-out characters
    exact: float  # share of held-out characters where the rounded prediction is the depth
    baseline_exact: float  # the same for always predicting the train split's most common depth


def linear_probe(train: Scan, test: Scan, feature: str, ridge: float = RIDGE) -> LinearProbe | None:
    if feature not in train.features or feature not in test.features:
        return None
    y, yt = train.features[feature].values.astype(float), test.features[feature].values.astype(float)
    mu, sd = train.states.mean(axis=0), train.states.std(axis=0) + 1e-8
    X = np.c_[(train.states - mu) / sd, np.ones(len(y))]
    Xt = np.c_[(test.states - mu) / sd, np.ones(len(yt))]
    w = np.linalg.solve(X.T @ X + ridge * len(y) * np.eye(X.shape[1]), X.T @ y)
    pred = Xt @ w
    ss = float(((yt - yt.mean()) ** 2).sum())
    r2 = 1 - float(((yt - pred) ** 2).sum()) / ss if ss > 0 else float("nan")
    values, counts = np.unique(y, return_counts=True)
    mode = values[np.argmax(counts)]
    return LinearProbe(feature, len(y), len(yt), round(r2, 4), round(float(np.mean(np.rint(pred) == yt)), 4),
                       round(float(np.mean(yt == mode)), 4))


@dataclass
class CellsReport:
    run_id: str
    model: str
    split: str
    documents: int
    chars: int
    units: int
    seconds: float
    features: list[FeatureScore]
    probe: LinearProbe | None
    schema_version: int = CELLS_SCHEMA_VERSION
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


#: Common environments of the train split that get an "inside NAME" feature each.
NAMED = 5


def common_names(fmt: str, train_texts: Sequence[str], k: int = NAMED) -> tuple[str, ...]:
    """The k most common LaTeX environments of the train split (the controlled documents' ranking), for
    "which environment is open"; none for other formats or a split with fewer than two."""
    from .controlled import common_openers

    if fmt != "latex" or not train_texts:
        return ()
    try:
        return common_openers(fmt, train_texts, k)
    except GencheckError:
        return ()


def analyse(model, vocab, fmt: str, test_texts: Sequence[str], train_texts: Sequence[str], *, run_id: str = "",
            split: str = "test", max_chars: int = MAX_CHARS, seed: int = 0) -> CellsReport:
    """Score every unit against every feature on `test_texts`; the linear probe fits on `train_texts`.
    The documents are taken in an order fixed by `seed`, so a report is reproducible."""
    import time

    t0 = time.perf_counter()
    if model.cfg.kind != "lstm":
        raise UsageError(f"cells reads LSTM runs (h and c per unit); this run is a {model.cfg.kind}")
    model.eval()
    rng = np.random.default_rng(seed)
    names = common_names(fmt, train_texts)
    test = scan(model, vocab, [test_texts[i] for i in rng.permutation(len(test_texts))], fmt, max_chars, names)
    scores = [score_feature(test, f) for f in test.features.values()]
    probe = None
    if train_texts and "environment depth" in test.features:
        train = scan(model, vocab, [train_texts[i] for i in rng.permutation(len(train_texts))], fmt, max_chars, names)
        probe = linear_probe(train, test, "environment depth")
    return CellsReport(run_id, model.cfg.label(), split, test.documents, test.chars, len(test.names),
                       round(time.perf_counter() - t0, 2), scores, probe)


# --- the command --------------------------------------------------------------------------------------

def load_run(run: Path, mirrors: Sequence[Path] = (), offline: bool = False):
    """The run's checkpoint, model (CPU, eval), corpus (its content checked against the checkpoint's) and
    results.json run id."""
    from .corpus import build, resolve_spec
    from .progress import log
    from .train import Checkpoint, recorded_corpus

    ckpt = run / "checkpoint.pt"
    if not ckpt.is_file():
        raise UsageError(f"{run}: no checkpoint.pt there (give a run folder made by `gencheck run`)")
    import torch

    ck = Checkpoint.load(ckpt)
    model = ck.build_model(torch.device("cpu")).eval()
    corpus = build(resolve_spec(*recorded_corpus(ck)), offline=offline, mirrors=list(mirrors), log=log)
    if corpus.content_hash != ck.corpus_hash:
        raise GencheckError(f"{run}: the corpus {ck.corpus_name} built here differs from the one the run was "
                            f"trained on (content hash {corpus.content_hash[:12]} ≠ {ck.corpus_hash[:12]})")
    return ck, model, corpus, run.name


def render(report: CellsReport):
    """The report as rich renderables: a table of features and their best units, the probe line."""
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=f"cells · {escape(report.run_id)} · {escape(report.model)} · {report.split} split, "
                    f"{report.chars:,} characters of {report.documents} documents, {report.units} units",
              title_justify="left", caption=f"binary features: max(AUC, 1 − AUC) of one unit as a threshold "
                                            f"classifier, tracked from {AUC_THRESHOLD}; numeric: |Pearson r|, "
                                            f"tracked from {R_THRESHOLD}. Units: L<layer>.<h|c>[<index>]",
              caption_justify="left")
    for col, just in (("feature", "left"), ("share / mean", "right"), ("metric", "left"), ("top units", "left"),
                      ("units tracking", "right")):
        t.add_column(col, justify=just)
    for f in report.features:
        if f.skipped:
            t.add_row(escape(f.feature), f"{f.share:.3g}", f.metric, f"[dim]{escape(f.skipped)}[/]", "")
            continue
        tops = "  ".join(f"{escape(u['unit'])} {u['score']:.3f}" for u in f.top)
        t.add_row(escape(f.feature), f"{f.share:.3g}", f.metric, tops,
                  f"{f.above} ({f.above / f.units:.0%})")
    out = [t]
    p = report.probe
    if p:
        out.append(f"linear probe, whole state → {p.feature} (ridge least squares, {p.train_chars:,} train "
                   f"characters, scored on the {p.test_chars:,} above): R² {p.r2:.3f}, rounded prediction exact "
                   f"on {p.exact:.1%} (always the train split's commonest depth: {p.baseline_exact:.1%})")
    out.append(f"[dim]{report.seconds:.1f} s[/]")
    return out


SHOW_CHARS = 2_000  # characters coloured by --show: a screenful or two


def unit_activation(model, vocab, text: str, unit: str) -> np.ndarray:
    """One unit's activation after each character, scaled into [-1, 1] by its largest magnitude here
    (h already lies there; c does not)."""
    st = doc_states(model, vocab, text)
    if unit not in st.names:
        raise UsageError(f"--show {unit}: no such unit; units are {st.names[0]} … {st.names[-1]}")
    a = st.values[:, st.names.index(unit)].astype(float)
    peak = float(np.abs(a).max())
    return a / peak if peak > 0 else a


def mark(a: float) -> str:
    """A plain mark for an activation in [-1, 1], for a log or a pipe: `#`/`+` high, `=`/`-` low."""
    return "#" if a >= 0.5 else "+" if a >= 0.2 else "=" if a <= -0.5 else "-" if a <= -0.2 else " "


def plain_show(text: str, act: np.ndarray) -> str:
    """Each line of text with a line of marks under it, character for character."""
    out, start = [], 0
    for line in text.split("\n"):
        marks = "".join(mark(a) for a in act[start:start + len(line)])
        out += [line, marks.rstrip()]
        start += len(line) + 1
    return "\n".join(out)


def rich_show(text: str, act: np.ndarray):
    """The text with each character's background from blue (−1) through none to red (+1)."""
    from rich.text import Text

    t = Text()
    for ch, a in zip(text, act):
        level = int(round(min(1.0, abs(a)) * 200))
        colour = f"rgb({255 - level // 2},{255 - level},{255 - level})" if a > 0 else \
            f"rgb({255 - level},{255 - level},{255 - level // 2})"
        t.append(ch, style=f"black on {colour}" if ch != "\n" else None)
    return t


def show_command(model, vocab, texts: Sequence[str], unit: str, doc: int) -> int:
    """`--show UNIT --doc N`: the start of document N coloured by the unit (plain marks when not a TTY)."""
    import sys

    from gencheck.progress import SafeConsole as Console

    if not 0 <= doc < len(texts):
        raise UsageError(f"--doc {doc}: the split has " + (f"documents 0 … {len(texts) - 1}" if texts else "no documents"))
    text = texts[doc][:SHOW_CHARS]
    act = unit_activation(model, vocab, text, unit)
    if sys.stdout.isatty():
        Console().print(rich_show(text, act), highlight=False)
    else:
        print(show_controls(plain_show(text, act)))
    return 0


#: The page's style and script, each hashed into its Content-Security-Policy: nothing else may run or
#: style the page (no inline handler, no style attribute from markup, no remote load).
_PAGE_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; }
h1 { font-size: 1.1em; }
pre { font: 13px/1.5 ui-monospace, monospace; white-space: pre-wrap; border: 1px solid #ccc; padding: .8em; }
.key span { padding: 0 .5em; }
.key .neg { background: rgb(55,55,255); }
.key .pos { background: rgb(255,55,55); }
#saturation { border-collapse: collapse; }
#saturation caption { text-align: left; }
#saturation td { padding: 0 .8em; }
"""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="__CSP__">
<title>gencheck cells · __TITLE__</title>
<style>__STYLE__</style></head>
<body>
<h1>gencheck cells · __TITLE__</h1>
<p>unit <select id="unit"></select> <span id="info"></span>
<span class="key">· <span class="neg">&nbsp;</span> −1 · 0 ·
<span class="pos">&nbsp;</span> +1 (each unit scaled by its largest magnitude in this text)</span></p>
<pre id="text"></pre>
<table id="saturation"></table>
<script type="application/json" id="data">__DATA__</script>
<script>__SCRIPT__</script></body></html>
"""

_PAGE_SCRIPT = """
const data = JSON.parse(document.getElementById("data").textContent);
const pre = document.getElementById("text"), pick = document.getElementById("unit");
const spans = Array.from(data.text, ch => { const s = document.createElement("span"); s.textContent = ch;
  pre.appendChild(s); return s; });
data.units.forEach(u => { const o = document.createElement("option"); o.value = o.textContent = u;
  if (Object.hasOwn(data.top, u)) o.textContent += " · " + data.top[u]; pick.appendChild(o); });
function colour(a) {  // a in [-100, 100]: blue below 0, red above, white at 0
  const l = Math.round(Math.min(1, Math.abs(a) / 100) * 200);
  return a > 0 ? `rgb(255,${255 - l},${255 - l})` : `rgb(${255 - l},${255 - l},255)`;
}
function show(unit) {
  const row = data.acts[data.units.indexOf(unit)];
  if (!row) return;
  pick.value = unit;
  spans.forEach((s, i) => { s.style.backgroundColor = data.text[i] === "\\n" ? "" : colour(row[i]); });
  document.getElementById("info").textContent = unit;
  document.body.dataset.unit = unit;
}
if (data.saturation.length) {  // gate saturation per layer, as in the 2015 paper's figure 3
  const t = document.getElementById("saturation");
  t.createCaption().textContent = "gate saturation in this text: share of characters at which a unit's gate is " +
    "below 0.1 (left) or above 0.9 (right), mean over units; units right-saturated most of the time";
  const head = t.createTHead().insertRow();
  ["layer", "gate", "left", "right", "units mostly right"].forEach(h => {
    const th = document.createElement("th"); th.textContent = h; head.appendChild(th); });
  data.saturation.forEach(r => { const tr = t.insertRow();
    [r.layer, r.gate, (100 * r.left).toFixed(1) + " %", (100 * r.right).toFixed(1) + " %",
     r.units_mostly_right + " / " + r.units].forEach(v => { tr.insertCell().textContent = v; }); });
}
pick.addEventListener("change", () => { history.replaceState(null, "", "#" + pick.value); show(pick.value); });
show(decodeURIComponent(location.hash.slice(1)) || data.first);
"""


def html_page(model, vocab, text: str, title: str, first: str | None = None,
              notes: dict[str, str] | None = None) -> str:
    """One self-contained page: the text, every unit's activation per character (scaled to −100…100),
    and a picker; `first` is the unit shown on opening (a `#UNIT` in the address wins). Every value from
    data (text, title, unit names, notes) is escaped for the place it lands; see fill_page."""
    st = doc_states(model, vocab, text)
    peak = np.abs(st.values).max(axis=0)
    acts = np.rint(100 * st.values / np.where(peak > 0, peak, 1)).astype(int)
    data = {"text": text, "units": st.names, "acts": acts.T.tolist(), "first": first or st.names[0],
            "top": notes or {}, "saturation": gate_saturation(model, vocab, text)}
    return fill_page(title, script_json(data))


def script_json(value) -> str:
    """`value` as JSON that is inert inside a <script> element: ASCII only (U+2028/2029 become \\u
    escapes), and `<`, `>`, `&` as \\u003c, \\u003e, \\u0026, so no `</script>`, `<!--` or `]]>` can
    form; JSON.parse reads it back unchanged."""
    import json

    return (json.dumps(value, ensure_ascii=True).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026"))


def _csp_hash(source: str) -> str:
    import base64
    import hashlib

    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def page_csp() -> str:
    """The page's policy: nothing by default, only its own script and style (by hash), no base, no form."""
    return (f"default-src 'none'; script-src {_csp_hash(_PAGE_SCRIPT)}; style-src {_csp_hash(_PAGE_STYLE)}; "
            "img-src 'none'; base-uri 'none'; form-action 'none'")


_SLOT = re.compile(r"__(CSP|TITLE|STYLE|SCRIPT|DATA)__")


def fill_page(title: str, data_json: str) -> str:
    """The page with its slots filled in one pass over the template, so that a value (a title holding
    `__DATA__`) is never itself substituted; each value escaped for where it lands."""
    import html

    values = {"CSP": html.escape(page_csp(), quote=True), "TITLE": html.escape(title, quote=True),
              "STYLE": _PAGE_STYLE, "SCRIPT": _PAGE_SCRIPT, "DATA": data_json}
    return _SLOT.sub(lambda m: values[m.group(1)], _PAGE)


def top_notes(report: CellsReport) -> dict[str, str]:
    """Unit → the features it is among the best units for, for the page's picker."""
    notes: dict[str, list[str]] = {}
    for f in report.features:
        for u in f.top:
            notes.setdefault(u["unit"], []).append(f"{f.feature} {u['score']:.2f}")
    return {u: ", ".join(v) for u, v in notes.items()}


def cells_command(run: Path, split: str = "test", as_json: bool = False, max_chars: int = MAX_CHARS, seed: int = 0,
                  mirrors: Sequence[Path] = (), offline: bool = False, show: str | None = None, doc: int = 0,
                  page: Path | None = None) -> int:
    import json

    from gencheck.progress import SafeConsole as Console

    ck, model, corpus, run_id = load_run(run, mirrors, offline)
    if split not in corpus.splits or split == "train":
        raise UsageError(f"--split {split}: give a held-out split ({', '.join(s for s in corpus.splits if s != 'train')})")
    if show:
        return show_command(model, ck.vocab, corpus.texts(split), show, doc)
    texts = corpus.texts(split)
    if page is not None and not 0 <= doc < len(texts):
        raise UsageError(f"--doc {doc}: the split has " + (f"documents 0 … {len(texts) - 1}" if texts else "no documents"))
    report = analyse(model, ck.vocab, corpus.spec.format, texts, corpus.texts("train"), run_id=run_id,
                     split=split, max_chars=max_chars, seed=seed)
    if as_json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        return 0
    console = Console()
    for r in render(report):
        console.print(r, highlight=False)
    if page is not None:
        from .fsutil import atomic_write_text
        from .progress import log

        best = next((f.top[0]["unit"] for f in report.features if f.top), None)
        atomic_write_text(page, html_page(model, ck.vocab, texts[doc][:SHOW_CHARS], f"{run_id} · {split} document "
                                          f"{doc}", best, top_notes(report)))
        log(f"wrote {page} (document {doc}, every unit; pick one, or open it with #UNIT)")
    return 0
