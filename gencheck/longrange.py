"""Long-range measurements of a trained model, beside n-gram and majority baselines on the same events.

One call (`measure`) after training gives every figure of the scorecard's probes table:

1. teacher-forced closer probes on the test split (`probes.py`) for the model, character n-grams of
   order 20 and 5 fitted on the train split (`ngram.py`), and the majority answer of the train split's
   own events, per opener→closer distance bucket with bootstrap intervals over units of text (documents, or blocks of long ones);
2. the same probes on controlled-distance documents (`controlled.py`), where only the distance varies
   and chance is 1/K: "reach on controlled documents" is a pure memory figure;
3. effective context (`context.py`): bits/char when only the last N characters may be used;
4. the sampled side: the share of wrong closes in the model's samples per distance bucket, from the
   same event definitions (right closes) and the validators' findings (wrong ones).

Rows are named "model", "20-gram", "5-gram" and "majority" everywhere in the JSON.

The n-gram rows do not depend on the model: they are kept in `$GENCHECK_HOME/ngram-rows/` keyed by the
train and test texts, the vocabulary, the orders, the seed and the source of the code that computes them,
so the next run on the same corpus (every other point of a grid) skips fitting and scoring them. A cache
file that cannot be read is computed again and replaced.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from rich.markup import escape

from . import controlled as ct
from . import probes as pr
from . import schema
from . import stats as st
from .context import context_curve, model_context_bits, ngram_context_bits
from .corpus import SEP, Corpus, Vocab, encode, stream
from .fsutil import GencheckError, atomic_write_json, gencheck_home
from .models.ngram import NGramModel
from .ngram import NGram

NGRAM_ORDERS = (20, 5)
#: The headline probe of each format: its events on the controlled documents and in the samples.
HEADLINE = {"latex": "latex_end", "c": "c_closer", "markdown": "markdown_fence"}
#: Validator findings that are a wrong close of the headline's kind (the sampled side's failures).
WRONG_CLOSE_KINDS = {"latex": ("env_mismatch",), "c": ("bracket_mismatch",), "markdown": ("fence_swallowed",)}
#: Characters of the test split the effective-context curve reads at most (it costs ~2 passes per N):
#: 100 k keeps probes within 15 % of the `cpu` profile's training (250 k took 43 s of its 79 s).
CONTEXT_MAX_CHARS = 100_000
#: A string probe whose majority answer is right this often has a single answer (a timing probe).
TRIVIAL_MAJORITY = 0.99
#: Controlled documents scored together in one padded batch: 288 documents of a few lengths per bucket, where
#: one at a time leaves the CPU's matrix units mostly idle.
CONTROLLED_BATCH = 32


def baseline_train(corpus: Corpus) -> list[str]:
    """The train documents the baselines read (n-gram fit, majority answer, opener ranking): all of them, but
    on a drill its first `ngram_chars` characters -- its 20 M characters are generated, and a 20-gram fitted
    on 2 M of them is the same floor (it cannot see an opener more than 20 characters back) at a tenth of
    the cost."""
    drill = corpus.spec.drill
    return head(corpus.texts("train"), drill.ngram_chars if drill else None)


def head(texts: list[str], chars: int | None) -> list[str]:
    """The first documents of `texts` up to `chars` characters in all (all of them when None)."""
    if chars is None:
        return texts
    out, n = [], 0
    for t in texts:
        if n >= chars:
            break
        out.append(t)
        n += len(t)
    return out


def beyond_training(d_train: int) -> list[str]:
    """Distance buckets whose every distance is longer than any training example (`d_train`)."""
    return st.buckets_beyond(d_train)


def drill_floor(corpus: Corpus, train: list[str]) -> float:
    """A drill's least chance level on its headline probe: 1/K, K the openers it draws uniformly (0 for a
    corpus that is no drill: there the best constant answer is the whole null)."""
    drill = corpus.spec.drill
    if drill is None or corpus.spec.format not in HEADLINE:
        return 0.0
    return 1 / len(ct.common_openers(corpus.spec.format, train, drill.k or None))


def drill_view(fmt: str, params, test: list[str], vocab: Vocab, scorer: pr.Scorer, seed: int,
               floor: float) -> dict[str, Any]:
    """What a drill adds to the probes: the buckets beyond `d_train`, and the model's headline accuracy by
    nesting depth × distance (Bhattamishra et al. 2020: bounded depth is what an LSTM can count), each depth
    tested against its own null (the best constant answer on that depth's events, at least `floor`)."""
    probe = HEADLINE[fmt]
    outs, events = pr.probe_outcomes(probe, test, vocab, scorer), pr.scored_events(probe, test, vocab)
    by_depth = {}
    for d in sorted({o.depth for o in outs}):
        null = st.aggregate(st.best_constant_outcomes([e for e in events if e[2] == d]), probe, "null", seed=seed)
        by_depth[str(d)] = st.aggregate([o for o in outs if o.depth == d], probe, "model", seed=seed
                                        ).with_null(null, floor).to_json()
    return {"d_train": params.d_train, "level": params.level, "beyond_training": beyond_training(params.d_train),
            "by_depth": by_depth}


def ngram_row(order: int) -> str:
    return f"{order}-gram"


@dataclass
class LongRange:
    """Everything the probes table shows; `to_json` is the `probes` section of results.json."""

    format: str
    rows: list[str]
    probes: dict[str, dict[str, dict]] = field(default_factory=dict)  # probe -> row -> ProbeResult json
    controlled: dict[str, dict[str, dict]] = field(default_factory=dict)
    controlled_info: dict[str, Any] = field(default_factory=dict)
    context: dict[str, dict] = field(default_factory=dict)  # row -> ContextCurve json
    ngrams: dict[str, dict] = field(default_factory=dict)  # row -> order, build seconds, bytes, bits/char
    sampled: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    drill: dict[str, Any] = field(default_factory=dict)  # a drill corpus's extras (`drill_view`)
    # the 20-gram on the evolution looks' slice of test (real text): what `evolution.memory_formed` must leave
    look_reference: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": self.format, "rows": self.rows, "headline": HEADLINE.get(self.format),
                "buckets": list(st.BUCKET_LABELS), "real": self.probes, "controlled": self.controlled,
                "controlled_info": self.controlled_info, "context": self.context, "ngrams": self.ngrams,
                "sampled": self.sampled, "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
                **({"drill": self.drill} if self.drill else {}),
                **({"look_reference": self.look_reference} if self.look_reference else {})}


