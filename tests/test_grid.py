"""Grids: combinations, equal character budgets, one keyed folder per point, skip and resume on re-runs."""

from __future__ import annotations

from dataclasses import replace

import json

import pytest

from gencheck.cli import main
from gencheck.config import PROFILES
from gencheck.fsutil import UsageError
from gencheck.grid import parse_budget, parse_grid, points

GRID = ["run", "--corpus", "latex-fixture", "--profile", "smoke", "--grid", "hidden=16,24", "--budget", "20k",
        "--samples", "2", "--max-chars", "60", "--device", "cpu", "--no-probes"]


def test_grid_spec_and_budget():
    assert parse_grid("layers=1,2 hidden=64,128") == [
        {"layers": 1, "hidden": 64}, {"layers": 1, "hidden": 128}, {"layers": 2, "hidden": 64}, {"layers": 2, "hidden": 128}]
    assert parse_grid("model=lstm,gru") == [{"kind": "lstm"}, {"kind": "gru"}]
    for bad in ("layers", "depth=1,2", "layers=a", ""):
        with pytest.raises(UsageError):
            parse_grid(bad)
    assert (parse_budget("30M"), parse_budget("500k"), parse_budget("1234")) == (30_000_000, 500_000, 1234)
    with pytest.raises(UsageError):
        parse_budget("lots")


def test_every_point_sees_the_same_characters_and_keys_are_stable():
    pts = points(PROFILES["cpu"], parse_grid("seq_len=64,128 hidden=64"), 8_192_000, "ab" * 32, True)
    chars = {p.profile.train.steps * p.profile.train.batch_size * p.profile.train.seq_len for p in pts}
    assert chars == {8_192_000}
    again = points(PROFILES["cpu"], parse_grid("seq_len=64,128 hidden=64"), 8_192_000, "ab" * 32, True)
    assert [p.key for p in pts] == [p.key for p in again] and len({p.key for p in pts}) == 2
    assert points(PROFILES["cpu"], parse_grid("hidden=64"), 8_192_000, "cd" * 32, True)[0].key != \
        points(PROFILES["cpu"], parse_grid("hidden=64"), 8_192_000, "ab" * 32, True)[0].key


def test_point_keys_of_older_grids_stay_the_same():
    """A setting added later (the warm start) counts only when used: a grid made before it keeps its folders.
    The keys were computed with gencheck at 1e4aadb, before TrainConfig had warm_start."""
    pts = points(PROFILES["cpu"], parse_grid("seq_len=64,128 hidden=64"), 8_192_000, "ab" * 32, True)
    assert [p.key for p in pts] == ["afb84a5af0", "785b6f1f16"]
    warm = replace(PROFILES["cpu"], train=replace(PROFILES["cpu"].train, warm_start="latex-drill", warm_chars=10**6))
    assert points(warm, parse_grid("seq_len=64,128 hidden=64"), 8_192_000, "ab" * 32, True)[0].key != pts[0].key


