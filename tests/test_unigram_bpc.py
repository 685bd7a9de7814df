"""The unigram baseline is scored like the model: train counts, the model's vocabulary, each split's own stream."""

from __future__ import annotations

import math

import torch

from gencheck.corpus import Vocab, unigram_bpc
from gencheck.train import bits_per_char


def test_unigram_bpc_by_hand():
    train, held_out = ["ab", "aab"], ["ba", "c"]
    vocab = Vocab.from_texts(train)  # SEP, UNK, a, b
    # train stream SEP a b SEP a a b: counts SEP 2, UNK 0, a 3, b 2; add-one -> 3, 1, 4, 3 of 11
    # held-out stream SEP b a SEP c: the first SEP is context only; targets b, a, SEP, UNK (c is unseen)
    want = -(math.log2(3 / 11) + math.log2(4 / 11) + math.log2(3 / 11) + math.log2(1 / 11)) / 4
    assert math.isclose(unigram_bpc(train, held_out, vocab), want, rel_tol=1e-12)


def test_each_split_gets_its_own_figure():
    vocab = Vocab.from_texts(["aaab"])
    assert unigram_bpc(["aaab"], ["aaaa"], vocab) < unigram_bpc(["aaab"], ["bbbb"], vocab)
    assert math.isnan(unigram_bpc(["aaab"], [], vocab))


class _Constant(torch.nn.Module):
    """A 'model' whose next-symbol distribution is fixed: the unigram, run through the model's scorer."""

    def __init__(self, logp: torch.Tensor):
        super().__init__()
        self.logp = logp

    def forward(self, x, state=None):
        return self.logp.expand(*x.shape, -1), state


def test_matches_the_models_scorer_on_the_same_stream():
    train = ["\\begin{a}x\\end{a}", "yy\u00e9"]
    held_out = ["\\begin{b}q\\end{b}", "zx"]
    vocab = Vocab.from_texts(train)
    counts = torch.zeros(vocab.size, dtype=torch.float64)
    for t in train:
        for i in [0, *vocab.encode(t)]:
            counts[i] += 1
    logp = torch.log((counts + 1) / (counts + 1).sum())
    model_bpc = bits_per_char(_Constant(logp.float()), held_out, vocab, torch.device("cpu"), batch_size=1)
    assert math.isclose(unigram_bpc(train, held_out, vocab), model_bpc, rel_tol=1e-5)