def fit_ngrams(train_ids: np.ndarray, vocab: Vocab, orders: Sequence[int]) -> tuple[dict[str, NGram], dict[str, dict]]:
    fitted, info = {}, {}
    for order in orders:
        t0 = time.perf_counter()
        ng = NGram.fit(train_ids, order, vocab.size, vocab.sep_id)
        fitted[ngram_row(order)] = ng
        info[ngram_row(order)] = {"order": order, "build_seconds": round(time.perf_counter() - t0, 2),
                                  "bytes": int(ng.nbytes()), "train_chars": int(len(train_ids))}
    return fitted, info


def real_probes(fmt: str, train: list[str], test: list[str], vocab: Vocab, scorers: dict[str, pr.Scorer],
                seed: int, known: dict[str, list] | None = None,
                headline_floor: float = 0.0) -> dict[str, dict[str, dict]]:
    """Every probe of the format on the test split: one ProbeResult per row (majority from train), each tested
    against the null (the best constant answer per bucket on the same events, `stats.passing_buckets`).
    `known`: outcomes of rows other than the model's, by "real/<probe>/<row>" (read from the n-gram
    cache, and filled with what had to be computed). `headline_floor`: the least chance level of the
    headline probe (a drill's 1/K: its openers are drawn uniformly)."""
    from .progress import progress

    out: dict[str, dict[str, dict]] = {}
    known = known if known is not None else {}
    probes = pr.probes_for(fmt)
    with progress("probes (probe × row)", len(probes) * len(scorers)) as bar:  # minutes on a big test split
        for i, probe in enumerate(probes):
            rows: dict[str, st.ProbeResult] = {}
            for j, (name, scorer) in enumerate(scorers.items()):
                bar.update(i * len(scorers) + j, now=f"{probe.name} {name}")
                if name == "model":
                    rows.update(pr.run_probe(probe, test, vocab, scorer, name, train, seed=seed))
                    continue
                outs = _known(known, f"real/{probe.name}/{name}",
                              partial(pr.probe_outcomes, probe, test, vocab, scorer))
                rows[name] = st.aggregate(outs, probe.name, name, probe.chance, seed=seed)
            out[probe.name] = _probe_rows(fmt, probe, rows, headline_floor, seed)
        bar.update(len(probes) * len(scorers))
    return out


