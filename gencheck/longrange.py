"""Long-range measurements of a trained model, beside n-gram and majority baselines on the same events.

One call (`measure`) after training gives every figure of the scorecard's probes table:

1. teacher-forced closer probes on the test split (`probes.py`) for the model, character n-grams of
   order 20 and 5 fitted on the train split (`ngram.py`), and the majority answer of the train split's
   own events, per opener→closer distance bucket with bootstrap intervals over documents;
2. the same probes on controlled-distance documents (`controlled.py`), where only the distance varies
   and chance is 1/K: "reach on controlled documents" is a pure memory figure;
3. effective context (`context.py`): bits/char when only the last N characters may be used;
4. the sampled side: the share of wrong closes in the model's samples per distance bucket, from the
   same event definitions (right closes) and the validators' findings (wrong ones).

Rows are named "model", "20-gram", "5-gram" and "majority" everywhere in the JSON.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from . import controlled as ct
from . import probes as pr
from .context import context_curve, model_context_bits, ngram_context_bits
from .corpus import SEP, Corpus, Vocab, encode, stream
from .fsutil import GencheckError
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

    def to_json(self) -> dict[str, Any]:
        return {"format": self.format, "rows": self.rows, "headline": HEADLINE.get(self.format),
                "buckets": list(pr.BUCKET_LABELS), "real": self.probes, "controlled": self.controlled,
                "controlled_info": self.controlled_info, "context": self.context, "ngrams": self.ngrams,
                "sampled": self.sampled, "seconds": {k: round(v, 2) for k, v in self.seconds.items()}}


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
                seed: int) -> dict[str, dict[str, dict]]:
    """Every probe of the format on the test split: one ProbeResult per row (majority from train)."""
    out: dict[str, dict[str, dict]] = {}
    for probe in pr.probes_for(fmt):
        rows: dict[str, pr.ProbeResult] = {}
        for name, scorer in scorers.items():
            got = pr.run_probe(probe, test, vocab, scorer, name, train if name == "model" else None, seed=seed)
            rows.update(got)
        chance = rows["model"].chance
        maj = rows["majority"].overall
        if probe.kind == "string" and maj.events and maj.accuracy >= TRIVIAL_MAJORITY:
            # one answer nearly always (`*/`, a fence): the probe asks *when* it comes, not which, and the
            # majority answer is no floor; such a probe has no chance level and no reach
            rows["majority"].extra["trivial"] = True
            chance = None
        for r in rows.values():  # one chance for every row: 1/candidates, or the majority per bucket
            r.chance = chance
        out[probe.name] = {name: r.to_json() for name, r in rows.items()}
    return out


def controlled_probes(fmt: str, train: list[str], test: list[str], vocab: Vocab,
                      scorers: dict[str, pr.Scorer], seed: int, per_bucket: int,
                      answer: str | None = None,
                      plan: Callable[[list], dict[str, pr.Scorer]] | None = None) -> tuple[dict, dict]:
    """The headline probe on controlled-distance documents; chance 1/K (K openers drawn uniformly).
    `answer`: the train split's majority answer when the real-text probe has already counted it; `plan`:
    scorers to use instead, made for the documents once they are drawn (the model's, batched)."""
    docs = ct.controlled_documents(fmt, train, test, per_bucket=per_bucket, seed=seed)
    if plan is not None:
        scorers = {**scorers, **plan(docs)}
    name = HEADLINE[fmt]
    openers = sorted({d.opener for d in docs})
    chance = 1 / len(openers)
    rows: dict[str, dict] = {}
    for row, scorer in scorers.items():
        outs = ct.outcomes(docs, vocab, scorer, name)
        res = pr.aggregate(outs, name, row, chance, seed=seed)
        rows[row] = res.to_json()
    if answer is None:
        answer = pr.majority_answer(name, train)
    maj = [pr.Outcome(i, d.event.distance, d.event.depth, d.event.target == answer, None) for i, d in enumerate(docs)]
    base = pr.aggregate(maj, name, "majority", chance, seed=seed)
    base.extra["answer"] = answer
    rows["majority"] = base.to_json()
    info = {"probe": name, "documents": len(docs), "openers": openers, "chance": round(chance, 4),
            "per_bucket": per_bucket, "depth": 1}
    return {name: rows}, info


def context_curves(test: list[str], vocab: Vocab, model, device, ngrams: dict[str, NGram]) -> dict[str, dict]:
    docs, used = [], 0
    for t in test:
        if used >= CONTEXT_MAX_CHARS:
            break
        t = t[: CONTEXT_MAX_CHARS - used]
        docs.append(encode(SEP + t, vocab))
        used += len(t)
    curves = {"model": context_curve(lambda d, N: model_context_bits(model, d, N, device), docs)}
    for row, ng in ngrams.items():
        curves[row] = context_curve(_ngram_bits(ng), docs)
    out = {}
    for row, c in curves.items():
        c.extra["chars"] = used
        out[row] = c.to_json()
    return out


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
    right = [0] * len(pr.BUCKET_LABELS)
    wrong = [0] * len(pr.BUCKET_LABELS)
    for text in samples:
        for e in pr.PROBES[name].extract(text):
            right[pr.bucket_of(e.distance)] += 1
    kinds = WRONG_CLOSE_KINDS[fmt]
    for v in verdicts:
        for f in v.findings:
            if f.kind in kinds and f.distance is not None:
                wrong[pr.bucket_of(f.distance)] += 1
    cells = []
    for label, r, w in zip(pr.BUCKET_LABELS, right, wrong):
        n = r + w
        cells.append({"bucket": label, "closes": n, "wrong": w, "too_few": n < pr.MIN_EVENTS,
                      "error_rate": round(w / n, 4) if n >= pr.MIN_EVENTS else None})
    return {"probe": name, "wrong_kinds": list(kinds), "samples": len(samples), "buckets": cells}


def measure(corpus: Corpus, model, vocab: Vocab, device, *, seed: int = 0, orders: Sequence[int] = NGRAM_ORDERS,
            per_bucket: int = 48, samples: Sequence[str] = (), verdicts: Sequence = (),
            log: Callable[[str], None] | None = None) -> LongRange:
    """All long-range figures of one trained model (see the module docstring)."""
    fmt = corpus.spec.format
    train, test = corpus.texts("train"), corpus.texts("test")
    say = log or (lambda _msg: None)
    lr = LongRange(fmt, ["model", *(ngram_row(o) for o in orders), "majority"])
    t0 = time.perf_counter()
    say(f"fitting character n-grams of order {', '.join(map(str, orders))} on the train split")
    ngrams, lr.ngrams = fit_ngrams(stream(train, vocab), vocab, orders)
    test_ids = stream(test, vocab)
    for row, ng in ngrams.items():
        lr.ngrams[row]["test_bpc"] = round(ng.bits_per_char(test_ids), 4)
    lr.seconds["ngram"] = time.perf_counter() - t0
    scorers: dict[str, pr.Scorer] = {"model": pr.model_scorer(model, device)}
    scorers.update({row: pr.ngram_scorer(ng) for row, ng in ngrams.items()})
    t = time.perf_counter()
    if pr.probes_for(fmt):
        say(f"probing closers on {len(test)} test documents")
        one_pass = pr.planned_model_scorer(model, device, pr.probe_requests(pr.probes_for(fmt), test, vocab))
        lr.probes = real_probes(fmt, train, test, vocab, {**scorers, "model": one_pass}, seed)
    lr.seconds["probes"] = time.perf_counter() - t
    t = time.perf_counter()
    if fmt in HEADLINE:
        say("probing controlled-distance documents")
        try:
            known = ((lr.probes.get(HEADLINE[fmt]) or {}).get("majority") or {}).get("answer")  # scanned once
            lr.controlled, lr.controlled_info = controlled_probes(
                fmt, train, test, vocab, scorers, seed, per_bucket, known,
                plan=lambda docs: {"model": pr.planned_model_scorer(model, device, ct.requests(docs, vocab),
                                                                    batch_size=CONTROLLED_BATCH)})
        except GencheckError as exc:  # a corpus too small to cut filler from: said, not fatal
            lr.controlled_info = {"skipped": str(exc)}
            say(f"[yellow]no controlled documents: {exc}[/]")
    lr.seconds["controlled"] = time.perf_counter() - t
    t = time.perf_counter()
    say("measuring effective context")
    lr.context = context_curves(test, vocab, model, device, ngrams)
    lr.seconds["context"] = time.perf_counter() - t
    lr.sampled = sampled_side(fmt, samples, verdicts)
    lr.seconds["total"] = time.perf_counter() - t0
    return lr
