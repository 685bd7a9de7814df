"""Grids: combinations, equal character budgets, one keyed folder per point, skip and resume on re-runs."""

from __future__ import annotations

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