def _look_outcomes(known: dict, probe: str, row: str, look: list[str], test: list[str], vocab: Vocab,
                   scorer: pr.Scorer) -> list[st.Outcome]:
    """`row`'s outcomes of `probe` on the looks' slice. The slice is whole test documents from the first
    (evolution._probe_slice), whose outcomes the test-split row already has: those are kept, not scored
    again. Only a slice cut from one long first document is scored (or read from the cache)."""
    if look == test[:len(look)] and f"real/{probe}/{row}" in known:
        return [o for o in known[f"real/{probe}/{row}"] if o.doc < len(look)]
    key = f"look/{probe}/{row}/{len(look)}/{sum(map(len, look))}"
    return _known(known, key, partial(pr.probe_outcomes, probe, look, vocab, scorer))


def _probe_rows(fmt: str, probe, rows: dict[str, st.ProbeResult], headline_floor: float,
                seed: int) -> dict[str, dict]:
    """One probe's rows as JSON, each tested against the null (see `real_probes`)."""
    null = rows["model"].null
    floor = max(probe.chance or 0.0, headline_floor if probe.name == HEADLINE.get(fmt) else 0.0)
    maj = rows["majority"].overall
    if probe.kind == "string" and maj.events and maj.accuracy >= TRIVIAL_MAJORITY:
        # one answer nearly always (`*/`, a fence): the probe asks *when* it comes, not which, and the
        # majority answer is no floor; such a probe has no chance level and no reach
        rows["majority"].extra["trivial"] = True
        null = None
    for r in rows.values():  # one null for every row: the best constant answer per bucket, at least `floor`
        r.with_null(null, floor)
    rows["model"].extra.update(st.versus(rows, seed))
    return {name: r.to_json() for name, r in rows.items()}


def controlled_probes(fmt: str, train: list[str], test: list[str], vocab: Vocab,
                      scorers: dict[str, pr.Scorer], seed: int, per_bucket: int,
                      answer: str | None = None,
                      plan: Callable[[list], dict[str, pr.Scorer]] | None = None,
                      known: dict[str, list] | None = None) -> tuple[dict, dict]:
    """The headline probe on controlled-distance documents; chance 1/K (K openers drawn uniformly).
    `answer`: the train split's majority answer when the real-text probe has already counted it; `plan`:
    scorers to use instead, made for the documents once they are drawn (the model's, batched)."""
    docs = ct.controlled_documents(fmt, train, test, per_bucket=per_bucket, seed=seed)
    if plan is not None:
        scorers = {**scorers, **plan(docs)}
    name = HEADLINE[fmt]
    openers = sorted({d.opener for d in docs})
    chance = 1 / len(openers)
    rows: dict[str, st.ProbeResult] = {}
    known = known if known is not None else {}
    for row, scorer in scorers.items():
        score = partial(ct.outcomes, docs, vocab, scorer, name)
        outs = score() if row == "model" else _known(known, f"controlled/{name}/{row}", score)
        rows[row] = st.aggregate(outs, name, row, chance, seed=seed)
    if answer is None:
        answer = pr.majority_answer(name, train)
    maj = [st.Outcome(i, d.event.distance, d.event.depth, d.event.target == answer, None) for i, d in enumerate(docs)]
    rows["majority"] = st.aggregate(maj, name, "majority", chance, seed=seed)
    rows["majority"].extra["answer"] = answer
    null = st.aggregate(ct.null_outcomes(docs, vocab, name), name, "null", seed=seed)
    for r in rows.values():  # tested against the best constant answer per bucket, and at least 1/K
        r.with_null(null, chance)
    if "model" in rows:
        rows["model"].extra.update(st.versus(rows, seed))
    info = {"probe": name, "documents": len(docs), "openers": openers, "chance": round(chance, 4),
            "per_bucket": per_bucket, "depth": 1}
    return {name: {row: r.to_json() for row, r in rows.items()}}, info


