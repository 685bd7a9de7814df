"""The probes' null (#32): rows that cannot remember the opener never get a reach or a ▲ beyond their context
at more than the stated rate (ALPHA = 5 %, Holm over the buckets), on built drills and on controlled documents,
over many seeds; a row that does remember keeps its reach. Nothing is trained: the rows are n-grams, a state
reset at every character (a 2-gram: only the character read), a random answer, and a hand-made oracle."""

from __future__ import annotations

import numpy as np
import pytest

from gencheck import longrange as lr
from gencheck import probes as pr
from gencheck import stats as st
from gencheck.corpus import Vocab, build, resolve_spec, stream
from gencheck.ngram import NGram
from gencheck.stats import BUCKET_LABELS, Outcome, aggregate, holm, run_end

from conftest import write

SEEDS = range(1, 6)
DRILL = {"train_chars": 80_000, "eval_chars": 160_000, "d_train": 300, "test_max": 4000, "doc_chars": 4000}


def drill_corpus(tmp_path, seed: int):
    table = "\n".join(f"{k} = {v!r}" for k, v in {**DRILL, "seed": seed}.items())
    spec = resolve_spec(str(write(tmp_path / f"drill{seed}.toml", 'format = "latex"\n[[sources]]\nkind = "drill"\n'
                                  f'corpus = "latex-fixture"\n[drill]\n{table}\n')))
    return build(spec, home=tmp_path / "home")


def random_scorer(seed: int) -> pr.Scorer:
    """Answers at random: log-probabilities drawn afresh for every question."""
    rng = np.random.default_rng(seed)

    def score(ids, positions, candidates=None):
        lp = np.log2(rng.dirichlet(np.ones(128), size=len(positions)))
        return lp if candidates is None else lp[:, candidates]

    return score


def oracle_scorer(sharp: float = 0.9) -> pr.Scorer:
    """Remembers perfectly: probability `sharp` on the true next id."""

    def score(ids, positions, candidates=None):
        lp = np.full((len(positions), 128), np.log2((1 - sharp) / 127))
        lp[np.arange(len(positions)), ids[positions]] = np.log2(sharp)
        return lp if candidates is None else lp[:, candidates]

    return score


def memoryless_rows(corpus, vocab: Vocab, seed: int) -> dict[str, tuple[pr.Scorer, int]]:
    """Each row with the farthest distance it can see (characters of context)."""
    ids = stream(lr.baseline_train(corpus), vocab)
    fit = {order: NGram.fit(ids, order, vocab.size, vocab.sep_id) for order in (2, 5, 20)}
    return {"20-gram": (pr.ngram_scorer(fit[20]), 19), "5-gram": (pr.ngram_scorer(fit[5]), 4),
            "state reset every char": (pr.ngram_scorer(fit[2]), 1), "random": (random_scorer(seed), 0)}


def spurious(row: dict, sight: int) -> tuple[bool, bool]:
    """(a reach beyond the row's sight, a ▲ beyond it)."""
    blind = set(st.buckets_beyond(sight + 1))
    return row.get("reach") in blind, bool(blind & set(row.get("above_baselines") or ()))


def test_holm_steps_down_and_stops_at_the_first_failure():
    assert holm([0.01, 0.04, 0.03, None]) == [True, False, False, False]
    assert holm([0.001, 0.02, 0.04]) == [True, True, True]  # .001 <= .05/3, .02 <= .05/2, .04 <= .05
    assert holm([None, None]) == [False, False]


def test_reach_is_the_end_of_an_unbroken_run_from_the_nearest_testable_bucket():
    def cells(events):
        return [st.Cell(label, n, n, 0, 0.5, (0.4, 0.6), too_few=n < st.MIN_EVENTS) for label, n in zip(BUCKET_LABELS, events)]

    c = cells([5, 30, 30, 30, 30, 30, 30])
    assert run_end(c, [False, True, True, False, True, True, True]) == "31-100"  # a gap ends the run
    assert run_end(c, [False, False, True, True, True, True, True]) is None  # the nearest testable one fails
    assert run_end(cells([30, 30, 5, 30, 30, 30, 30]), [True] * 7) == "11-30"  # an untested bucket ends it too


