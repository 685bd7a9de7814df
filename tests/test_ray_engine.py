"""Grid points as Ray tasks (`--engine ray`) on a local Ray: the same figures as `--jobs`, bit for bit, and a
worker killed mid-point retried by Ray and resumed from the point's checkpoint."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from gencheck.cli import main
from gencheck.fsutil import UsageError
from gencheck.ray_engine import DIE_AFTER_CHECKPOINT, PointResources, last_line, parse_resources

from test_grid import GRID

#: The existing grid tests' tiny grid, with the probes (their figures are compared too) and without the
#: evolution looks (as the --jobs tests).
RAY_GRID = [a for a in GRID if a != "--no-probes"] + ["--no-evolution"]


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (starting one costs seconds): two CPUs, as CI's machine has; the engine
    uses a Ray already initialised as it is, and leaves it running."""
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'gencheck[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def measured(d):
    """A results.json part without what says how long it took or where a table came from (a cache)."""
    if isinstance(d, dict):
        return {k: measured(v) for k, v in d.items() if not k.endswith("seconds") and k != "cached"}
    return [measured(v) for v in d] if isinstance(d, list) else d


def figures(root: Path) -> list[tuple]:
    """Every point's folder name, val and test bits/char, probe figures and checkpoint weights."""
    import torch

    (grid,) = (p for p in root.iterdir() if p.is_dir())
    rows = []
    for point in sorted(p for p in grid.iterdir() if p.is_dir()):
        r = json.loads((point / "results.json").read_text())
        weights = torch.load(point / "checkpoint.pt", weights_only=True)["model"]
        rows.append((point.name, r["metrics"]["val_bpc"], r["metrics"]["test_bpc"], json.dumps(measured(r["probes"]), sort_keys=True),
                     {k: v.numpy().tobytes() for k, v in weights.items()}))
    return rows


def test_resources_per_point():
    assert parse_resources(None) == PointResources(1, 0.0)
    assert parse_resources("gpu=1") == PointResources(1, 1.0)
    assert parse_resources("cpu=4, gpu=0.5") == PointResources(4, 0.5)
    assert parse_resources("cpu=2").slot.threads == 2 and parse_resources("gpu=1").slot.device == "cuda"
    for bad in ("cpu=0", "cpu=1.5", "tpu=1", "gpu", "cpu=1 cpu=2"):
        with pytest.raises(UsageError):
            parse_resources(bad)


def test_a_failed_tasks_last_line_is_its_own_error():
    class Wrapped(Exception):
        cause = ValueError("traceback line\nbad checkpoint")

    assert last_line(Wrapped("ray's text")) == "ValueError: bad checkpoint"
    assert last_line(RuntimeError("worker died\n  unexpectedly")) == "unexpectedly"


def test_without_ray_the_engine_is_one_line_naming_the_install(tmp_path, monkeypatch, capsys):
    import gencheck.pipeline as pl

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError

    def must_not_train(*a, **kw):
        raise AssertionError("trained without Ray")

    monkeypatch.setattr(pl, "run", must_not_train)
    assert main([*GRID, "--engine", "ray", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'gencheck[ray]'" in err[0]
    assert not list(tmp_path.iterdir())


def test_engine_flags_are_checked(tmp_path, capsys):
    for extra in (["--address", "auto"], ["--resources-per-point", "cpu=1"]):
        assert main([*GRID, *extra, "--out", str(tmp_path)]) == 2  # without --engine ray
    assert main([*GRID, "--engine", "ray", "--jobs", "2", "--out", str(tmp_path)]) == 2
    assert main(["run", "--corpus", "latex-fixture", "--engine", "ray"]) == 2  # no --grid


def test_ray_points_give_the_same_figures_as_jobs_bit_for_bit(tmp_path, local_ray, capfd):
    from gencheck.train import usable_cores

    if usable_cores() < 2:
        pytest.skip("--jobs 2 needs two usable cores")
    jobs, on_ray = tmp_path / "jobs", tmp_path / "ray"
    assert main([*RAY_GRID, "--jobs", "2", "--out", str(jobs)]) == 0  # one thread per point
    assert main([*RAY_GRID, "--engine", "ray", "--out", str(on_ray)]) == 0  # cpu=1: one thread per point
    err = capfd.readouterr().err
    assert "queued on Ray (new)" in err and "lstm1x16: finished on node" in err and "lstm1x24: finished on node" in err
    assert figures(jobs) == figures(on_ray)
    assert main([*RAY_GRID, "--engine", "ray", "--out", str(on_ray)]) == 0  # finished points are skipped
    assert capfd.readouterr().err.count("finished before") == 2


def test_a_killed_worker_is_retried_and_the_point_resumes_from_its_checkpoint(tmp_path, local_ray, capfd, monkeypatch):
    """One point, 58 steps with a checkpoint at step 50: its first try ends its own process right after that
    checkpoint (the DIE_AFTER_CHECKPOINT hook); Ray's retry resumes there, and the point's figures are
    those of an uninterrupted run (gencheck's resume is exact)."""
    grid = [*RAY_GRID, "--grid", "hidden=16", "--budget", "60k"]  # later flags win: one point, 58 steps
    assert main([*grid, "--out", str(tmp_path / "whole")]) == 0
    marker = tmp_path / "died"
    monkeypatch.setenv(DIE_AFTER_CHECKPOINT, str(marker))
    assert main([*grid, "--engine", "ray", "--out", str(tmp_path / "killed")]) == 0
    assert marker.read_text().strip().endswith("checkpoint.pt at step 50")  # the first try died there
    err = capfd.readouterr().err
    assert "lstm1x16: finished on node" in err and "(resumed from its checkpoint)" in err
    assert json.loads(next((tmp_path / "killed").glob("*/*/results.json")).read_text())["train"]["steps"] == 58
    assert figures(tmp_path / "whole") == figures(tmp_path / "killed")


def test_a_point_that_keeps_failing_is_reported_with_its_last_line_after_the_others(tmp_path, local_ray, capfd):
    assert main([*RAY_GRID, "--out", str(tmp_path)]) == 0
    (grid,) = tmp_path.iterdir()
    first, second = sorted(p for p in grid.iterdir() if p.is_dir())
    for point in (first, second):
        (point / "results.json").unlink()  # both killed after their last checkpoint
    (second / "checkpoint.pt").write_bytes(b"not a checkpoint")  # fails on every try
    assert main([*RAY_GRID, "--engine", "ray", "--out", str(tmp_path)]) == 1
    err = capfd.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error:") and "lstm1x24" in last and "not a readable gencheck checkpoint" in last
    assert "after 3 tries" in last and "re-running the same command resumes" in last and "Traceback" not in err
    assert "lstm1x16: finished on node" in err and "(resumed from its checkpoint)" in err
    assert (first / "results.json").is_file() and not (second / "results.json").exists()


def test_ray_is_imported_without_log_deduplication_so_every_points_line_prints():
    """Ray folds forwarded lines that differ only in words with digits, i.e. the same line of two points
    (`[lstm1x16] started on node …`, `[lstm1x24] …`): import_ray switches that off before Ray is imported."""
    import os
    import subprocess

    pytest.importorskip("ray", reason="Ray is not installed: pip install 'gencheck[ray]'")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_DEDUP_LOGS", "RAY_COLOR_PREFIX")}
    code = ("from gencheck.ray_engine import import_ray; import_ray(); import os; "
            "from ray._private import ray_constants as c; print(c.RAY_DEDUP_LOGS, os.environ['RAY_COLOR_PREFIX'])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "0"]  # stderr is a pipe here: no colour codes either