def context_curves(test: list[str], vocab: Vocab, model, device, ngrams: dict[str, NGram],
                   known: dict[str, dict] | None = None) -> dict[str, dict]:
    """The model's curve, and each n-gram row's (taken from `known`, by "context/<row>", where there)."""
    known = known if known is not None else {}
    docs, used = [], 0
    for t in test:
        if used >= CONTEXT_MAX_CHARS:
            break
        t = t[: CONTEXT_MAX_CHARS - used]
        docs.append(encode(SEP + t, vocab))
        used += len(t)
    def curve_json(bits) -> dict:
        c = context_curve(bits, docs)
        c.extra["chars"] = used
        return c.to_json()

    out = {"model": curve_json(lambda d, N: model_context_bits(model, d, N, device))}
    for row, ng in ngrams.items():
        out[row] = _known(known, f"context/{row}", lambda ng=ng: curve_json(_ngram_bits(ng)))
    return out


def _known(known: dict, key: str, compute: Callable[[], Any]) -> Any:
    """An n-gram row's figures: from `known` (the cache) where there, else computed and added to it."""
    if key not in known:
        known[key] = compute()
    return known[key]


def _ngram_bits(ng: NGram):
    """`ngram_context_bits`, reusing the full-context figure where the windows already give every scored
    position at least order-1 characters (N - N//2 + 1 >= order - 1): there the n-gram cannot see more,
    so the figure is the same to the last bit (a test checks it) and computing it again is waste."""
    full: dict[str, tuple[float, int]] = {}

    def bits(docs, N):
        if N is not None and N - N // 2 + 1 < ng.order - 1:
            return ngram_context_bits(ng, docs, N)
        if "v" not in full:
            full["v"] = ngram_context_bits(ng, docs, None)
        return full["v"]

    return bits


def sampled_side(fmt: str, samples: Sequence[str], verdicts: Sequence) -> dict[str, Any]:
    """Wrong closes per distance bucket in the samples: right closes are the headline probe's events
    found in each sample (the same definition as on real text), wrong ones the validator's findings of
    WRONG_CLOSE_KINDS with their opener distance."""
    name = HEADLINE.get(fmt)
    if name is None or not samples:
        return {}
    right = [0] * len(st.BUCKET_LABELS)
    wrong = [0] * len(st.BUCKET_LABELS)
    for text in samples:
        for e in pr.PROBES[name].extract(text):
            right[st.bucket_of(e.distance)] += 1
    kinds = WRONG_CLOSE_KINDS[fmt]
    for v in verdicts:
        for f in v.findings:
            if f.kind in kinds and f.distance is not None:
                wrong[st.bucket_of(f.distance)] += 1
    cells = []
    for label, r, w in zip(st.BUCKET_LABELS, right, wrong):
        n = r + w
        cells.append({"bucket": label, "closes": n, "wrong": w, "too_few": n < st.MIN_EVENTS,
                      "error_rate": round(w / n, 4) if n >= st.MIN_EVENTS else None})
    return {"probe": name, "wrong_kinds": list(kinds), "samples": len(samples), "buckets": cells}


