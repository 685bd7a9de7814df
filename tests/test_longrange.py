"""The long-range measurement of a run: every row through the same probes, JSON, and the probes view."""

from __future__ import annotations

import json
import os

import pytest
import torch
from rich.console import Console

from gencheck.corpus import Corpus, CorpusSpec, Document, Vocab
from gencheck.longrange import measure, sampled_side
from gencheck.model import CharRNN, ModelConfig
from gencheck.scorecard import ProbesView, rate
from gencheck.sources import Source
from gencheck.validators import validate

from test_controlled import LATEX_TRAIN, latex_test_texts


def latex_corpus() -> Corpus:
    train, test = LATEX_TRAIN, latex_test_texts()
    docs = [Document(f"train/{i:03d}.tex", t) for i, t in enumerate(train)]
    docs += [Document(f"test/{i}.tex", t) for i, t in enumerate(test)]
    spec = CorpusSpec("mini", "latex", "", "", (Source(kind="dir", path="."),))
    splits = {"train": list(range(len(train))), "val": [len(train)],
              "test": list(range(len(train), len(docs)))}
    return Corpus(spec, docs, splits, "0" * 64)


def test_measure_gives_every_row_on_the_same_events_and_json():
    corpus = latex_corpus()
    vocab = Vocab.from_texts(corpus.texts("train") + corpus.texts("test"))
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab.size, "lstm", 1, 16, 8))
    samples = ["\\begin{proof} x \\end{lemma}", "\\begin{a}\\end{a}"]
    lr = measure(corpus, model, vocab, torch.device("cpu"), seed=3, per_bucket=4,
                 samples=samples, verdicts=[validate(s, "latex") for s in samples])
    js = json.loads(json.dumps(lr.to_json()))  # serialisable as it is
    assert js["rows"] == ["model", "20-gram", "5-gram", "majority"]
    for probe, rows in js["real"].items():
        assert set(rows) == set(js["rows"])
        counts = {name: [c["events"] for c in r["buckets"]] for name, r in rows.items()}
        assert len({tuple(v) for v in counts.values()}) == 1, f"{probe}: rows scored different events"
    assert set(js["controlled"]["latex_end"]) == set(js["rows"])
    # the model row carries its paired comparison with every other row, real and controlled
    for rows in [*js["real"].values(), js["controlled"]["latex_end"]]:
        model = rows["model"]
        others = {n for n, r in rows.items() if n != "model" and not r.get("trivial")}
        assert set(model["versus"]) == others
        for name in others:
            diffs = model["versus"][name]["buckets"]
            assert [d["events"] for d in diffs] == [c["events"] for c in model["buckets"]]
        assert set(model["above_baselines"]) <= {c["bucket"] for c in model["buckets"] if not c["too_few"]}
    assert js["controlled_info"]["chance"] == round(1 / len(js["controlled_info"]["openers"]), 4)
    for row in ("model", "20-gram", "5-gram"):
        assert js["context"][row]["full_bpc"] > 0
    # an order-5 n-gram uses at most 4 characters: 10 characters of context are all it can use
    assert js["context"]["5-gram"]["effective_context"] == 10
    assert js["ngrams"]["20-gram"]["order"] == 20 and js["ngrams"]["5-gram"]["bytes"] > 0
    assert js["sampled"]["probe"] == "latex_end"
    console = Console(width=100, record=True, file=open("/dev/null", "w"))
    console.print(ProbesView(js))
    assert "model above every other row, paired over units of text" in " ".join(console.export_text().split())


def test_the_mark_is_shown_where_the_model_is_above_every_row():
    bucket = {"bucket": "31-100", "events": 40, "documents": 9, "too_few": False, "accuracy": 0.5,
              "ci95": [0.3, 0.7], "mean_bits": None, "bits_ci95": None}
    rows = {"model": {"buckets": [bucket], "reach": None, "above_baselines": ["31-100"], "versus": {}},
            "20-gram": {"buckets": [{**bucket, "accuracy": 0.4}], "reach": None}}
    probes = {"rows": ["model", "20-gram"], "real": {"latex_end": rows}}
    console = Console(width=100, record=True, file=open("/dev/null", "w"))
    console.print(ProbesView(probes))
    text = " ".join(console.export_text().split())  # captions wrap at the table's width
    assert "50▲" in text and "40▲" not in text and "paired over units of text" in text and ": 31-100." in text
    rows["model"]["above_baselines"] = []
    console = Console(width=100, record=True, file=open("/dev/null", "w"))
    console.print(ProbesView(probes))
    text = " ".join(console.export_text().split())
    assert "▲ model above every other row" in text and ": no bucket." in text and "50▲" not in text
    del rows["model"]["above_baselines"]  # results made before the comparison existed: no mark, no note
    console = Console(width=100, record=True, file=open("/dev/null", "w"))
    console.print(ProbesView(probes))
    assert "paired" not in console.export_text()


