"""The n-gram baseline: exact against a brute-force modified Kneser-Ney, normalised, local, deterministic."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from gencheck.ngram import NGram, kn_discounts


# --- a brute-force reference of the same smoothing (dicts of tuples) ------------------------------------

class Reference:
    def __init__(self, train, order: int, vocab_size: int) -> None:
        T, K = [int(v) for v in train], order
        n = len(T)
        self.K, self.V = K, vocab_size
        raw = [None] + [Counter(tuple(T[q - L + 1:q + 1]) for q in range(L - 1, n)) for L in range(1, K + 1)]
        self.cnt: list = [None] * (K + 1)
        for L in range(1, K + 1):
            if L == K:
                self.cnt[L] = dict(raw[L])
            else:
                left = Counter(s[1:] for s in raw[L + 1])  # distinct left extensions
                self.cnt[L] = {s: left.get(s, 0) for s in raw[L]}
        self.tot, self.gam, self.d = [], [], []
        for j in range(K):
            values = list(self.cnt[j + 1].values())
            d = kn_discounts(*(sum(v == k for v in values) for k in (1, 2, 3, 4)))
            tot, gam = defaultdict(float), defaultdict(float)
            for s, v in self.cnt[j + 1].items():
                tot[s[:-1]] += v
                if v:
                    gam[s[:-1]] += d[min(v, 3) - 1]
            self.tot.append(tot)
            self.gam.append(gam)
            self.d.append(d)

    def prob(self, context, w: int) -> float:
        context = tuple(int(c) for c in context)[-(self.K - 1):] if self.K > 1 else ()
        p = 1.0 / self.V
        for j in range(len(context) + 1):
            h = context[len(context) - j:]
            t = self.tot[j].get(h, 0.0)
            if t > 0:
                v = self.cnt[j + 1].get(h + (w,), 0)
                p = (v - (self.d[j][min(v, 3) - 1] if v else 0.0) + self.gam[j][h] * p) / t
        return p

    def logprobs(self, ids, caps) -> np.ndarray:
        return np.log2([self.prob(ids[max(0, t - caps[t - 1]):t] if caps[t - 1] else (), ids[t])
                        for t in range(1, len(ids))])


def markov(n: int, vocab: int, seed: int, sep_every: int = 0) -> np.ndarray:
    """A stream with repeats at every length (a sticky random walk over a small alphabet), SEPs (id 0)."""
    rng = np.random.default_rng(seed)
    x = np.empty(n, np.int64)
    x[0] = 0
    for i in range(1, n):
        x[i] = x[i - 1] if rng.random() < 0.3 else rng.integers(1, vocab)
        if sep_every and rng.random() < 1 / sep_every:
            x[i] = 0
    return x


@pytest.mark.parametrize("order", [1, 2, 3, 4, 6, 12])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("V", [2, 5])
def test_matches_brute_force_reference(order, seed, V):
    train = markov(400, V, seed, sep_every=40)
    test = markov(200, V, seed + 10, sep_every=30)
    ng, ref = NGram.fit(train, order, V), Reference(train, order, V)
    caps = [min(t, order - 1) for t in range(1, len(test))]
    np.testing.assert_allclose(ng.logprobs(test), ref.logprobs(test, caps), rtol=0, atol=1e-12)
    # the training text itself (seen contexts, unique ones, the stream's very start and end)
    caps = [min(t, order - 1) for t in range(1, len(train))]
    np.testing.assert_allclose(ng.logprobs(train), ref.logprobs(train, caps), rtol=0, atol=1e-12)


@pytest.mark.parametrize("order", [3, 5])
def test_context_limits_match_reference(order):
    V = 4
    train, test = markov(300, V, 3, sep_every=25), markov(150, V, 4, sep_every=20)
    ng, ref = NGram.fit(train, order, V), Reference(train, order, V)
    caps = [min(t, order - 1, 2) for t in range(1, len(test))]
    np.testing.assert_allclose(ng.logprobs(test, max_context=2), ref.logprobs(test, caps), atol=1e-12)
    seps = [max([s for s in range(t) if test[s] == 0], default=-1) for t in range(1, len(test))]
    caps = [min(t, order - 1, t - s if s >= 0 else t) for t, s in zip(range(1, len(test)), seps)]
    np.testing.assert_allclose(ng.logprobs(test, reset_at_sep=True), ref.logprobs(test, caps), atol=1e-12)
    lengths = np.random.default_rng(0).integers(0, order + 2, len(test) - 1)
    caps = [min(t, order - 1, int(c)) for t, c in zip(range(1, len(test)), lengths)]
    np.testing.assert_allclose(ng.logprobs(test, context_lengths=lengths), ref.logprobs(test, caps), atol=1e-12)


@pytest.mark.parametrize("order", [1, 2, 4, 7])
def test_distributions_sum_to_one_and_agree_with_reference(order):
    V = 6
    train = markov(500, V, 5, sep_every=50)
    ng, ref = NGram.fit(train, order, V), Reference(train, order, V)
    rng = np.random.default_rng(1)
    contexts = [train[:0], train[:3], train[100:130], rng.integers(0, V, 9), np.array([0, 0, 0, 0, 0, 0])]
    for ctx in contexts:
        dist = ng.distribution(ctx)
        assert dist.shape == (V,) and (dist > 0).all()
        assert abs(dist.sum() - 1.0) < 1e-9
        np.testing.assert_allclose(dist, [ref.prob(ctx, w) for w in range(V)], atol=1e-12)
    test = markov(120, V, 6)
    pos = np.arange(1, len(test))
    full = ng.distributions(test, pos)
    np.testing.assert_allclose(full.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(np.log2(full[np.arange(len(pos)), test[1:]]), ng.logprobs(test), atol=1e-12)
    cols = np.array([4, 1])
    np.testing.assert_allclose(ng.distributions(test, pos, candidates=cols), full[:, cols], atol=1e-15)


def test_order_k_never_looks_further_back_than_k_minus_1():
    V, rng = 7, np.random.default_rng(2)
    train = rng.integers(0, V, 3000)
    train[1000:1600] = train[:600]  # long repeats, so long contexts are seen
    for order in (2, 3, 5, 8):
        ng = NGram.fit(train, order, V)
        test = np.concatenate([train[200:700], rng.integers(0, V, 300)])
        base = ng.logprobs(test)
        for _ in range(40):
            t = int(rng.integers(order + 1, len(test)))
            d = int(rng.integers(order, t + 1))  # a character at distance >= order before t
            changed = test.copy()
            changed[t - d] = (changed[t - d] + 1 + rng.integers(0, V - 1)) % V
            assert ng.logprobs(changed)[t - 1] == base[t - 1]
        for n_ctx in (1, 3):  # and with max_context: nothing beyond n_ctx characters
            lim = ng.logprobs(test, max_context=n_ctx)
            t = 400
            changed = test.copy()
            changed[t - n_ctx - 1] = (changed[t - n_ctx - 1] + 1) % V
            assert ng.logprobs(changed, max_context=n_ctx)[t - 1] == lim[t - 1]


def test_deterministic_and_longer_context_helps_on_repetitive_text():
    V, rng = 12, np.random.default_rng(3)
    words = [rng.integers(1, V, int(rng.integers(3, 8))) for _ in range(30)]
    text = np.concatenate([np.concatenate([words[i], [0]]) for i in rng.integers(0, 30, 3000)])
    train, test = text[:12000], text[12000:]
    a, b = NGram.fit(train, 6, V), NGram.fit(train, 6, V)
    assert np.array_equal(a.logprobs(test), b.logprobs(test))
    for x, y in zip(a.cnt + a.gam + a.chr, b.cnt + b.gam + b.chr):
        assert np.array_equal(x, y)
    bpcs = [NGram.fit(train, k, V).bits_per_char(test) for k in (1, 2, 4, 6)]
    assert bpcs[0] > bpcs[1] > bpcs[2] and bpcs[3] < 0.7 * bpcs[0]


def test_on_real_text(fixture_corpus):
    from gencheck.corpus import Vocab, stream, unigram_entropy

    vocab = Vocab.from_texts(fixture_corpus.texts("train"))
    train, test = stream(fixture_corpus.texts("train"), vocab), stream(fixture_corpus.texts("test"), vocab)
    ng = NGram.fit(train, 10, vocab.size)
    bpc = ng.bits_per_char(test)
    assert 0 < bpc < unigram_entropy(fixture_corpus.texts("train"))
    assert ng.bits_per_char(train) < bpc  # it has seen the training text
    dist = ng.distributions(test, np.arange(1, min(len(test), 400), 7))
    np.testing.assert_allclose(dist.sum(axis=1), 1.0, atol=1e-9)
    assert ng.nbytes() > 0


def test_order_20_on_real_text(fixture_corpus):
    from gencheck.corpus import Vocab, stream

    vocab = Vocab.from_texts(fixture_corpus.texts("train"))
    train = stream(fixture_corpus.texts("train"), vocab)
    ng = NGram.fit(train, 20, vocab.size)
    assert ng.bits_per_char(train) < 1.0  # it has memorised much of what it saw
    ref = Reference(train[:3000], 20, vocab.size)
    small = NGram.fit(train[:3000], 20, vocab.size)
    test = train[2500:3500]
    caps = [min(t, 19) for t in range(1, len(test))]
    np.testing.assert_allclose(small.logprobs(test), ref.logprobs(test, caps), atol=1e-12)


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        NGram.fit(np.array([0, 1, 5]), 3, 5)
    with pytest.raises(ValueError):
        NGram.fit(np.array([0, 1]), 0, 5)
    ng = NGram.fit(np.array([0, 1, 2, 1]), 2, 3)
    with pytest.raises(ValueError):
        ng.logprobs(np.array([0, 3]))
    assert ng.logprobs(np.array([0])).shape == (0,)


def test_discounts():
    d1, d2, d3 = kn_discounts(100, 40, 20, 10)
    y = 100 / 180
    assert (d1, d2, d3) == pytest.approx((1 - 2 * y * 0.4, 2 - 3 * y * 0.5, 3 - 4 * y * 0.5))
    assert all(0 < d <= k for d, k in zip(kn_discounts(0, 0, 0, 0), (1, 2, 3)))
    assert all(0 < d <= k for d, k in zip(kn_discounts(1, 50, 0, 0), (1, 2, 3)))


def test_scoring_in_pieces_equals_one_pass():
    rng = np.random.default_rng(5)
    ids = np.concatenate([[0], *[np.concatenate([rng.integers(1, 7, size=int(rng.integers(5, 90))), [0]])
                                 for _ in range(60)]])
    for order in (3, 20):
        ng = NGram.fit(ids, order, 7)
        for reset in (False, True):
            cap = ng._caps(ids, np.arange(len(ids)), None, reset)
            assert np.array_equal(ng._chunked_probs(ids, cap, chunk=64), ng._stream_probs(ids, cap))


# --- the n-gram row behind the model protocol (gencheck/models/ngram.py) ------------------------------------

def test_the_ngram_model_in_chunks_is_its_distributions_and_its_sparse_scorer_agrees():
    import torch

    from gencheck.models.ngram import NGramModel
    from gencheck.probes import model_scorer, scorer_for

    rng = np.random.default_rng(3)
    train = rng.integers(1, 6, 3000)
    ng = NGram.fit(train, 4, 6, sep_id=0)
    model = NGramModel(ng)
    doc = np.concatenate([[0], rng.integers(1, 6, 90)])
    want = np.log(ng.distributions(doc, np.arange(1, len(doc) + 1)))
    x, state, got = torch.from_numpy(doc)[None], None, []
    for a in range(0, len(doc), 17):  # chunks with the state (the last order-1 ids) carried
        logits, state = model(x[:, a:a + 17], state)
        got.append(logits[0].numpy())
    assert np.allclose(np.concatenate(got), want, atol=1e-6)
    pos, cand = np.array([3, 40, 91]), np.array([2, 5])
    sparse = scorer_for(model, torch.device("cpu"))(doc, pos, cand)
    full = model_scorer(model, torch.device("cpu"), chunk=25)(doc, pos, cand)
    assert np.allclose(sparse, full, atol=1e-5)
    assert model.describe().context_limit == 3 and model.cfg.vocab_size == 6