def measure(corpus: Corpus, model, vocab: Vocab, device, *, seed: int = 0, orders: Sequence[int] = NGRAM_ORDERS,
            per_bucket: int = 48, samples: Sequence[str] = (), verdicts: Sequence = (),
            log: Callable[[str], None] | None = None, look_texts: Sequence[str] = ()) -> LongRange:
    """All long-range figures of one trained model (see the module docstring). The n-gram rows come from
    the cache where it holds them all; a cache that turns out to lack one is set aside and every row
    computed again (and the cache replaced). `look_texts`: the evolution looks' slice of test, on which the
    20-gram's headline probe is scored too (`look_reference`), so that the looks can say when the model left it."""
    say = log or (lambda _msg: None)
    cache = ngram_cache_file(baseline_train(corpus), corpus.texts("test"), vocab, orders, seed, per_bucket)
    known = read_ngram_cache(cache, [ngram_row(o) for o in orders])
    if known is not None:
        try:
            return _measure(corpus, model, vocab, device, seed, orders, per_bucket, samples, verdicts, say, cache,
                            known, look_texts)
        except _CacheMiss as miss:
            say(f"the n-gram cache {escape(str(cache))} lacks {escape(str(miss))}: computing the rows again")
    return _measure(corpus, model, vocab, device, seed, orders, per_bucket, samples, verdicts, say, cache, None,
                    look_texts)


def _measure(corpus: Corpus, model, vocab: Vocab, device, seed: int, orders: Sequence[int], per_bucket: int,
             samples: Sequence[str], verdicts: Sequence, say: Callable[[str], None], cache: Path | None,
             known: dict | None, look_texts: Sequence[str] = ()) -> LongRange:
    """`measure` with the n-gram rows in `known` (read from `cache`), or None to fit and compute them."""
    fmt = corpus.spec.format
    train, test = baseline_train(corpus), corpus.texts("test")
    lr = LongRange(fmt, ["model", *(ngram_row(o) for o in orders), "majority"])
    t0 = time.perf_counter()
    from_cache = known is not None
    if known is not None:
        say(f"n-gram rows of order {', '.join(map(str, orders))}: computed before, {escape(str(cache))}")
        lr.ngrams = {row: {**info, "cached": True} for row, info in known.pop("ngrams").items()}
        ngrams = {row: _CachedRow() for row in lr.ngrams}
    else:
        known = {}
        say(f"fitting character n-grams of order {', '.join(map(str, orders))} on the train split")
        ngrams, lr.ngrams = fit_ngrams(stream(train, vocab), vocab, orders)
        test_ids = stream(test, vocab)
        for row, ng in ngrams.items():
            lr.ngrams[row]["test_bpc"] = round(ng.bits_per_char(test_ids), 4)
    lr.seconds["ngram"] = time.perf_counter() - t0
    rows = {"model": model, **{row: NGramModel(ng) for row, ng in ngrams.items()}}  # every row a model
    scorers: dict[str, pr.Scorer] = {row: pr.scorer_for(m, device) for row, m in rows.items()}
    t = time.perf_counter()
    if pr.probes_for(fmt):
        say(f"probing closers on {len(test)} test documents")
        one_pass = pr.planned_model_scorer(model, device, pr.probe_requests(pr.probes_for(fmt), test, vocab))
        floor = drill_floor(corpus, train)
        lr.probes = real_probes(fmt, train, test, vocab, {**scorers, "model": one_pass}, seed, known, floor)
        drill = corpus.spec.drill
        if drill is not None and fmt in HEADLINE:
            lr.drill = drill_view(fmt, drill, test, vocab, one_pass, seed, floor)
        reference = ngram_row(max(orders)) if orders else None
        if look_texts and drill is None and fmt in HEADLINE and reference in scorers:
            outs = _look_outcomes(known, HEADLINE[fmt], reference, list(look_texts), test, vocab, scorers[reference])
            lr.look_reference = {"row": reference, "probe": HEADLINE[fmt], "chars": sum(map(len, look_texts)),
                                 "probe_buckets": st.bucket_counts(outs)}
    lr.seconds["probes"] = time.perf_counter() - t
    t = time.perf_counter()
    if fmt in HEADLINE:
        say("probing controlled-distance documents")
        try:
            answer = ((lr.probes.get(HEADLINE[fmt]) or {}).get("majority") or {}).get("answer")  # scanned once
            lr.controlled, lr.controlled_info = controlled_probes(
                fmt, train, test, vocab, scorers, seed, per_bucket, answer,
                plan=lambda docs: {"model": pr.planned_model_scorer(model, device, ct.requests(docs, vocab),
                                                                    batch_size=CONTROLLED_BATCH)}, known=known)
        except GencheckError as exc:  # a corpus too small to cut filler from: said, not fatal
            lr.controlled_info = {"skipped": str(exc)}
            say(f"[yellow]no controlled documents: {escape(str(exc))}[/]")
    lr.seconds["controlled"] = time.perf_counter() - t
    t = time.perf_counter()
    say("measuring effective context")
    lr.context = context_curves(test, vocab, model, device, ngrams, known)
    if cache is not None and not from_cache:
        write_ngram_cache(cache, lr.ngrams, known)
    lr.seconds["context"] = time.perf_counter() - t
    lr.sampled = sampled_side(fmt, samples, verdicts)
    lr.seconds["total"] = time.perf_counter() - t0
    return lr