def test_sampled_side_counts_right_closes_from_events_and_wrong_ones_from_findings():
    samples = ["\\begin{a}" + "x" * 40 + "\\end{a}", "\\begin{b}" + "y" * 40 + "\\end{c}"]
    got = sampled_side("latex", samples, [validate(s, "latex") for s in samples])
    cell = next(c for c in got["buckets"] if c["bucket"] == "31-100")
    assert (cell["closes"], cell["wrong"], cell["too_few"], cell["error_rate"]) == (2, 1, True, None)
    assert sampled_side("text", samples, []) == {}


def test_rates_print_without_a_leading_zero_and_never_wrap_to_zero():
    assert [rate(x) for x in (0.0, 0.6, 0.996, 1.0, None)] == [".00", ".60", "1.00", "1.00", "—"]



def test_ngram_context_shortcut_is_exact():
    import numpy as np

    from gencheck.context import ngram_context_bits
    from gencheck.longrange import _ngram_bits
    from gencheck.ngram import NGram

    rng = np.random.default_rng(0)
    docs = [np.concatenate([[0], rng.integers(1, 6, size=300)]) for _ in range(3)]
    ng = NGram.fit(np.concatenate(docs), 5, 6)
    fast = _ngram_bits(ng)
    for N in (10, 30, 100, None):
        assert fast(docs, N) == ngram_context_bits(ng, docs, N)


def test_ngram_rows_are_kept_and_a_second_run_gives_the_same_figures_without_fitting(tmp_path, monkeypatch):
    import gencheck.ngram as ngram_mod
    from gencheck.longrange import ngram_cache_file

    monkeypatch.setenv("GENCHECK_HOME", str(tmp_path))
    corpus = latex_corpus()
    vocab = Vocab.from_texts(corpus.texts("train") + corpus.texts("test"))
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab.size, "lstm", 1, 16, 8))

    def strip(js):  # what may differ between a computed and a cached run: timings and the cached mark
        return {k: v for k, v in js.items() if k not in ("seconds", "ngrams")}

    first = measure(corpus, model, vocab, torch.device("cpu"), seed=3, per_bucket=4).to_json()
    cache = ngram_cache_file(corpus.texts("train"), corpus.texts("test"), vocab, (20, 5), 3, 4)
    assert cache.is_file() and cache.parent == tmp_path / "ngram-rows"

    def no_fit(*a, **kw):
        raise AssertionError("the n-gram was fitted again")

    monkeypatch.setattr(ngram_mod.NGram, "fit", no_fit)
    again = measure(corpus, model, vocab, torch.device("cpu"), seed=3, per_bucket=4).to_json()
    assert json.dumps(strip(again), sort_keys=True) == json.dumps(strip(first), sort_keys=True)
    assert all(info["cached"] for info in again["ngrams"].values())
    assert again["ngrams"]["20-gram"]["test_bpc"] == first["ngrams"]["20-gram"]["test_bpc"]
    # another model: its own rows, the same n-gram rows
    torch.manual_seed(1)
    other = measure(corpus, CharRNN(ModelConfig(vocab.size, "lstm", 1, 16, 8)), vocab, torch.device("cpu"), seed=3,
                    per_bucket=4).to_json()
    assert other["context"]["20-gram"] == first["context"]["20-gram"]
    assert other["context"]["model"] != first["context"]["model"]
    # a damaged cache is computed again and replaced, never trusted
    monkeypatch.undo()
    monkeypatch.setenv("GENCHECK_HOME", str(tmp_path))
    cache.write_text("{not json")
    fresh = measure(corpus, model, vocab, torch.device("cpu"), seed=3, per_bucket=4).to_json()
    assert json.dumps(strip(fresh), sort_keys=True) == json.dumps(strip(first), sort_keys=True)
    assert json.loads(cache.read_text())["ngrams"]["5-gram"]["order"] == 5
    # other settings, another key
    assert ngram_cache_file(corpus.texts("train"), corpus.texts("test"), vocab, (20, 5), 4, 4) != cache


DAMAGED = {
    "rows a list": '{"ngrams": {}, "rows": []}',
    "only rows": '{"rows": []}',
    "deep": '{"ngrams": ' + "[" * 100_000 + "]" * 100_000 + ', "rows": {}}',
    "not an object": "[1, 2]",
    "rows missing": '{"ngrams": {"20-gram": {"order": 20}, "5-gram": {"order": 5}}, "rows": {}}',
    "bad outcomes": None,  # the real file with its outcomes cut short
    "bad context": None,  # the real file with a context curve of the wrong shape
}


