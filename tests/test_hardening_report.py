"""Hardening #31, items 2, 8 and 11 (results.json): figure files stay inside their folder whatever the run id,
a hostile results.json is one line or a correct output in every view (plots, markdown), text from data is
drawn as plain text (no mathtext), and a results.json is read with a size cap."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from gencheck.cli import main
from gencheck.plots import slug

from test_results_robust import full_results, save


def report(capsys, *argv: str) -> tuple[int, str]:
    rc = main(["report", *argv])
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("run_id", ["../../../../escaped/x", "/tmp/gencheck-escaped/x", "..", ".hidden",
                                    "a/b\\c", "x" * 500, "", "\x1b]0;t\x07"])
def test_figure_files_stay_inside_their_folder_whatever_the_run_id(tmp_path, capsys, run_id):
    pytest.importorskip("matplotlib")
    d = full_results()
    d["run_id"] = run_id
    run = save(tmp_path / "run", d)
    out = tmp_path / "figs"
    rc, err = report(capsys, str(run), "--png", str(out), "--svg", str(out))
    assert rc == 0, err
    written = list(out.iterdir())
    assert written and all(p.parent == out and not p.name.startswith(".") and len(p.name) <= 130 for p in written)
    assert not Path("/tmp/gencheck-escaped").exists() and not (tmp_path.parent / "escaped").exists()


def test_slug_keeps_one_safe_alphabet():
    assert slug("../../a b/c") == "a-b-c" and slug("..") == "figure" and slug("") == "figure"
    assert slug("run-1.latex_end") == "run-1.latex_end" and len(slug("y" * 999)) == 120


def test_a_symlink_planted_as_a_figure_file_is_refused(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    run = save(tmp_path / "run", full_results())
    out = tmp_path / "figs"
    out.mkdir()
    target = tmp_path / "elsewhere.png"
    target.write_bytes(b"keep")
    (out / "bits-per-char.png").symlink_to(target)
    rc, err = report(capsys, str(run), "--png", str(out))
    assert rc == 1 and "refusing to write" in err and target.read_bytes() == b"keep"


HOSTILE = {
    "history a string": lambda d: d["train"].update(history="abc"),
    "history step a string": lambda d: d["train"].update(history=[{"step": "5", "val_bpc": 3.0}]),
    "history step negative": lambda d: d["train"].update(history=[{"step": -5, "val_bpc": 3.0}]),
    "batch size 10**400": lambda d: d["train"].update(batch_size=10**400),
    "chars_seen infinite": lambda d: d["train"]["evolution"][0].update(chars_seen=math.inf),
}
ODD_BUT_READABLE = {
    "val_bpc NaN": lambda d: [h.update(val_bpc=math.nan) for h in d["train"]["history"]],
    "val_bpc infinite": lambda d: d["train"]["history"][0].update(val_bpc=math.inf),
    "accuracy NaN": lambda d: [c.update(accuracy=math.nan, ci95=[math.nan, math.inf])
                               for c in d["probes"]["real"]["latex_end"]["model"]["buckets"]],
    "mathtext run id": lambda d: d.update(run_id="run $\\undefinedmacro{$ x"),
    "control characters in the run id": lambda d: d.update(run_id="run \x1b]0;PWNED\x07 x"),
}
VIEWS = (["--plot"], ["--markdown"], ["--png", "PNG"], ["--svg", "SVG"])


def views(tmp_path: Path) -> list[list[str]]:
    return [[a.replace("PNG", str(tmp_path / "png")).replace("SVG", str(tmp_path / "svg")) for a in v] for v in VIEWS]


def damaged_run(tmp_path: Path, damage) -> Path:
    """A run folder whose results.json is the full one with `damage` applied."""
    pytest.importorskip("matplotlib")
    d = full_results()
    damage(d)
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(d))
    return run


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_results_json_is_one_line_in_every_view(tmp_path, capsys, name):
    run = damaged_run(tmp_path, HOSTILE[name])
    for view in views(tmp_path):
        rc, err = report(capsys, str(run), *view)
        lines = err.strip().splitlines()
        assert rc == 1 and len(lines) == 1 and lines[0].startswith("error:") and "results.json" in lines[0], (view, err)


@pytest.mark.parametrize("name", sorted(ODD_BUT_READABLE))
def test_odd_but_readable_figures_draw_without_a_traceback(tmp_path, capsys, name):
    run = damaged_run(tmp_path, ODD_BUT_READABLE[name])
    for view in views(tmp_path):
        rc = main(["report", str(run), *view])
        out = capsys.readouterr()
        assert rc == 0, (view, out.err)
        assert "\x1b]" not in out.out + out.err and "\x07" not in out.out + out.err


def test_a_sparse_multi_gigabyte_results_json_is_refused_by_its_size(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    with open(run / "results.json", "wb") as fh:
        fh.truncate(3 << 30)
    rc, err = report(capsys, str(run))
    assert rc == 1 and "more than the" in err and len(err.strip().splitlines()) == 1
