"""Structure drills (gencheck/drill.py): declared like any corpus, generated deterministically, every pair
read back by the probes' own extractor, and only memory can close them (the 20-gram is at chance)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from gencheck import probes
from gencheck.corpus import Vocab, build, load_spec, resolve_spec, stream
from gencheck.drill import DrillParams, generate
from gencheck.fsutil import GencheckError
from gencheck.longrange import beyond_training

from conftest import write

SMALL = {"train_chars": 60_000, "eval_chars": 20_000, "d_train": 200, "test_max": 1500, "doc_chars": 1500}


def drill_toml(tmp_path, base: str = "latex-fixture", name: str = "drill", **params) -> str:
    table = "\n".join(f"{k} = {v!r}" for k, v in {**SMALL, **params}.items())
    return str(write(tmp_path / f"{name}.toml", f'format = "latex"\n[[sources]]\nkind = "drill"\ncorpus = "{base}"\n'
                     f"[drill]\n{table}\n"))


def events(texts):
    return [e for t in texts for e in probes.latex_env_events(t)]


def test_a_drill_is_built_like_any_corpus_and_deterministically(tmp_path, fixture_corpus):
    spec = resolve_spec(drill_toml(tmp_path))
    a = build(spec, home=tmp_path / "h1")
    b = build(spec, home=tmp_path / "h2")
    assert a.content_hash == b.content_hash and a.texts("test") == b.texts("test")
    assert a.chars("train") >= 60_000 and a.chars("test") >= 20_000
    assert build(spec, home=tmp_path / "h1").content_hash == a.content_hash  # from the cache
    other = build(resolve_spec(drill_toml(tmp_path, name="other", seed=2)), home=tmp_path / "h1")
    assert other.content_hash != a.content_hash


def test_train_stays_within_d_train_and_test_reaches_beyond_it(tmp_path, fixture_corpus):
    corpus = build(resolve_spec(drill_toml(tmp_path)), home=tmp_path / "h")
    train, test = events(corpus.texts("train")), events(corpus.texts("test"))
    assert max(e.distance for e in train) <= 200
    assert max(e.distance for e in test) > 1000 and sum(e.distance > 200 for e in test) > len(test) / 3
    short = sum(e.distance <= 100 for e in train) / len(train)
    assert short > 0.6  # the mixture is dense in short pairs: where memory starts to form
    assert {e.depth for e in train} == {1, 2, 3} and {e.depth for e in test} == {1, 2, 3}
    names = Counter(e.target for e in train)
    assert len(names) >= 3 and min(names.values()) > 0.5 * max(names.values()) / 1  # every kind is used


def test_every_unit_is_read_back_and_the_filler_has_no_structure(tmp_path, fixture_corpus):
    corpus = build(resolve_spec(drill_toml(tmp_path)), home=tmp_path / "h")
    for text in corpus.texts("test"):
        opened = text.count("\\begin{")
        assert opened == text.count("\\end{") == len(probes.latex_env_events(text))


def test_the_20_gram_is_at_chance_beyond_its_context_on_a_drill(tmp_path, fixture_corpus):
    from gencheck.ngram import NGram

    corpus = build(resolve_spec(drill_toml(tmp_path, train_chars=300_000, eval_chars=60_000)), home=tmp_path / "h")
    vocab = Vocab.from_texts(corpus.texts("train"))
    ng = NGram.fit(stream(corpus.texts("train"), vocab), 20, vocab.size, vocab.sep_id)
    outs = probes.probe_outcomes("latex_end", corpus.texts("test"), vocab, probes.ngram_scorer(ng))
    k = len({e.target for e in events(corpus.texts("test"))})
    far = [o.correct for o in outs if o.distance > 40]
    near = [o.correct for o in outs if o.distance <= 20]
    assert len(far) > 100
    # beyond 20 characters the opener is out of the 20-gram's sight: chance is 1/K (binomial 3 sd above)
    assert np.mean(far) < 1 / k + 3 * np.sqrt((1 / k) * (1 - 1 / k) / len(far))
    assert not near or np.mean(near) > 0.9  # within its context it sees the opener


def test_buckets_beyond_training_are_those_wholly_longer_than_d_train():
    assert beyond_training(1000) == ["1001-3000", ">3000"]
    assert beyond_training(300) == ["301-1000", "1001-3000", ">3000"]
    assert beyond_training(250) == ["301-1000", "1001-3000", ">3000"]


@pytest.mark.parametrize("table,message", [
    ("level = 5", "level = 5"),
    ("level = \"zero\"", "level = 'zero' must be a whole number"),
    ("short_share = \"most\"", "short_share = 'most' must be a number"),
    ("short_share = 1.5", "short_share = 1.5"),
    ("depth = 0", "depth = 0"),
    ("d_train = 100\ntest_max = 50", "test_max = 50"),
    ("bogus = 1", "unknown field 'bogus' in [drill]"),
])
def test_a_bad_drill_declaration_is_one_line_naming_the_field(tmp_path, table, message):
    path = write(tmp_path / "bad.toml", f'format = "latex"\n[[sources]]\nkind = "drill"\ncorpus = "latex"\n[drill]\n{table}\n')
    with pytest.raises(GencheckError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_spec(path)


def test_a_drill_source_names_a_corpus_and_stands_alone(tmp_path):
    bad = write(tmp_path / "a.toml", 'format = "latex"\n[[sources]]\nkind = "drill"\ncorpus = "../x"\n')
    with pytest.raises(GencheckError, match="base corpus by a built-in name"):
        load_spec(bad)
    orphan = write(tmp_path / "b.toml", 'format = "latex"\n[[sources]]\nkind = "dir"\npath = "."\n[drill]\nlevel = 0\n')
    with pytest.raises(GencheckError, match=r"\[drill\] goes with a source of kind"):
        load_spec(orphan)


def test_real_filler_needs_enough_base_text(tmp_path, fixture_corpus):
    with pytest.raises(GencheckError, match="characters of filler at level 2"):
        build(resolve_spec(drill_toml(tmp_path, level=2)), home=tmp_path / "h")


def test_generate_is_a_pure_function_of_its_inputs(fixture_corpus):
    base = {k: fixture_corpus.texts(k) for k in ("train", "val", "test")}
    p = DrillParams(**{**SMALL, "train_chars": 20_000})
    assert generate("latex", p, base) == generate("latex", p, base)


def test_a_markdown_drill_uses_both_fence_kinds_even_where_the_base_uses_one(fixture_corpus):
    """Markdown's grammar has ``` and ~~~; a base corpus with only ``` (Node's docs) still gives a drill with a
    choice, both kinds about equally often and every fence closed by its own kind."""
    prose = " ".join(t for t in fixture_corpus.texts("train"))
    base = {k: [f"# Notes\n\n{prose}\n\n```\ncode here\n```\n"] * 4 for k in ("train", "val", "test")}
    out = generate("markdown", DrillParams(**{**SMALL, "train_chars": 20_000}), base)
    fences = Counter(run for _, text in out["train"] for _, _, _, run in probes.markdown_fences(text)[0])
    assert set(fences) == {"```", "~~~"} and min(fences.values()) > 0.35 * sum(fences.values()), fences


def test_every_shipped_drill_loads():
    for name in ("latex-drill", "latex-drill-nested", "latex-drill-real", "c-drill", "markdown-drill"):
        spec = resolve_spec(name)
        assert spec.drill is not None and spec.sources[0].kind == "drill"


def test_a_drill_trains_the_drill_profile_by_default_and_other_corpora_the_cpu_profile():
    from argparse import Namespace

    from gencheck.cli import _default_profile

    def default(corpus: str) -> str:
        return _default_profile(Namespace(device="cpu", corpus=corpus, format=None))

    assert default("latex-drill") == "drill" and default("c-drill") == "drill"
    assert default("latex") == "cpu" and default("latex-drill,latex") == "cpu"
    assert default("no-such-corpus") == "cpu"  # its own error comes when it is built


def test_a_run_on_a_drill_marks_buckets_beyond_training_and_reports_depth_and_formation(tmp_path, capsys,
                                                                                        fixture_corpus):
    import json

    from gencheck.cli import main

    decl = drill_toml(tmp_path, depth=2, k=3)
    assert main(["run", "--corpus", decl, "--profile", "smoke", "--steps", "20", "--samples", "2", "--max-chars",
                 "80", "--compile-samples", "0", "--device", "cpu", "--out", str(tmp_path / "runs")]) == 0
    (run_dir,) = list((tmp_path / "runs").iterdir())
    result = json.loads((run_dir / "results.json").read_text())
    drill = result["probes"]["drill"]
    assert drill["d_train"] == 200 and drill["beyond_training"] == ["301-1000", "1001-3000", ">3000"]
    assert set(drill["by_depth"]) == {"1", "2"}
    assert isinstance(result["train"]["memory_formed"], dict)  # a bucket: the characters seen, or None
    rows = result["train"]["evolution"]
    assert rows and all(r["probe_chance"] == 1 / 3 and r["probe_buckets"] for r in rows)
    out = capsys.readouterr().out
    assert "1k-3k†" in out and "longer than any training example" in out and "by nesting depth" in out


def test_memory_formed_is_the_start_of_the_last_run_of_looks_above_chance():
    from gencheck.evolution import memory_formed

    def look(chars, right):
        return {"chars_seen": chars, "probe_chance": 0.125, "probe_buckets": {"31-100": [40, right]}}

    rows = [look(1e6, 5), look(2e6, 30), look(3e6, 4), look(4e6, 35), look(5e6, 40)]
    assert memory_formed(rows) == {"31-100": 4e6}  # a rise that fell back does not count
    assert memory_formed([look(1e6, 5), look(2e6, 6)]) == {"31-100": None}
    one_name = {**look(1e6, 14), "probe_floor": {"31-100": 0.35}}  # 35 %: always the slice's commonest name
    assert memory_formed([one_name]) == {"31-100": None} and memory_formed([look(1e6, 14)]) == {"31-100": 1e6}
    assert memory_formed([{"chars_seen": 1, "probe_buckets": {"31-100": [40, 40]}}]) == {}  # no chance: real text


def test_the_grid_shows_when_memory_formed_per_point_and_over_seeds():
    import copy
    import json
    from pathlib import Path

    from rich.console import Console

    from gencheck.evolution import formation_chars
    from gencheck.results import RunResult
    from gencheck.scorecard import GridView, formed_cell

    assert formation_chars({"11-30": 1e6, "31-100": 2e6, "101-300": 6e6, "301-1000": 5e6}) == 6e6
    assert formation_chars({"31-100": 2e6, "101-300": None}) is None and formation_chars({}) is None
    base = json.loads((Path(__file__).parent / "baselines" / "latex-drill-gate" / "seed-1.json").read_text())
    runs = []
    for seed, formed in ((1, 4e6), (2, 6e6), (3, None)):
        r = copy.deepcopy(base)
        r["seed"] = seed
        r["train"]["memory_formed"] = {"31-100": 1_000_000, "101-300": None if formed is None else int(formed)}
        runs.append(RunResult.from_json(r))
    assert formed_cell(runs[:1]) == "4.0M" and formed_cell(runs[2:]) == "—"
    assert formed_cell(runs) == "5.0M ± 1.4M (2/3)"
    console = Console(width=160, record=True)
    console.print(GridView(runs))
    text = console.export_text()
    assert "formed" in text and "5.0M ± 1.4M (2/3)" in text and "memory formed: characters seen" in text


def test_corpus_info_shows_each_splits_distances_and_depths_for_a_drill(tmp_path, capsys, fixture_corpus):
    import json

    from gencheck.cli import main

    decl = drill_toml(tmp_path, depth=2, k=3)
    assert main(["corpus", "info", decl, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    by_split = info["structure_by_split"]
    assert by_split["train"]["distance"]["quantiles"]["max"] <= 200 < by_split["test"]["distance"]["quantiles"]["max"]
    assert main(["corpus", "info", decl]) == 0
    out = capsys.readouterr().out
    assert "distance (chars) · test" in out and "nesting depth · train" in out


@pytest.mark.slow
@pytest.mark.network  # the base corpus `latex` comes from Debian's archive
def test_the_shipped_latex_drill_builds_to_its_pinned_content():
    corpus = build(resolve_spec("latex-drill"))  # a different build is refused by its pinned content_sha256
    assert corpus.content_hash == resolve_spec("latex-drill").content_sha256
    assert corpus.chars("train") >= 20_000_000