def synthetic(docs: int, p: float, seed: int, distance: int, per_doc: int = 10) -> list[Outcome]:
    rng = np.random.default_rng(seed)
    out = []
    for d in range(docs):
        q = np.clip(p + rng.normal(0, 0.1), 0, 1)
        out += [Outcome(d, distance, 1, bool(rng.random() < q), None) for _ in range(per_doc)]
    return out


def test_reach_against_a_null_row_and_a_floor():
    near, far = synthetic(40, 0.95, 1, 50), synthetic(40, 0.4, 2, 2000)
    null = aggregate(synthetic(40, 0.3, 3, 50) + synthetic(40, 0.3, 4, 2000), "x", "null")
    row = aggregate(near + far, "x").with_null(null, 0.125)
    assert row.reach() == "31-100"  # 301-1000 has no events: the run ends there
    assert row.chance["31-100"] == pytest.approx(max(null.cells[2].accuracy, 0.125), abs=1e-4)
    assert aggregate(near + far, "x").with_null(null, 0.97).reach() is None  # a floor no bucket clears
    assert aggregate(near + far, "x").reach() is None  # no null: nothing to be tested against


def memoryless_trials(tmp_path):
    """Per seed and memoryless row: (corpus, train, test, vocab, seed, rows to score with the row as model,
    the row's sight); the other n-gram stands beside it, as in a run."""
    for seed in SEEDS:
        corpus = drill_corpus(tmp_path, seed)
        train, test = lr.baseline_train(corpus), corpus.texts("test")
        vocab = Vocab.from_texts(corpus.texts("train"))
        rows = memoryless_rows(corpus, vocab, seed)
        for name, (scorer, sight) in rows.items():
            other = "5-gram" if name == "20-gram" else "20-gram"
            yield corpus, train, test, vocab, seed, {"model": scorer, other: rows[other][0]}, sight


def test_rows_without_memory_get_no_reach_or_mark_beyond_their_sight_on_drills(tmp_path):
    trials = reaches = marks = 0
    for corpus, train, test, vocab, seed, scorers, sight in memoryless_trials(tmp_path):
        floor = lr.drill_floor(corpus, train)
        assert floor == pytest.approx(1 / 8)
        out = lr.real_probes("latex", train, test, vocab, scorers, seed, headline_floor=floor)["latex_end"]["model"]
        r, m = spurious(out, sight)
        trials, reaches, marks = trials + 1, reaches + r, marks + m
    assert trials == len(SEEDS) * 4
    assert reaches / trials <= st.ALPHA and marks / trials <= st.ALPHA, (reaches, marks, trials)


def test_rows_without_memory_get_no_reach_on_controlled_documents(tmp_path):
    trials = reaches = marks = 0
    for _, train, test, vocab, seed, scorers, sight in memoryless_trials(tmp_path):
        tables, info = lr.controlled_probes("latex", train, test, vocab, scorers, seed, per_bucket=40)
        r, m = spurious(tables["latex_end"]["model"], sight)
        trials, reaches, marks = trials + 1, reaches + r, marks + m
    assert reaches / trials <= st.ALPHA and marks / trials <= st.ALPHA, (reaches, marks, trials)


def test_a_row_that_remembers_keeps_its_reach(tmp_path):
    corpus = drill_corpus(tmp_path, 1)
    train, test = lr.baseline_train(corpus), corpus.texts("test")
    vocab = Vocab.from_texts(corpus.texts("train"))
    ng20 = memoryless_rows(corpus, vocab, 1)["20-gram"][0]
    real = lr.real_probes("latex", train, test, vocab, {"model": oracle_scorer(), "20-gram": ng20}, 1,
                          headline_floor=lr.drill_floor(corpus, train))["latex_end"]["model"]
    testable = [b["bucket"] for b in real["buckets"] if not b["too_few"] and b["events"]]
    assert real["reach"] == testable[-1]
    assert set(real["above_baselines"]) >= set(st.buckets_beyond(20)) & set(testable)
    tables, _ = lr.controlled_probes("latex", train, test, vocab, {"model": oracle_scorer(), "20-gram": ng20}, 1,
                                     per_bucket=24)
    assert tables["latex_end"]["model"]["reach"] == ">3000"
