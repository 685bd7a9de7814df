"""`gencheck report --plot/--png/--svg`: the series each figure extracts from results.json, the files
written, the terminal drawing, the missing-extra message, and no torch import."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from gencheck.cli import main
from gencheck.plots import (INSTALL_PLOTS, LEGEND_MARGIN, Figure, Series, accuracy_by_width, bpc_by_params, figures,
                            fit_label, grid_figures, headline_by_distance, log_ticks, terminal_plot, training_curve)
from gencheck.results import RunResult

from test_scorecard import result

BUCKETS = ["1-10", "11-30", "31-100", "101-300"]


def _cell(bucket: str, acc: float | None) -> dict:
    too_few = acc is None
    return {"bucket": bucket, "events": 5 if too_few else 40, "documents": 3, "too_few": too_few, "accuracy": acc,
            "ci95": None if too_few else [acc - 0.1, acc + 0.05], "mean_bits": None, "bits_ci95": None}


def run(name: str, kind: str = "lstm", layers: int = 2, hidden: int = 128, params: int = 250_000,
        test_bpc: float = 2.0, seed_shift: float = 0.0) -> RunResult:
    """A results object with a history, an evolution and the headline probe (latex_end); `seed_shift`
    moves the model row's accuracies, as another seed would."""
    model = [0.9 + seed_shift, 0.7 + seed_shift, 0.6 + seed_shift, None]
    accs = {"model": model, "20-gram": [0.8, 0.5, 0.3, None], "majority": [0.4, 0.3, 0.3, 0.2]}
    probes = {"headline": "latex_end", "rows": ["model", "20-gram", "5-gram", "majority"], "buckets": BUCKETS,
              "real": {"latex_end": {row: {"reach": "31-100" if row == "model" else None,
                                           "buckets": [_cell(b, a) for b, a in zip(BUCKETS, accs[row])]}
                                     for row in accs}}}
    r = dataclasses.replace(result(), run_id=name, model={"kind": kind, "layers": layers, "hidden": hidden,
                                                         "params": params},
                            metrics={**result().metrics, "test_bpc": test_bpc})
    r.train = {**r.train, "batch_size": 4, "seq_len": 10,
               "history": [{"step": 100, "train_bpc": 3.0, "val_bpc": 3.1, "seconds": 1.0},
                           {"step": 200, "train_bpc": 2.5, "val_bpc": 2.6, "seconds": 2.0}],
               "evolution": [{"step": 10, "chars_seen": 400, "val_bpc": 4.5},
                             {"step": 200, "chars_seen": 8000, "val_bpc": 2.65}]}
    r.probes = probes
    return r


def saved(tmp_path, r: RunResult):
    (tmp_path / r.run_id).mkdir()
    r.save(tmp_path / r.run_id / "results.json")
    return tmp_path / r.run_id


def test_training_curve_merges_history_and_evolution_in_characters():
    (s,) = training_curve([run("a")]).series
    # history: step × batch 4 × seq 10; the evolution adds the early look, the history wins at step 200
    assert (s.label, s.x, s.y) == ("a", [400.0, 4000.0, 8000.0], [4.5, 3.1, 2.6])


def test_a_warm_started_curve_says_where_its_warm_start_ends():
    warm = run("w")
    warm.train = {**warm.train, "warm_start": {"corpus": "latex-drill", "steps": 50, "chars": 2_000_000}}
    labels = [s.label for s in training_curve([run("a"), warm]).series]
    assert labels == ["a", "w (warm 2M latex-drill)"]


def test_a_long_label_is_cut_in_the_middle_so_plotext_keeps_the_legend():
    label = "20261204-130037-latex-lstm1x128-s1337-92d52f (warm 20M latex-drill) and more words"
    cut = fit_label(label, 40)
    assert len(cut) == 40 and cut.startswith("20261204-130037") and cut.endswith("more words") and "…" in cut
    assert fit_label("short", 40) == "short"
    fig = Figure("f", "title", "x", "y", [Series(label, [1.0, 2.0], [1.0, 2.0])])
    assert fit_label(label, 80 - LEGEND_MARGIN) in terminal_plot(fig, width=80, color=False)


