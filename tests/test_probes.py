"""Closer probes (events, scoring, bootstrap, reach) and effective context, on hand-written text and
tiny seeded models (CPU, seconds)."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
import torch

from gencheck.context import (
    CONTEXT_LENGTHS,
    context_curve,
    effective_context,
    model_context_bits,
    ngram_context_bits,
    window_context,
    windows,
)
from gencheck.corpus import SEP, Vocab, encode
from gencheck.model import CharRNN, ModelConfig
from gencheck.ngram import NGram
from gencheck.stats import BUCKET_LABELS, Cell, Outcome, aggregate, bucket_of, paired_difference, versus
from gencheck.probes import (
    PROBES,
    Event,
    c_comment_events,
    c_closer_events,
    latex_closer_events,
    latex_env_events,
    majority_answer,
    markdown_fence_events,
    markdown_link_events,
    model_logprobs,
    model_position_bits,
    model_scorer,
    ngram_scorer,
    probe_outcomes,
    probes_for,
    run_probe,
    model_logprobs_batched,
    planned_model_scorer,
    probe_requests,
)

CPU = torch.device("cpu")

LATEX = (
    "\\begin{proof}\nLet $x$ be {a} point, \\[ y \\].\n\\begin{align}\na\n\\end{align}\n% \\end{proof}\n"
    "\\begin{verbatim}\n\\end{lemma} }\n\\end{verbatim}\n\\end{proof}\n"
)
C = 'int f(int a[3]) { /* c { */ return g(a[0], "}"); } // )\n#if 0\n{\n#endif\n#define X (\n'
MARKDOWN = ("See [the docs](http://x.org/a_(b)) and [ref][1].\n\n```python\n[not](a link)\n```\n\n"
            "`[code](x)` and [a [nested] link](u).\n")


def at(text: str, sub: str, start: int = 0) -> int:
    return text.index(sub, start)


# --- events --------------------------------------------------------------------------------------------

def test_latex_environment_events():
    t = LATEX
    align_end, proof_end = at(t, "\\end{align}"), t.rindex("\\end{proof}")
    assert latex_env_events(t) == [
        Event(align_end + 5, "align}", align_end - at(t, "\\begin{align}"), 2),
        Event(proof_end + 5, "proof}", proof_end - at(t, "\\begin{proof}"), 1),
    ]  # not the commented \end{proof}, not the \end{lemma} inside verbatim, not verbatim's own \end
    # a wrong \end closes nothing it should: no event, and the stack recovers as corpus info reads it
    t2 = "\\begin{a}\\begin{b}\\end{a}\\begin{c}\\end{c}\\end{x}"
    assert [e.target for e in latex_env_events(t2)] == ["c}"]
    assert latex_env_events(t2)[0].depth == 1
    assert latex_env_events("\\begin{proof}\\end {proof}")[0].target == "proof}"


def test_latex_closer_events():
    t = LATEX
    d1, d2 = at(t, "$"), at(t, "$", at(t, "$") + 1)
    b1, b2 = at(t, "{a}"), at(t, "{a}") + 2
    m1, m2 = at(t, "\\["), at(t, "\\]")
    assert latex_closer_events(t) == [
        Event(d2, "$", d2 - d1, 2), Event(b2, "}", b2 - b1, 2), Event(m2 + 1, "]", m2 - m1, 2),
    ]  # depth 2: inside \begin{proof}; the } in verbatim and the braces of \begin{..} are no events
    t2 = "$$a$$ \\verb|}| {x {y} \\url{a}} $b$"
    ev = latex_closer_events(t2)
    assert [(e.target, e.distance, e.depth) for e in ev] == [("$", 3, 1), ("}", 2, 2), ("}", 14, 1), ("$", 2, 1)]


def test_c_events():
    t = C
    f, a1, body = at(t, "("), at(t, "["), at(t, "{")
    g, a2 = at(t, "g("), at(t, "a[0")
    assert c_closer_events(t) == [
        Event(at(t, "]"), "]", 2, 2), Event(at(t, ")"), ")", at(t, ")") - f, 1),
        Event(at(t, "]", a2), "]", 2, 3), Event(at(t, ")", g), ")", at(t, ")", g) - (g + 1), 2),
        Event(at(t, "; }") + 2, "}", at(t, "; }") + 2 - body, 1),
    ]  # the { in the comment, the } in the string, the ) in // and the #if 0 / #define lines: none
    assert c_comment_events(t) == [Event(at(t, "*/"), "*/", at(t, "*/") - at(t, "/*"), 1)]
    t2 = 'char *s = "/* no */"; // /* no */\n/* yes */'
    assert c_comment_events(t2) == [Event(t2.rindex("*/"), "*/", t2.rindex("*/") - t2.rindex("/*"), 1)]


def test_markdown_events():
    t = MARKDOWN
    assert markdown_link_events(t) == [
        Event(at(t, "]("), "]", at(t, "](") - at(t, "[the"), 1),
        Event(at(t, ")) and") + 1, ")", at(t, ")) and") + 1 - at(t, "(http"), 1),
        Event(at(t, "][1]"), "]", at(t, "][1]") - at(t, "[ref"), 1),
        Event(at(t, "](u"), "]", at(t, "](u") - at(t, "[a [n"), 1),
        Event(at(t, "(u)") + 2, ")", 2, 1),
    ]  # not in the fence, not in the code span, not [1] (no link follows), not the inner [nested]
    close = t.rindex("```")
    assert markdown_fence_events(t) == [Event(close, "```", close - at(t, "```python"), 1)]
    assert markdown_fence_events("~~~\na\n```\n~~~~\n") == [Event(10, "~~~~", 10, 1)]


def test_buckets_and_registry():
    assert [bucket_of(d) for d in (1, 10, 11, 30, 31, 100, 101, 1000, 1001, 3000, 3001, 10**6)] == \
        [0, 0, 1, 1, 2, 2, 3, 4, 5, 5, 6, 6]
    assert len(BUCKET_LABELS) == 7
    assert {p.name for p in probes_for("latex")} == {"latex_end", "latex_closer"}
    assert PROBES["c_closer"].chance == pytest.approx(1 / 3) and PROBES["c_comment"].chance is None
    for p in PROBES.values():  # every event's target is where the event says
        text = {"latex": LATEX, "c": C, "markdown": MARKDOWN}[p.format]
        for e in p.extract(text):
            assert text[e.pos:e.pos + len(e.target)] == e.target and e.distance > 0 and e.depth >= 1
            if p.kind == "choice":
                assert e.target in p.candidates


# --- scoring -------------------------------------------------------------------------------------------

def oracle_scorer(sharp: float):
    """Puts probability `sharp` on the true next id (uniform elsewhere): a perfect / a clueless model."""

    def score(ids, positions, candidates=None):
        V = 64
        lp = np.full((len(positions), V), np.log2((1 - sharp) / (V - 1)))
        lp[np.arange(len(positions)), ids[positions]] = np.log2(sharp)
        return lp if candidates is None else lp[:, candidates]

    return score


def test_probe_outcomes_with_oracles():
    vocab = Vocab.from_texts([LATEX, C, MARKDOWN])
    assert vocab.size <= 64
    for name, text in (("latex_end", LATEX), ("latex_closer", LATEX), ("c_closer", C), ("c_comment", C),
                       ("markdown_link", MARKDOWN), ("markdown_fence", MARKDOWN)):
        good = probe_outcomes(name, [text, text], vocab, oracle_scorer(0.9))
        n = len(PROBES[name].extract(text))
        assert len(good) == 2 * n and {o.doc for o in good} == {0, 1}
        assert all(o.correct for o in good)
        lengths = [len(e.target) for e in PROBES[name].extract(text)] * 2
        assert [o.bits for o in good] == pytest.approx([-np.log2(0.9) * k for k in lengths])
        flat = probe_outcomes(name, [text], vocab, oracle_scorer(1 / 64))  # all equal: ties are wrong
        assert not any(o.correct for o in flat)


def test_model_pass_in_chunks_equals_one_pass():
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(30, "lstm", layers=2, hidden=24, embed=8)).eval()
    ids = np.random.default_rng(0).integers(0, 30, 200)
    one = model_logprobs(model, ids, CPU, chunk=1000)
    for chunk in (1, 7, 64):
        np.testing.assert_allclose(model_logprobs(model, ids, CPU, chunk=chunk), one, atol=1e-5)
    with torch.no_grad():
        ref = torch.log_softmax(model(torch.from_numpy(ids)[None])[0][0], -1).numpy() / np.log(2)
    np.testing.assert_allclose(one, ref[:-1], atol=1e-5)
    pos = np.array([150, 3, 199, 200, 3])
    np.testing.assert_allclose(model_logprobs(model, ids, CPU, chunk=9, positions=pos), ref[pos - 1], atol=1e-5)
    np.testing.assert_allclose(np.exp2(one).sum(axis=1), 1.0, atol=1e-5)
    # batched, padded sequences: the same bits as one pass each
    seqs = [ids[:50], ids[20:200], ids[5:6], ids[:120]]
    for b, s in zip(model_position_bits(model, seqs, CPU, batch_size=3, chunk=16), seqs):
        full = model_logprobs(model, s, CPU) if len(s) > 1 else np.zeros((0, 30))
        np.testing.assert_allclose(b, -full[np.arange(len(s) - 1), s[1:]], atol=1e-5)


def test_model_and_ngram_scorers_run_a_probe(fixture_corpus):
    vocab = Vocab.from_texts(fixture_corpus.texts("train"))
    train, test = fixture_corpus.texts("train"), fixture_corpus.texts("test") + fixture_corpus.texts("val")
    from gencheck.corpus import stream

    ng = NGram.fit(stream(train, vocab), 8, vocab.size)
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab.size, "lstm", layers=1, hidden=16, embed=8))
    for name in ("latex_end", "latex_closer"):
        for scorer, label in ((ngram_scorer(ng), "ngram"), (model_scorer(model, CPU, chunk=100), "model")):
            res = run_probe(name, test, vocab, scorer, label, train_texts=train, resamples=200)
            assert set(res) == {label, "majority"}
            js = json.loads(json.dumps({k: r.to_json() for k, r in res.items()}))
            assert js[label]["overall"]["events"] == js["majority"]["overall"]["events"] > 0
            assert sum(c["events"] for c in js[label]["buckets"]) == js[label]["overall"]["events"]
    # the n-gram knows far more than an untrained model about closing braces
    ngr = run_probe("latex_closer", test, vocab, ngram_scorer(ng), "ngram", resamples=100)["ngram"]
    mdl = run_probe("latex_closer", test, vocab, model_scorer(model, CPU), "model", resamples=100)["model"]
    assert ngr.overall.accuracy > mdl.overall.accuracy


def test_one_pass_for_all_probes_gives_each_probe_its_own_outcomes(fixture_corpus):
    vocab = Vocab.from_texts(fixture_corpus.texts("train"))
    test = fixture_corpus.texts("test") + fixture_corpus.texts("val") + [LATEX]
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab.size, "lstm", layers=2, hidden=16, embed=8)).eval()
    passes = []
    real_forward = model.forward
    model.forward = lambda x, state=None: (passes.append(x.shape[1]), real_forward(x, state))[1]
    shared = planned_model_scorer(model, CPU, probe_requests(probes_for("latex"), test, vocab), chunk=64)
    planned = len(passes)
    for name in ("latex_end", "latex_closer"):
        alone = probe_outcomes(name, test, vocab, model_scorer(model, CPU, chunk=64))
        assert alone and probe_outcomes(name, test, vocab, shared) == alone  # to the bit
    own = len(passes) - planned
    passes.clear()
    for name in ("latex_end", "latex_closer"):
        probe_outcomes(name, test, vocab, shared)
    assert passes == [] and planned < own  # the probes asked nothing more of the model
    other = encode(SEP + "\\begin{x}unplanned\\end{x}", vocab)  # not planned: scored by a pass of its own
    np.testing.assert_array_equal(shared(other, np.array([3, 5])), model_logprobs(model, other, CPU, 64, np.array([3, 5])))


def test_batched_passes_equal_one_pass_each():
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(30, "lstm", layers=2, hidden=24, embed=8)).eval()
    rng = np.random.default_rng(1)
    reqs = [(rng.integers(0, 30, n), np.sort(rng.choice(np.arange(1, n + 1), k, replace=False)))
            for n, k in ((50, 5), (300, 9), (7, 7), (120, 1), (301, 3))] + [(rng.integers(0, 30, 10), np.zeros(0, np.int64))]
    for got, (ids, pos) in zip(model_logprobs_batched(model, reqs, CPU, batch_size=3, chunk=64), reqs):
        assert got.shape == (len(pos), 30)
        if len(pos):
            np.testing.assert_allclose(got, model_logprobs(model, ids, CPU, 64, pos), atol=1e-5)


def test_controlled_documents_batched_score_as_one_at_a_time(fixture_corpus):
    from gencheck import controlled as ct

    vocab = Vocab.from_texts(fixture_corpus.texts("train"))
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab.size, "lstm", layers=1, hidden=16, embed=8)).eval()
    docs = ct.controlled_documents("latex", fixture_corpus.texts("train"), fixture_corpus.texts("train"),
                                   per_bucket=4, seed=3, buckets=BUCKET_LABELS[:3])
    alone = ct.outcomes(docs, vocab, model_scorer(model, CPU))
    batched = ct.outcomes(docs, vocab, planned_model_scorer(model, CPU, ct.requests(docs, vocab), batch_size=5))
    assert len(alone) == len(docs) == len(batched)
    assert [o.correct for o in alone] == [o.correct for o in batched]
    np.testing.assert_allclose([o.bits for o in alone], [o.bits for o in batched], atol=1e-4)


def test_majority_baseline():
    train = ["\\begin{proof}x\\end{proof}"] * 3 + ["\\begin{lemma}y\\end{lemma}"] * 2
    assert majority_answer("latex_end", train) == "proof}"
    assert majority_answer("latex_closer", ["{a}{b}$c$"]) == "}"
    assert majority_answer("latex_end", []) is None
    vocab = Vocab.from_texts(train)
    res = run_probe("latex_end", ["\\begin{proof}a\\end{proof}\\begin{lemma}b\\end{lemma}"], vocab,
                    oracle_scorer(0.9), train_texts=train, resamples=50, min_events=1)
    assert res["majority"].overall.accuracy == 0.5 and res["majority"].extra["answer"] == "proof}"
    assert res["model"].overall.accuracy == 1.0
    assert res["model"].chance == {"11-30": 0.5}  # a string probe's chance: the majority's accuracy


def synthetic(docs: int, p: float, seed: int, per_doc: int = 10, distance: int = 50) -> list[Outcome]:
    rng = np.random.default_rng(seed)
    out = []
    for d in range(docs):
        q = np.clip(p + rng.normal(0, 0.1), 0, 1)  # documents differ: events within one are correlated
        out += [Outcome(d, distance, 1, bool(rng.random() < q), float(rng.exponential(2))) for _ in range(per_doc)]
    return out


def test_bootstrap_interval_contains_estimate_and_narrows():
    small, big = aggregate(synthetic(10, 0.7, 0), "x"), aggregate(synthetic(300, 0.7, 0), "x")
    for r in (small, big):
        c = r.cells[bucket_of(50)]
        assert c.ci[0] <= c.accuracy <= c.ci[1] and c.bits_ci[0] <= c.mean_bits <= c.bits_ci[1]
        assert c == r.cells[2] and not c.too_few and c.documents == c.events // 10
        assert all(cell.events == 0 for i, cell in enumerate(r.cells) if i != 2)
    w = lambda r: r.cells[2].ci[1] - r.cells[2].ci[0]  # noqa: E731
    assert w(big) < 0.5 * w(small)
    again = aggregate(synthetic(10, 0.7, 0), "x")
    assert again.cells[2].ci == small.cells[2].ci  # seeded
    one_doc = aggregate(synthetic(1, 0.7, 1, per_doc=30), "x").cells[2]
    assert one_doc.ci == (one_doc.accuracy, one_doc.accuracy)


def test_too_few_and_reach():
    outs = synthetic(1, 1.0, 0, per_doc=5, distance=5) + synthetic(40, 0.95, 1, distance=200) \
        + synthetic(40, 0.4, 2, distance=2000)
    null = aggregate(synthetic(1, 1 / 3, 3, per_doc=5, distance=5) + synthetic(40, 1 / 3, 4, distance=200)
                     + synthetic(40, 1 / 3, 5, distance=2000), "c_closer", "null")
    r = aggregate(outs, "c_closer", chance=1 / 3).with_null(null, 1 / 3)
    js = r.to_json()
    first = js["buckets"][0]
    assert first["too_few"] and first["events"] == 5 and first["accuracy"] is None and first["ci95"] is None
    assert js["buckets"][3]["accuracy"] > 0.8 and not js["buckets"][3]["too_few"]
    assert r.reach() == "101-300"  # the tiny first cell is not tested; the empty 301-1000 bucket ends the run
    assert aggregate(outs, "c_closer").with_null(null, 0.96).reach() is None  # nothing clears that floor
    empty = aggregate([], "x")
    assert empty.overall.too_few and empty.to_json()["overall"]["accuracy"] is None
    assert isinstance(empty.cells[0], Cell)


# --- effective context ---------------------------------------------------------------------------------

@pytest.mark.parametrize("N", [2, 3, 10, 11, 30, 100])
def test_windows_score_every_position_once_with_half_to_full_context(N):
    for length in (1, 2, 5, N, N + 1, N + 2, 3 * N + 7, 400):
        ctx = window_context(length, N)
        assert len(ctx) == max(0, length - 1)
        seen = np.zeros(length, int)
        for start, lo, hi in windows(length, N):
            seen[lo:hi + 1] += 1
            t = np.arange(lo, hi + 1)
            assert np.array_equal(ctx[t - 1], t - start)
            if start:
                assert ((t - start) > N / 2).all() and ((t - start) <= N).all()
        assert (seen[1:] == 1).all() and seen[0] == 0
    assert np.array_equal(window_context(7, None), np.arange(1, 7))


def test_ngram_effective_context_is_at_most_its_order():
    rng = np.random.default_rng(4)
    V = 9
    words = [rng.integers(1, V, int(rng.integers(2, 9))) for _ in range(40)]
    docs = [np.concatenate([[0]] + [words[i] for i in rng.integers(0, 40, int(rng.integers(20, 120)))])
            for _ in range(30)]
    train = np.concatenate(docs[:24])
    for order in (2, 3, 4, 5, 7):
        ng = NGram.fit(train, order, V)
        bits = partial(ngram_context_bits, ng)
        lengths = (2, 3, 4, 5, 6, 8, 10, 14, 30)
        curve = context_curve(bits, docs[24:], lengths)
        for N in lengths:
            if N - N // 2 + 1 >= order - 1:  # every scored position keeps all the context the model uses
                assert curve.bpc[N] == curve.full, (order, N)
        bound = min(N for N in lengths if N - N // 2 + 1 >= order - 1)
        assert curve.effective is not None and curve.effective <= bound
        if order <= 5:
            assert curve.effective <= max(order, 2)
        assert context_curve(bits, docs[24:], lengths).bpc == curve.bpc  # deterministic
        total, count = ngram_context_bits(ng, docs[24:], None)
        assert count == sum(len(d) - 1 for d in docs[24:])
        assert total / count == pytest.approx(np.mean(np.concatenate(
            [-ng.logprobs(d) for d in docs[24:]])), rel=1e-12)  # full = each document from its SEP
    assert effective_context({10: 2.0, 30: 1.5, None: 1.49}) == 30
    assert effective_context({10: 2.0, None: 1.0}) is None
    assert CONTEXT_LENGTHS[-1] is None


def test_model_effective_context():
    torch.manual_seed(1)
    model = CharRNN(ModelConfig(12, "lstm", layers=1, hidden=16, embed=8))
    rng = np.random.default_rng(5)
    docs = [np.concatenate([[0], rng.integers(1, 12, int(n))]) for n in (5, 40, 130, 300)]
    full = model_context_bits(model, docs, None, CPU, batch_size=2, chunk=32)
    assert full[1] == sum(len(d) - 1 for d in docs)
    direct = sum(-model_logprobs(model, d, CPU)[np.arange(len(d) - 1), d[1:]].sum() for d in docs)
    assert full[0] == pytest.approx(direct, rel=1e-5)
    big = model_context_bits(model, docs, 1000, CPU)  # windows longer than every document = full context
    assert big[1] == full[1] and big[0] == pytest.approx(full[0], rel=1e-5)
    for N in (10, 30):
        total, count = model_context_bits(model, docs, N, CPU, batch_size=3)
        assert count == full[1]
        # by hand for one document: restart every N//2, score the second half of each window
        d = docs[2]
        manual = 0.0
        for start, lo, hi in windows(len(d), N):
            w = d[start:start + N + 1]
            lp = model_logprobs(model, w, CPU)
            manual += -lp[np.arange(lo - start - 1, hi - start), w[lo - start:hi - start + 1]].sum()
        assert model_context_bits(model, [d], N, CPU)[0] == pytest.approx(manual, rel=1e-5)
    curve = context_curve(lambda ds, N: model_context_bits(model, ds, N, CPU), docs, (10, 30))
    assert set(curve.bpc) == {10, 30, None} and json.dumps(curve.to_json())


def test_encode_positions_line_up():
    """Event offsets are document offsets; the scorer sees SEP + document, so position = offset + 1."""
    vocab = Vocab.from_texts([LATEX])
    ids = encode(SEP + LATEX, vocab)
    for e in latex_env_events(LATEX):
        assert vocab.decode(ids[e.pos + 1:e.pos + 1 + len(e.target)]) == e.target


# --- paired comparison of rows ---------------------------------------------------------------------------

def _rows_on_the_same_events(seed: int = 0, docs: int = 30, per_doc: int = 10, lift: float = 0.1):
    """Two rows on one set of events (distance 50) whose documents differ wildly in difficulty; row `a` is
    right on a few more events than `b` in every document: the case where intervals overlap but every
    resample agrees on the difference."""
    rng = np.random.default_rng(seed)
    a, b = [], []
    for d in range(docs):
        hard = rng.uniform(0.05, 0.95)
        for _ in range(per_doc):
            u = rng.uniform()
            b.append(Outcome(d, 50, 1, u < hard, None))
            a.append(Outcome(d, 50, 1, u < min(1.0, hard + lift), None))
    return aggregate(a, "latex_end", "model", seed=1), aggregate(b, "latex_end", "20-gram", seed=1)


def test_paired_difference_sees_what_overlapping_intervals_hide():
    a, b = _rows_on_the_same_events()
    ca, cb = a.cells[bucket_of(50)], b.cells[bucket_of(50)]
    assert ca.ci[0] < cb.ci[1], "the setup must give overlapping intervals"
    cells, overall = paired_difference(a, b)
    d = cells[bucket_of(50)]
    assert d.diff == pytest.approx(ca.accuracy - cb.accuracy)
    assert d.ci[0] <= d.diff <= d.ci[1] and d.above
    assert overall.diff == pytest.approx(d.diff) and overall.events == 300
    assert all(c.too_few and not c.above for i, c in enumerate(cells) if i != bucket_of(50))
    # the other way round it is below, not above; a row against itself differs by exactly nothing
    back = paired_difference(b, a)[0][bucket_of(50)]
    assert back.diff == pytest.approx(-d.diff) and not back.above
    same = paired_difference(a, a)[0][bucket_of(50)]
    assert (same.diff, same.ci, same.above) == (0.0, (0.0, 0.0), False)


def test_paired_difference_refuses_rows_on_different_events():
    a, b = _rows_on_the_same_events()
    shorter = aggregate(b.outcomes[:-1], "latex_end", "20-gram")
    with pytest.raises(ValueError, match="same events"):
        paired_difference(a, shorter)


def test_versus_marks_buckets_above_every_row_and_leaves_out_a_trivial_majority():
    a, b = _rows_on_the_same_events()
    maj = aggregate([Outcome(o.doc, o.distance, o.depth, True, None) for o in b.outcomes], "latex_end", "majority")
    got = versus({"model": a, "20-gram": b, "majority": maj})
    assert set(got["versus"]) == {"20-gram", "majority"} and got["above_baselines"] == []  # majority always right
    maj.extra["trivial"] = True
    got = versus({"model": a, "20-gram": b, "majority": maj})
    assert set(got["versus"]) == {"20-gram"} and got["above_baselines"] == ["31-100"]
    js = json.loads(json.dumps(got))
    cell = js["versus"]["20-gram"]["buckets"][bucket_of(50)]
    assert cell["diff"] > 0 and cell["ci95"][0] > 0
    assert js["versus"]["20-gram"]["buckets"][0] == {"bucket": "1-10", "events": 0, "documents": 0,
                                                     "too_few": True, "diff": None, "ci95": None}
    # a row scored on other events is not compared, and nothing is above it
    shorter = aggregate(b.outcomes[:-1], "latex_end", "5-gram")
    got = versus({"model": a, "20-gram": b, "5-gram": shorter})
    assert "skipped" in got["versus"]["5-gram"] and got["above_baselines"] == []


def test_one_walk_of_environments_with_two_readings_of_a_mismatch():
    from gencheck.structure import env_walk

    text = r"\begin{a}\begin{b}\end{a}\end{x}\begin{c}"
    pop, left_pop = env_walk(text, "pop")
    ends = [(s.name, s.closes, s.opened, s.depth) for s in pop if s.kind == "end"]
    assert ends == [("a", 1, "b", 2), ("x", 0, "a", 1)] and left_pop == 1  # each \end pops the innermost
    search, left_search = env_walk(text, "search")
    ends = [(s.name, s.closes, s.opened, s.start) for s in search if s.kind == "end"]
    assert ends == [("a", 0, "a", 0), ("x", None, None, None)] and left_search == 1  # b left unclosed, x stray
    with pytest.raises(ValueError):
        env_walk(text, "guess")