def test_grid_runs_each_point_once_and_resumes_a_killed_one(tmp_path, capsys, monkeypatch):
    assert main([*GRID, "--out", str(tmp_path)]) == 0
    assert "gencheck grid" in capsys.readouterr().out
    (grid,) = tmp_path.iterdir()
    folders = sorted(p for p in grid.iterdir() if p.is_dir())
    assert [f.name.split("-")[0] for f in folders] == ["lstm1x16", "lstm1x24"]
    assert [e["folder"] for e in json.loads((grid / "grid.json").read_text())] == [f.name for f in folders]
    first = {f.name: (f / "results.json").read_bytes() for f in folders}

    import gencheck.pipeline as pl

    def must_not_train(*a, **kw):
        raise AssertionError("a finished point was trained again")

    monkeypatch.setattr(pl, "run", must_not_train)
    assert main([*GRID, "--out", str(tmp_path)]) == 0  # all cached
    monkeypatch.undo()
    (folders[1] / "results.json").unlink()  # killed after its last checkpoint
    assert main([*GRID, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "lstm 1×24" in out and (folders[0] / "results.json").read_bytes() == first[folders[0].name]
    assert json.loads((folders[1] / "results.json").read_text())["train"]["steps"] == \
        json.loads(first[folders[1].name])["train"]["steps"]


def test_budget_without_grid_is_a_usage_error(capsys):
    assert main(["run", "--corpus", "latex-fixture", "--budget", "1M"]) == 2


def test_minutes_become_one_budget_at_the_slowest_points_speed_and_are_measured_once(tmp_path, monkeypatch, capsys):
    import gencheck.train as tr

    rates = {16: 3000.0, 24: 2000.0}
    calls = []

    def fake_rate(profile, vocab_size, device, seconds=3.0):
        calls.append(profile.hidden)
        return rates[profile.hidden]

    monkeypatch.setattr(tr, "step_rate", fake_rate)
    args = [a for a in GRID if a not in ("--budget", "20k")] + ["--minutes", "0.25", "--out", str(tmp_path)]
    assert main(args) == 0
    assert sorted(calls) == [16, 16, 24, 24]  # two timing rounds
    (timing,) = tmp_path.glob("grid-minutes-*.json")
    saved = json.loads(timing.read_text())
    assert saved["budget"] == int(0.25 * 60 * 2000) and saved["slowest"].startswith("lstm1x24")
    grid = next(p for p in tmp_path.iterdir() if p.name.startswith("grid-") and p.is_dir())
    steps = {json.loads((f / "results.json").read_text())["train"]["steps"] for f in grid.iterdir() if f.is_dir()}
    assert steps == {saved["budget"] // (16 * 64)}  # smoke: batch 16 × seq 64, the same for both points
    calls.clear()
    assert main(args) == 0 and calls == []  # the re-run reuses the measured budget and every finished point
    assert "measured before" in capsys.readouterr().err


def test_seeds_repeat_each_point_and_the_scorecard_shows_the_spread(tmp_path, capsys):
    assert main([*GRID, "--seeds", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    (grid,) = tmp_path.iterdir()
    names = sorted(p.name.rsplit("-", 1)[0] for p in grid.iterdir() if p.is_dir())
    # --seeds varies the initialisation and holds the data's order at the base seed's (-d)
    assert names == ["lstm1x16-s1337-d1337", "lstm1x16-s1338-d1337", "lstm1x24-s1337-d1337", "lstm1x24-s1338-d1337"]
    trains = [json.loads((p / "results.json").read_text())["train"] for p in grid.iterdir() if p.is_dir()]
    assert {t["seed"] for t in trains} == {1337, 1338} and {t["data_seed"] for t in trains} == {1337}
    assert "mean ± sd over seeds (initialisation varied, data order fixed)" in " ".join(out.split())


def test_data_seeds_vary_the_order_and_hold_the_initialisation(tmp_path, capsys):
    from gencheck.grid import with_seeds

    assert with_seeds([{}], 1, 7) == [{}]
    assert with_seeds([{}], 1, 7, data_seeds=2) == [{"data_seed": 7}, {"data_seed": 8}]
    assert with_seeds([{}], 2, 7, data_seeds=2) == [{"data_seed": 7, "seed": 7}, {"data_seed": 8, "seed": 7},
                                                    {"data_seed": 7, "seed": 8}, {"data_seed": 8, "seed": 8}]
    assert main([*[a if a != "hidden=16,24" else "hidden=16" for a in GRID], "--data-seeds", "2",
                 "--out", str(tmp_path)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    (grid,) = tmp_path.iterdir()
    trains = [json.loads((p / "results.json").read_text())["train"] for p in grid.iterdir() if p.is_dir()]
    assert sorted(t["data_seed"] for t in trains) == [1337, 1338] and {t["seed"] for t in trains} == {1337}
    assert "(data order varied, initialisation fixed)" in out


def test_cells_and_corpora_as_lists(tmp_path, capsys):
    import shutil
    from pathlib import Path

    mine = tmp_path / "mine"
    shutil.copytree(Path(__file__).resolve().parent.parent / "corpora" / "fixtures" / "latex", mine)
    (mine / "extra.tex").write_text("\\documentclass{article}\n\\begin{document}\nMine.\n\\end{document}\n")
    args = [a if a != "hidden=16,24" else "hidden=16" for a in GRID]
    args[args.index("latex-fixture")] = f"latex-fixture,{mine}"
    out = tmp_path / "runs"
    assert main([*args, "--format", "latex", "--model", "lstm,gru", "--json", "--out", str(out)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["corpus"]["name"] == "latex-fixture", r["model"]["kind"]) for r in rows] == [
        (True, "lstm"), (True, "gru"), (False, "lstm"), (False, "gru")]
    assert len([p for p in out.iterdir() if p.is_dir()]) == 2  # one grid folder per corpus
    assert main(["run", "--corpus", "latex-fixture", "--model", "lstm,gru"]) == 2
    assert "goes with --grid" in capsys.readouterr().err


def test_jobs_become_one_slot_per_gpu_or_a_share_of_the_cores():
    from gencheck.grid import Slot, job_slots

    assert job_slots(1, "cuda:1", 4, 16) == [Slot("cuda:1")]
    assert job_slots(3, "cuda", 4, 16) == [Slot("cuda:0"), Slot("cuda:1"), Slot("cuda:2")]
    assert job_slots(2, "cpu", 0, 5) == [Slot("cpu", 2), Slot("cpu", 2)]
    for jobs, device, gpus, cores in ((5, "cuda", 4, 16), (2, "cuda:0", 4, 16), (3, "cpu", 0, 2), (0, "cpu", 0, 2),
                                      (2, "mps", 0, 8)):
        with pytest.raises(UsageError):
            job_slots(jobs, device, gpus, cores)


def test_parallel_points_give_the_same_results_as_one_after_another(tmp_path, capfd):
    from gencheck.train import usable_cores

    if usable_cores() < 2:
        pytest.skip("--jobs 2 needs two usable cores")
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    assert main([*GRID, "--no-evolution", "--out", str(serial)]) == 0
    assert main([*GRID, "--no-evolution", "--jobs", "2", "--out", str(parallel)]) == 0
    err = capfd.readouterr().err  # the workers' lines come from their own processes
    assert "[lstm1x16]" in err and "[lstm1x24]" in err and "on cpu (1 thread)" in err

    def figures(root):
        (grid,) = root.iterdir()
        rows = [json.loads((p / "results.json").read_text()) for p in sorted(grid.iterdir()) if p.is_dir()]
        return grid.name, [(r["model"]["hidden"], r["train"]["steps"], r["metrics"]["val_bpc"], r["metrics"]["test_bpc"]) for r in rows]

    assert figures(serial) == figures(parallel)  # same folders, same training, bit for bit on the CPU
    assert main([*GRID, "--jobs", "3", "--out", str(parallel)]) == 2


def test_a_failing_parallel_point_stops_the_grid_with_its_error(tmp_path, capfd):
    from gencheck.train import usable_cores

    if usable_cores() < 2:
        pytest.skip("--jobs 2 needs two usable cores")
    assert main([*GRID, "--no-evolution", "--out", str(tmp_path)]) == 0
    (grid,) = tmp_path.iterdir()
    first, second = sorted(p for p in grid.iterdir() if p.is_dir())
    for point in (first, second):
        (point / "results.json").unlink()  # both killed after their last checkpoint: both resume in parallel
    (second / "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert main([*GRID, "--no-evolution", "--jobs", "2", "--out", str(tmp_path)]) == 1
    err = capfd.readouterr().err
    assert "checkpoint" in err.splitlines()[-1] and "Traceback" not in err
    assert (first / "results.json").is_file() and not (second / "results.json").exists()


def test_settings_no_model_can_train_with_are_usage_errors(capsys):
    for flag, value in (("--hidden", "0"), ("--steps", "0"), ("--dropout", "1"), ("--lr", "0")):
        with pytest.raises(SystemExit) as refused:  # at the parser, with the range of config.LIMITS
            main(["run", "--corpus", "latex-fixture", "--profile", "smoke", flag, value])
        assert refused.value.code == 2 and flag in capsys.readouterr().err
    assert main([*[a if a != "hidden=16,24" else "hidden=16,0" for a in GRID]]) == 2


def test_grid_scorecard_shows_the_headline_probe_by_distance_with_floors_and_a_starred_best():
    import copy
    from pathlib import Path

    from rich.console import Console

    from gencheck.results import RunResult
    from gencheck.scorecard import GridView

    base = json.loads((Path(__file__).parent / "baselines" / "latex-smoke.json").read_text())
    wide = copy.deepcopy(base)
    wide["model"]["hidden"] = 256
    cell = next(c for c in wide["probes"]["real"]["latex_end"]["model"]["buckets"] if c["bucket"] == "101-300")
    cell.update(accuracy=0.5, ci95=[0.4, 0.6])  # far beyond the other point's: starred
    console = Console(width=120, record=True)
    console.print(GridView([RunResult.from_json(base), RunResult.from_json(wide)]))
    text = console.export_text()
    table = text[text.index("latex_end by distance"):]
    assert "101-300" in table and "n=182" in table and "11-30" not in table  # buckets with too few events left out
    rows = table.split("* the column's best point")[0]
    assert "50*" in rows and rows.count("*") == 1 and "▲" not in table  # results from before the paired comparison
    assert "20-gram" in table and "majority" in table
    base["probes"]["real"]["latex_end"]["model"]["above_baselines"] = []
    wide["probes"]["real"]["latex_end"]["model"]["above_baselines"] = ["101-300"]
    console = Console(width=120, record=True)
    console.print(GridView([RunResult.from_json(base), RunResult.from_json(wide)]))
    table = console.export_text().split("latex_end by distance")[1]
    assert "50*▲" in table and table.split("* the column's best point")[0].count("▲") == 1
    assert "above every baseline row of its own run" in " ".join(table.split())
    seeded = copy.deepcopy(base)
    seeded["seed"] += 1
    console = Console(width=120, record=True)
    console.print(GridView([RunResult.from_json(base), RunResult.from_json(seeded)]))
    assert "mean ± sd over seeds" in console.export_text().split("latex_end by distance")[1]


def killed_worker(point, run_dir, resume, slot):
    """A grid worker killed outright (the OOM killer, `kill -9`): the pool breaks."""
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_parallel_worker_names_its_point_and_says_a_rerun_resumes(tmp_path):
    from gencheck.fsutil import GencheckError
    from gencheck.grid import Slot, run_grid

    pts = points(PROFILES["smoke"], [{"hidden": 8}, {"hidden": 16}], None, "0" * 64, False)
    with pytest.raises(GencheckError) as exc:
        run_grid(pts, tmp_path, lambda *a: None, lambda msg: None, slots=[Slot("cpu", 1), Slot("cpu", 1)],
                 worker=killed_worker)
    msg = str(exc.value)
    assert "grid point" in msg and ("lstm1x8" in msg or "lstm1x16" in msg)
    assert "re-running the same command resumes it" in msg and "\n" not in msg


def test_two_grids_on_the_same_out_at_once_lose_and_half_write_nothing(tmp_path):
    """Two `run --grid` commands on one OUT: a point is trained by one of them (the other is refused with
    one line, or finds it finished); every file left is whole, and a re-run finds every point finished."""
    import os
    import subprocess
    import sys

    from gencheck.results import RunResult

    cmd = [sys.executable, "-m", "gencheck.cli", *GRID, "--no-evolution", "--out", str(tmp_path)]
    env = {**os.environ, "GENCHECK_THREADS": "1", "OMP_NUM_THREADS": "1"}
    runs = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    errs = [r.communicate(timeout=600)[1] for r in runs]
    codes = [r.returncode for r in runs]
    assert 0 in codes and set(codes) <= {0, 1}, (codes, errs)
    for code, err in zip(codes, errs):
        assert "Traceback" not in err
        if code:
            assert err.strip().splitlines()[-1].startswith("error:") and "gencheck" in err.strip().splitlines()[-1]
    (grid,) = (p for p in tmp_path.iterdir() if p.is_dir())
    assert not [p for p in grid.rglob("*") if p.name.endswith(".tmp")]  # no half-written file
    listed = json.loads((grid / "grid.json").read_text())
    for entry in listed:
        RunResult.load(grid / entry["folder"] / "results.json")  # whole, or this raises
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stderr.count("finished before") == len(listed)


def test_family_settings_count_in_a_points_key_only_for_their_family():
    """`context` is the transformer's: two windows are two points for it, one point (the old key) for an LSTM,
    trained once."""
    gpt = points(PROFILES["cpu"], parse_grid("model=transformer context=64,128"), 8_192_000, "ab" * 32, True)
    assert gpt[0].key != gpt[1].key
    both = points(PROFILES["cpu"], parse_grid("model=lstm,transformer context=64,128"), 8_192_000, "ab" * 32, True)
    assert [p.profile.kind for p in both] == ["lstm", "transformer", "transformer"]
    assert both[0].key == points(PROFILES["cpu"], [{}], 8_192_000, "ab" * 32, True)[0].key
    assert [p.label for p in points(PROFILES["cpu"], parse_grid("model=mingru,conv"), None, "ab" * 32, True)] == \
        ["mingru2x256", "conv2x256"]


# --- family grids: per-family settings and --match params=N ------------------------------------------------

def test_per_family_settings_apply_to_their_family_only():
    from gencheck.grid import family_settings, with_family_settings

    spec = "model=lstm,conv conv.layers=8 transformer.context=64"
    settings = family_settings(spec)
    assert settings == {"conv": {"layers": 8}, "transformer": {"context": 64}}
    assert with_family_settings(parse_grid(spec), settings, "lstm") == [{"kind": "lstm"}, {"kind": "conv", "layers": 8}]
    assert with_family_settings([{}], {"lstm": {"layers": 3}}, "lstm") == [{"layers": 3}]  # --model lstm, no axis
    for bad in ("conv.layers=4,8", "cnn.layers=8", "conv.depth=8", "conv.model=lstm"):
        with pytest.raises(UsageError):
            family_settings(bad)
    with pytest.raises(UsageError, match="both an axis"):
        with_family_settings(parse_grid("model=conv layers=1,2"), family_settings("conv.layers=8"), "lstm")


@pytest.mark.parametrize("kind,layers", [("lstm", 1), ("gru", 2), ("rnn", 1), ("mingru", 2), ("transformer", 2),
                                         ("conv", 8), ("xlstm", 1)])
def test_match_lands_within_ten_percent_and_nearest(kind, layers):
    if kind == "xlstm":
        pytest.importorskip("xlstm", reason="the xlstm extra is not installed")
    from gencheck.models import ModelConfig
    from gencheck.models.sizing import count_params, match_hidden

    cfg = ModelConfig(60, kind, layers, 128, 32, context=64, heads=4)
    m = match_hidden(cfg, 150_000)
    assert m.off <= 0.10 and m.params == count_params(replace(cfg, hidden=m.hidden))
    step = 8 if kind in ("transformer", "xlstm") else 1
    for other in (m.hidden - step, m.hidden + step):  # no width of the family lands nearer
        assert abs(count_params(replace(cfg, hidden=other)) - 150_000) >= abs(m.params - 150_000)


def test_match_refuses_what_it_cannot_reach_and_beside_hidden(capsys):
    from gencheck.models import ModelConfig
    from gencheck.models.sizing import match_hidden, parse_match

    with pytest.raises(UsageError, match="more than 10%"):
        match_hidden(ModelConfig(200, "lstm", 1, 8, 64), 1_000)  # the embedding alone is 12,800
    assert parse_match("params=200k") == 200_000
    for bad in ("200k", "flops=1M", "params="):
        with pytest.raises(UsageError):
            parse_match(bad)
    assert main([*GRID, "--match", "params=20k"]) == 2  # the grid varies hidden: --match would overwrite it
    assert "leave out --hidden" in capsys.readouterr().err


def test_a_matched_grid_sizes_every_family(tmp_path, capsys):
    grid = ["run", "--corpus", "latex-fixture", "--profile", "smoke", "--grid", "model=lstm,conv conv.layers=3",
            "--match", "params=30k", "--budget", "8k", "--samples", "2", "--max-chars", "60", "--device", "cpu",
            "--no-probes", "--no-evolution", "--out", str(tmp_path), "--json"]
    assert main(grid) == 0
    results = json.loads(capsys.readouterr().out)
    assert [(r["model"]["kind"], r["model"]["layers"]) for r in results] == [("lstm", 1), ("conv", 3)]
    assert all(abs(r["model"]["params"] - 30_000) <= 3_000 for r in results)
    assert results[1]["model"]["context_limit"] == 15  # 1 + 2 · (2³ − 1)


def test_the_data_seed_alone_orders_the_training_stream():
    from gencheck.config import TrainConfig
    from gencheck.corpus import Vocab
    from gencheck.train import Streams

    texts = [f"document {i} " * 5 for i in range(12)]
    v = Vocab.from_texts(texts)

    def first_epoch(**kw):
        return Streams.from_texts(texts, v, TrainConfig(batch_size=2, seq_len=8, **kw)).epoch(0)

    assert first_epoch(seed=1).equal(first_epoch(seed=1, data_seed=1))
    assert first_epoch(seed=1, data_seed=2).equal(first_epoch(seed=2))
    assert not first_epoch(seed=1, data_seed=2).equal(first_epoch(seed=1))


def test_a_diverged_point_is_recorded_left_out_and_not_trained_again(tmp_path):
    """A learning rate too high is a finding of the grid: the others go on, and a re-run skips that point."""
    from gencheck.grid import DIVERGED, run_grid
    from gencheck.fsutil import TrainingDiverged

    pts = points(PROFILES["smoke"], parse_grid("lr=0.001,0.5"), 20_000, "0" * 64, False)
    trained: list[float] = []

    def run_point(pt, run_dir, resume):
        trained.append(pt.overrides["lr"])
        if pt.overrides["lr"] > 0.1:
            raise TrainingDiverged("loss became nan at step 3")
        return f"result of {pt.overrides['lr']}"

    logs: list[str] = []
    out = run_grid(pts, tmp_path, run_point, logs.append)
    assert out == ["result of 0.001", None]
    high = tmp_path / f"{pts[1].label}-{pts[1].key}" / DIVERGED
    assert "nan at step 3" in json.loads(high.read_text())["message"]
    assert any("diverged" in line for line in logs)
    trained.clear()
    assert run_grid(pts, tmp_path, run_point, logs.append) == ["result of 0.001", None]
    assert trained == [0.001]