def test_headline_by_distance_has_a_line_per_row_without_too_few_buckets():
    fig = headline_by_distance(run("a"))
    assert fig.xticks == BUCKETS and [s.label for s in fig.series] == ["model", "20-gram", "majority"]
    model, ngram, majority = fig.series
    assert model.x == [0.0, 1.0, 2.0] and model.y == [0.9, 0.7, 0.6]  # 101-300 has too few events: left out
    assert model.lo == pytest.approx([0.8, 0.6, 0.5]) and model.hi == pytest.approx([0.95, 0.75, 0.65])
    assert majority.x == [0.0, 1.0, 2.0, 3.0] and majority.y[-1] == 0.2


def test_grid_accuracy_by_width_is_a_seed_mean_per_bucket_one_figure_per_depth():
    runs = [run("a", layers=1, hidden=64, seed_shift=0.0), run("b", layers=1, hidden=64, seed_shift=-0.2),
            run("c", layers=1, hidden=128, seed_shift=0.05), run("d", layers=2, hidden=64)]
    one, two = accuracy_by_width(runs)
    assert (one.name, two.name) == ("grid-accuracy-by-width-1-layer", "grid-accuracy-by-width-2-layers")
    assert one.xlog and one.xlabel == "hidden units" and "1 layer" in one.title
    # a line per bucket with enough events (101-300 is too few for the model row), buckets in order
    assert [s.label for s in one.series] == ["1-10", "11-30", "31-100"]
    first = one.series[0]  # 1-10: seeds at 64 score 0.9 and 0.7, the one at 128 0.95
    assert first.x == [64.0, 128.0]
    assert first.y == pytest.approx([0.8, 0.95]) and first.lo == pytest.approx([0.7, 0.95])
    assert first.hi == pytest.approx([0.9, 0.95])
    assert [s.y for s in two.series] == [[0.9], [0.7], [0.6]]
    kinds = accuracy_by_width([run("a", kind="gru"), run("b", kind="lstm")])
    assert [f.name for f in kinds] == ["grid-accuracy-by-width-gru-2-layers", "grid-accuracy-by-width-lstm-2-layers"]


def test_grid_test_bpc_is_a_seed_mean_per_depth():
    runs = [run("a", layers=1, params=1000, test_bpc=2.5), run("b", layers=1, params=1000, test_bpc=2.3),
            run("c", layers=1, params=4000, test_bpc=2.2), run("d", layers=2, params=3000, test_bpc=2.1)]
    fig = bpc_by_params(runs)
    assert [(s.label, s.x) for s in fig.series] == [("1 layer", [1000.0, 4000.0]), ("2 layers", [3000.0])]
    one = fig.series[0]
    assert one.y == pytest.approx([2.4, 2.2]) and one.lo == pytest.approx([2.3, 2.2]) and one.hi == pytest.approx([2.5, 2.2])


def test_a_grid_draws_its_comparisons_not_a_probe_figure_per_run():
    grid = [run("a", layers=1, hidden=64), run("b", layers=1, hidden=128)]
    assert [f.name for f in figures(grid)] == ["bits-per-char", "grid-accuracy-by-width-1-layer", "grid-test-bpc"]
    assert grid_figures([run("a"), run("b")]) == []  # same shape twice (seeds): no grid
    assert [f.name for f in figures([run("a"), run("b")])] == ["bits-per-char", "a-latex_end-by-distance",
                                                              "b-latex_end-by-distance"]


def test_log_ticks_name_the_widths_or_the_powers_of_ten():
    few = Figure("f", "t", "x", "y", [Series("s", [64.0, 128.0], [0.1, 0.2])], xlog=True)
    assert log_ticks(few) == ([64.0, 128.0], ["64", "128"])
    many = Figure("f", "t", "x", "y", [Series("s", [9e4, 2e5, 5e5, 1e6, 3e6, 7e6, 1.2e7], [1.0] * 7)], xlog=True)
    assert log_ticks(many) == ([1e5, 1e6, 1e7], ["100k", "1M", "10M"])


def test_report_plot_prints_the_axis_labels(tmp_path, capsys):
    assert main(["report", "--plot", str(saved(tmp_path, run("a")))]) == 0
    out = capsys.readouterr().out
    for label in ("training characters", "val bits/char", "characters from opener to closer", "accuracy", "31-100"):
        assert label in out
    assert "\x1b[" not in out  # not a terminal: no colour codes