#: The modules whose code decides the n-gram rows: a change to any of them is a new cache key.
_ROW_CODE = ("longrange.py", "ngram.py", "probes.py", "stats.py", "controlled.py", "context.py", "corpus.py")


class _CacheMiss(Exception):
    """An n-gram row was needed that the cache does not hold (a damaged or partial file)."""


class _CachedRow:
    """Stands for an n-gram whose rows all come from the cache: asking it anything means the cache lacks a
    row, and `measure` computes them all again."""

    def __getattr__(self, name: str):
        raise _CacheMiss(f"what the n-gram's {name} would give")


def ngram_cache_file(train: list[str], test: list[str], vocab: Vocab, orders: Sequence[int], seed: int,
                     per_bucket: int) -> Path | None:
    """Where the n-gram rows of these texts and settings are kept (None: no cache folder can be used)."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in _ROW_CODE:
        h.update((here / name).read_bytes())
    h.update(json.dumps({"chars": list(vocab.chars), "orders": list(orders), "seed": seed, "per_bucket": per_bucket,
                         "context_chars": CONTEXT_MAX_CHARS, "train": len(train), "test": len(test)}).encode())
    for t in [*train, "\0", *test]:
        h.update(t.encode("utf-8", "surrogatepass") + b"\0")
    try:
        return gencheck_home() / "ngram-rows" / f"{h.hexdigest()[:24]}.json"
    except OSError:
        return None


_OUTCOMES = schema.list_of(schema.tuple_of(schema.whole, schema.whole, schema.whole, schema.boolean,
                                           schema.optional(schema.number), schema.whole))
_CACHE = schema.obj({"ngrams": schema.dict_of(schema.obj()), "rows": schema.dict_of(schema.anything)})


def read_ngram_cache(path: Path | None, rows: Sequence[str]) -> dict | None:
    """The cached rows as `known` (outcomes as stats.Outcome), or None when absent, unreadable or of another
    shape (for other n-gram `rows`, with an outcome or a context curve that is not one): computed again and
    replaced, a damaged cache never decides a figure."""
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        _CACHE(data, "")
        if set(data["ngrams"]) != set(rows):
            return None
        known: dict = {"ngrams": data["ngrams"]}
        for key, value in data["rows"].items():
            (schema.CONTEXT if key.startswith("context/") else _OUTCOMES)(value, key)
            known[key] = value if key.startswith("context/") else [st.Outcome(*o) for o in value]
        return known
    except (OSError, ValueError, RecursionError):  # a ShapeError is a ValueError
        return None


def write_ngram_cache(path: Path, ngrams: dict, known: dict) -> None:
    rows = {k: (v if k.startswith("context/") else [[o.doc, o.distance, o.depth, o.correct, o.bits, o.block] for o in v])
            for k, v in known.items()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, {"ngrams": ngrams, "rows": rows})
    except (OSError, GencheckError):
        pass  # a cache that cannot be written only costs the next run the time
