"""The benchmark scripts run (tiny shapes): a benchmark that no longer starts is a defect CI should see."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from gencheck.train import bf16_problem

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_train_throughput_compares_gencheck_with_the_bare_loop(tmp_path):
    out = tmp_path / "tt.json"
    assert load("train_throughput").main(["--device", "cpu", "--kinds", "lstm,gru", "--layers", "1", "--hidden", "16",
                                          "--precision", "fp32,bf16", "--batch", "4", "--seq", "8", "--steps", "2",
                                          "--rounds", "1", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [(r["kind"], r["precision"]) for r in rows] == [("lstm", "fp32"), ("gru", "fp32"), ("lstm", "bf16"),
                                                          ("gru", "bf16")]
    # a bf16 row is measured where bf16 runs and skipped with the reason where it does not (an AVX2-only CPU)
    for r in rows:
        problem = bf16_problem(torch.device("cpu"), r["kind"]) if r["precision"] == "bf16" else None
        assert ("skipped" in r) == (problem is not None), r
        if problem is None:
            assert r["gencheck_chars_per_s"] > 0 and r["bare_chars_per_s"] > 0 and r["ratio"] > 0
        else:
            assert problem in r["skipped"]


def test_ngram_build_reports_each_order(tmp_path):
    out = tmp_path / "ng.json"
    assert load("ngram_build").main(["latex-fixture", "--orders", "3,5", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["order"] for r in rows] == [3, 5] and all(r["test_bpc"] > 0 for r in rows)


def test_sample_throughput_counts_full_length_samples(tmp_path):
    out = tmp_path / "s.json"
    assert load("sample_throughput").main(["--device", "cpu", "--layers", "1", "--hidden", "16", "--chars", "30",
                                           "--batches", "1,8", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["parallel"] for r in rows] == [1, 8] and rows[0]["speedup_vs_1"] == 1.0


def test_gpu_check_runs_end_to_end_on_the_cpu(tmp_path):
    out = tmp_path / "check"
    assert load("gpu_check").main(["--device", "cpu", "--tiny", "--out", str(out)]) == 0
    report = json.loads((out / "gpu_check.json").read_text())
    assert not report.get("errors"), report.get("errors")
    assert {r["precision"] for r in report["precision"]} == {"fp32", "bf16"}
    assert report["profile"]["rc"] == 0 and "train" in report["profile"]["stages"]
    assert report["recommended"] in ("fp32", "bf16")
    assert "GPU check" in (out / "gpu_check.md").read_text()


def test_grid_jobs_times_the_same_grid_both_ways(tmp_path):
    import pytest

    from gencheck.train import usable_cores

    if usable_cores() < 2:
        pytest.skip("--jobs 2 needs two usable cores")
    out = tmp_path / "gj.json"
    assert load("grid_jobs").main(["--corpus", "latex-fixture", "--profile", "smoke", "--grid", "hidden=16,24",
                                   "--budget", "20k", "--json", str(out), "--", "--no-probes", "--samples", "2",
                                   "--max-chars", "60", "--device", "cpu"]) == 0
    rows = json.loads(out.read_text())
    assert [(r["jobs"], r["points"]) for r in rows] == [(1, 2), (2, 2)]
    assert rows[0]["test_bpc"] == rows[1]["test_bpc"] and all(r["wall_s"] > 0 for r in rows)


@pytest.mark.slow  # about 40 s on 2 shared cores: a local Ray started twice, and the grid four times
def test_ray_overhead_times_the_same_grid_with_jobs_and_on_ray(tmp_path):
    from gencheck.train import usable_cores

    pytest.importorskip("ray", reason="Ray is not installed: pip install 'gencheck[ray]'")
    if usable_cores() < 2:
        pytest.skip("--jobs 2 needs two usable cores")
    out = tmp_path / "ro.json"
    assert load("ray_overhead").main(["--rounds", "1", "--json", str(out), "--", "--no-probes", "--samples", "2",
                                      "--max-chars", "60", "--device", "cpu"]) == 0
    rows = json.loads(out.read_text())
    assert [r["way"] for r in rows] == ["--jobs 2", "--engine ray"]
    assert rows[0]["test_bpc"] == rows[1]["test_bpc"] and all(r["best_s"] > 0 and r["peak_mb"] > 0 for r in rows)


def test_formation_reads_checkpoints_of_one_run_in_step_order(tmp_path):
    import shutil

    from gencheck.cli import main

    run = tmp_path / "run"
    base = ["train", "--corpus", "latex-fixture", "--profile", "smoke", "--device", "cpu", "--out", str(run)]
    assert main([*base, "--steps", "4"]) == 0
    shutil.copy(run / "checkpoint.pt", tmp_path / "early.pt")
    assert main([*base, "--steps", "8", "--resume"]) == 0
    out = tmp_path / "f.json"
    assert load("formation").main([str(run / "checkpoint.pt"), str(tmp_path / "early.pt"), "--corpus",
                                   "latex-fixture", "--order", "3", "--json", str(out)]) == 0
    got = json.loads(out.read_text())
    assert [r["step"] for r in got["rows"]] == [4, 8] and got["probe"] == "latex_end" and got["order"] == 3
    assert set(got["formed"]) <= {b for r in got["rows"] for b in r["buckets"]}