def test_report_plot_of_a_grid_prints_the_width_figures(tmp_path, capsys):
    runs = [saved(tmp_path, run("a", layers=1, hidden=64, params=1000)),
            saved(tmp_path, run("b", layers=1, hidden=128, params=3000)), saved(tmp_path, run("c", params=5000))]
    assert main(["report", "--plot", *map(str, runs)]) == 0
    out = capsys.readouterr().out
    for label in ("latex_end by width, 1 layer", "hidden units", "test bits/char by parameters", "parameters"):
        assert label in out
    assert "by width, 2 layers" not in out  # one width at 2 layers: no axis to draw against
    assert "by distance" not in out  # no per-run probe figure for a grid


def test_report_png_and_svg_write_valid_files(tmp_path):
    runs = [saved(tmp_path, run("a", layers=1, params=1000)), saved(tmp_path, run("b", layers=1, hidden=64, params=500)),
            saved(tmp_path, run("c", kind="gru", params=5000))]
    assert main(["report", *map(str, runs), "--png", str(tmp_path / "png"), "--svg", str(tmp_path / "svg")]) == 0
    names = {"bits-per-char", "grid-latex_end-by-distance", "grid-accuracy-by-width-lstm-1-layer", "grid-test-bpc"}
    assert {p.stem for p in (tmp_path / "png").iterdir()} == names
    for p in (tmp_path / "png").iterdir():
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert all(p.read_text().lstrip().startswith("<?xml") and "<svg" in p.read_text()
               for p in (tmp_path / "svg").iterdir())


def test_png_without_matplotlib_names_the_install_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert main(["report", str(saved(tmp_path, run("a"))), "--plot", "--png", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert INSTALL_PLOTS in captured.err and len(captured.err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() and "training characters" not in captured.out


def test_plot_refuses_other_output_modes_and_empty_runs(tmp_path, capsys):
    folder = saved(tmp_path, run("a"))
    assert main(["report", str(folder), "--plot", "--json"]) == 2
    bare = dataclasses.replace(result(), run_id="bare")
    assert figures([bare]) == []
    assert main(["report", str(saved(tmp_path, bare)), "--plot"]) == 2
    assert "nothing to plot" in capsys.readouterr().err


def test_plotting_a_run_does_not_import_torch(tmp_path):
    """The whole report path, drawing and writing files, not only the imports."""
    folder = saved(tmp_path, run("a"))
    code = ("import sys\nfrom gencheck.cli import main\n"
            f"assert main(['report', {str(folder)!r}, '--plot', '--png', {str(tmp_path / 'png')!r}]) == 0\n"
            "assert 'plotext' in sys.modules and 'matplotlib' in sys.modules\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    assert list((tmp_path / "png").glob("*.png"))


def test_a_family_grid_draws_accuracy_by_distance_a_line_per_model():
    from gencheck.plots import families_by_distance

    runs = [run("a", kind="lstm", layers=1, hidden=64), run("b", kind="lstm", layers=1, hidden=64, seed_shift=-0.2),
            run("c", kind="conv", layers=8, hidden=50, seed_shift=-0.4)]
    fig = families_by_distance(runs)
    assert [s.label for s in fig.series] == ["lstm 1×64", "conv 8×50", "20-gram", "majority"]
    lstm = fig.series[0]  # two seeds: the mean, bars min-max; 101-300 too few in the model row, left out
    assert lstm.x == [0.0, 1.0, 2.0] and lstm.y == pytest.approx([0.8, 0.6, 0.5])
    assert lstm.lo == pytest.approx([0.7, 0.5, 0.4]) and lstm.hi == pytest.approx([0.9, 0.7, 0.6])
    assert fig.xticks == BUCKETS
    # one width per family: no width figure, which would be a dot per panel
    assert [f.name for f in figures(runs)] == ["bits-per-char", "grid-latex_end-by-distance", "grid-test-bpc"]
    assert families_by_distance([run("a", hidden=64), run("b", hidden=128)]) is None  # one family: none
