"""Intervals over units, not whole documents (#33): a corpus of a few long documents (`latex-stacks` has six
test chapters) resamples blocks of BLOCK_CHARS characters of each, so that its intervals rest on more than
six units; a corpus of short documents resamples documents as before."""

from __future__ import annotations

import numpy as np

from gencheck import probes as pr
from gencheck import stats as st
from gencheck.corpus import Vocab
from gencheck.stats import BLOCK_CHARS, Outcome, aggregate


def long_document(blocks: int) -> str:
    """One LaTeX document of `blocks` × BLOCK_CHARS characters, with a short environment every 1,000."""
    piece = "\\begin{proof}" + "x" * 60 + "\\end{proof}\n"
    filler = "y" * (1000 - len(piece)) + "\n"
    return (piece + filler) * (blocks * BLOCK_CHARS // 1000)


def test_the_events_of_a_long_document_fall_in_its_blocks():
    text = long_document(3)
    vocab = Vocab.from_texts([text])
    majority = pr.majority_outcomes("latex_end", [text], vocab, "proof}")
    assert {o.block for o in majority} == {0, 1, 2} and {o.doc for o in majority} == {0}
    events = pr.scored_events("latex_end", [text], vocab)
    assert [e[4] for e in events] == [o.block for o in majority]  # the null row's units are the same
    assert [o.block for o in st.best_constant_outcomes(events)] == [o.block for o in majority]


def test_one_long_document_gets_an_interval_from_its_blocks():
    rng = np.random.default_rng(0)
    outs = [Outcome(0, 50, 1, bool(rng.random() < 0.6), None, block=i // 20) for i in range(400)]
    row = aggregate(outs, "latex_end", seed=0)
    cell = row.cells[st.BUCKET_LABELS.index("31-100")]
    assert (cell.documents, cell.units, cell.events) == (1, 20, 400)
    lo, hi = cell.ci
    assert lo < cell.accuracy < hi and hi - lo > 0.05  # one document resampled alone would give [acc, acc]
    assert row.to_json()["buckets"][2]["units"] == 20
    same_doc = aggregate([Outcome(0, o.distance, o.depth, o.correct, None) for o in outs], "latex_end", seed=0)
    assert same_doc.cells[2].ci[0] == same_doc.cells[2].ci[1] == same_doc.cells[2].accuracy


def test_short_documents_are_one_unit_each():
    outs = [Outcome(d, 50, 1, d % 2 == 0, None) for d in range(40)]
    cell = aggregate(outs, "latex_end", seed=0).cells[2]
    assert cell.units == cell.documents == 40