@pytest.mark.parametrize("damage", DAMAGED)
def test_a_damaged_ngram_cache_is_computed_again_and_replaced(tmp_path, monkeypatch, damage):
    """The README promises recomputation for a cache that cannot be read: any content, any shape."""
    from gencheck.longrange import ngram_cache_file

    monkeypatch.setenv("GENCHECK_HOME", str(tmp_path))
    corpus = latex_corpus()
    vocab = Vocab.from_texts(corpus.texts("train") + corpus.texts("test"))
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab.size, "lstm", 1, 16, 8))

    def figures(js):
        return json.dumps({k: v for k, v in js.items() if k not in ("seconds", "ngrams")}, sort_keys=True)

    first = measure(corpus, model, vocab, torch.device("cpu"), seed=3, per_bucket=4).to_json()
    cache = ngram_cache_file(corpus.texts("train"), corpus.texts("test"), vocab, (20, 5), 3, 4)
    good = json.loads(cache.read_text())
    if damage == "bad outcomes":
        key = next(k for k in good["rows"] if k.startswith("real/"))
        good["rows"][key] = [[0, 1]] * 3
        cache.write_text(json.dumps(good))
    elif damage == "bad context":
        good["rows"]["context/20-gram"] = {"effective_context": "far"}
        cache.write_text(json.dumps(good))
    else:
        cache.write_text(DAMAGED[damage])
    again = measure(corpus, model, vocab, torch.device("cpu"), seed=3, per_bucket=4).to_json()
    assert figures(again) == figures(first)
    assert not any(info.get("cached") for info in again["ngrams"].values())
    assert json.loads(cache.read_text())["rows"].keys() == json.loads(json.dumps(good))["rows"].keys()


def test_two_runs_building_the_same_ngram_cache_at_once_leave_one_whole_file(tmp_path):
    """Two processes sharing GENCHECK_HOME compute the same rows at the same time: the file is written
    atomically, so the one left is whole and a third run reads it."""
    import subprocess
    import sys

    code = ("import json, sys, torch\n"
            "sys.path.insert(0, sys.argv[1])\n"
            "from test_longrange import latex_corpus\n"
            "from gencheck.corpus import Vocab\nfrom gencheck.longrange import measure\n"
            "from gencheck.model import CharRNN, ModelConfig\n"
            "c = latex_corpus(); v = Vocab.from_texts(c.texts('train') + c.texts('test'))\n"
            "torch.manual_seed(0); m = CharRNN(ModelConfig(v.size, 'lstm', 1, 16, 8))\n"
            "js = measure(c, m, v, torch.device('cpu'), seed=3, per_bucket=4).to_json()\n"
            "print(json.dumps({k: js[k] for k in ('real', 'controlled', 'context')}, sort_keys=True))\n")
    env = {**os.environ, "GENCHECK_HOME": str(tmp_path), "OMP_NUM_THREADS": "1"}
    here = os.path.dirname(__file__)
    runs = [subprocess.Popen([sys.executable, "-c", code, here], env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(2)]
    outs = [r.communicate(timeout=300)[0] for r in runs]
    assert all(r.returncode == 0 for r in runs) and outs[0] == outs[1]
    files = list((tmp_path / "ngram-rows").iterdir())
    assert len(files) == 1 and files[0].suffix == ".json"  # no temporary file left beside it
    third = subprocess.run([sys.executable, "-c", code, here], env=env, stdout=subprocess.PIPE, text=True, timeout=300)
    assert third.stdout == outs[0]


def test_the_looks_reference_is_the_20_grams_row_on_the_looks_documents(tmp_path, monkeypatch):
    """The looks' slice is the first test documents: the 20-gram's outcomes there are those of its test row
    (kept, not scored again, and no cache miss for older caches); a slice cut from one document is scored."""
    monkeypatch.setenv("GENCHECK_HOME", str(tmp_path))
    corpus = latex_corpus()
    vocab = Vocab.from_texts(corpus.texts("train") + corpus.texts("test"))
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab.size, "lstm", 1, 16, 8))
    test = corpus.texts("test")
    lr = measure(corpus, model, vocab, torch.device("cpu"), seed=3, per_bucket=4, look_texts=test[:1])
    row = lr.probes["latex_end"]["20-gram"]
    whole = measure(corpus, model, vocab, torch.device("cpu"), seed=3, per_bucket=4, look_texts=test)
    assert sum(v[0] for v in whole.look_reference["probe_buckets"].values()) == sum(c["events"] for c in row["buckets"])
    assert lr.look_reference["row"] == "20-gram" and lr.look_reference["chars"] == len(test[0])
    cut = measure(corpus, model, vocab, torch.device("cpu"), seed=3, per_bucket=4, look_texts=[test[0][:200]])
    assert sum(v[0] for v in cut.look_reference["probe_buckets"].values()) <= \
        sum(v[0] for v in lr.look_reference["probe_buckets"].values())
