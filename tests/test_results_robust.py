"""A results.json is data: a damaged one is one line naming the file and the field, and any string in one,
markup included, prints as itself (report, compare, check, the grid's and the markdown tables)."""

from __future__ import annotations

import copy
import os
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gencheck.cli import main

BASELINE = Path(__file__).parent / "baselines" / "latex-smoke.json"


def full_results() -> dict:
    """A real results.json (the CI baseline) with everything a current run adds: toolchain, evolution rows,
    the paired comparison's marks."""
    d = json.loads(BASELINE.read_text())
    d["schema_version"] = 3
    d["train"]["precision"] = "fp32"
    d["train"]["evolution"] = [{"step": s, "chars_seen": s * 1024, "sample": "\\begin{x}\n%%%%%%%%%% y",
                                "val_bpc": 3.0, "val_chars": 2000, "valid": 0.5, "probe": "latex_end",
                                "probe_events": 9, "probe_accuracy": 0.25, "seconds": 0.1} for s in (10, 100, 1500)]
    d["train"]["evolution_seconds"] = 0.3
    d["probes"]["real"]["latex_end"]["model"]["above_baselines"] = ["31-100"]
    d["toolchain"] = {"name": "pdflatex", "column": "compiles", "n": 4, "available": True,
                      "version": "pdfTeX 3.14", "samples": {"texts": 4, "judged": 4, "ok": 1, "tolerant_ok": 2,
                                                            "both": 1, "kinds": {"ok": 1, "undefined_cs": 3},
                                                            "seconds": 1.0, "examples": {"undefined_cs": "line 1: \\x"}},
                      "real": {"texts": 4, "judged": 4, "ok": 4, "tolerant_ok": 4, "both": 4, "kinds": {"ok": 4},
                               "seconds": 1.0, "examples": {}}}
    return d


def save(folder: Path, d: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(d))
    return folder


COMMANDS = (["report"], ["report", "--markdown"], ["report", "--evolution"], ["report", "--json"])


def every_command_copes(tmp_path: Path, d: dict, capsys) -> list[int]:
    """Exit statuses of report (each view), compare and check on `d`, beside the unchanged baseline; a
    failure must be one line."""
    base, new = save(tmp_path / "base", full_results()), save(tmp_path / "new", d)
    codes = [main([*cmd, str(new), str(base)]) for cmd in COMMANDS]
    codes += [main(["compare", str(base), str(new)]), main(["check", str(new), "--baseline", str(base)])]
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for line in err.splitlines():
        assert line.startswith(("error:", "warning:")) or not line.strip(), line
    return codes


def test_the_full_results_print_everywhere(tmp_path, capsys):
    assert every_command_copes(tmp_path, full_results(), capsys) == [0, 0, 0, 0, 0, 0]


@pytest.mark.parametrize("change, field", [
    (lambda d: d["metrics"].update(test_bpc="2.0"), "metrics.test_bpc must be a number"),
    (lambda d: d.update(corpus=["latex"]), "corpus must be an object"),
    (lambda d: d["corpus"].pop("content_hash"), "corpus.content_hash must be present"),
    (lambda d: d.update(wall_seconds=None), "wall_seconds must be a number"),
    (lambda d: d["samples"].update(counts={"valid": "3"}), "samples.counts.valid must be a whole number"),
    (lambda d: d["probes"]["real"]["latex_end"]["model"]["buckets"][0].update(events=None),
     "probes.real.latex_end.model.buckets[0].events must be a whole number"),
    (lambda d: d["train"].update(evolution={"step": 1}), "train.evolution must be a list"),
    (lambda d: d.update(extra=1), "extra must be a known field"),
    (lambda d: d.update(versions={"torch": 2}), "versions.torch must be a string"),
])
def test_a_malformed_results_json_is_one_line_naming_the_file_and_field(tmp_path, capsys, change, field):
    d = full_results()
    change(d)
    path = save(tmp_path / "bad", d)
    assert main(["report", str(path)]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert str(path / "results.json") in line and field in line


def test_deep_nesting_is_one_line(tmp_path, capsys):
    path = tmp_path / "results.json"
    path.write_text('{"probes": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert main(["report", str(path)]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "nested too deeply" in line or "must be" in line


# --- any value anywhere ---------------------------------------------------------------------------------------

def paths(d, prefix=()) -> list[tuple]:
    """Every path into a JSON tree (keys and list indexes), the tree's own leaves included."""
    out = [prefix]
    if isinstance(d, dict):
        for k, v in d.items():
            out += paths(v, prefix + (k,))
    elif isinstance(d, list):
        for i, v in enumerate(d[:3]):
            out += paths(v, prefix + (i,))
    return out


FULL = full_results()
PATHS = [p for p in paths(FULL) if p and p[0] != "schema_version"]
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8)
    | st.sampled_from(["[/]", "[bold]x", "\\begin{[/]}", "all", "model", "latex_end", "31-100", "—"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["bucket", "events", "too_few",
                                                                                  "accuracy", "x"]), inner, max_size=3),
    max_leaves=6)


def put(d: dict, path: tuple, value, delete: bool) -> dict:
    d = copy.deepcopy(d)
    *head, last = path
    target = d
    for k in head:
        target = target[k]
    if delete and isinstance(target, dict):
        del target[last]
    else:
        target[last] = value
    return d


@settings(max_examples=120, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(PATHS), value=VALUES, delete=st.booleans())
def test_fuzz_any_value_anywhere_in_results_is_one_clear_error_or_prints(tmp_path_factory, capsys, path, value, delete):
    tmp = tmp_path_factory.mktemp("fuzz")
    codes = every_command_copes(tmp, put(FULL, path, value, delete), capsys)
    assert set(codes) <= {0, 1, 2}


def test_nan_and_infinite_figures_print(tmp_path, capsys):
    d = full_results()
    d["metrics"]["test_bpc"] = math.nan
    d["wall_seconds"] = math.inf
    d["train"]["chars_per_s"] = math.inf
    assert every_command_copes(tmp_path, d, capsys)[:4] == [0, 0, 0, 0]


# --- strings from results print as themselves (#21, item 6) -------------------------------------------------

MARK = "\\begin{[/]}[bold]x"


def rename_everywhere(d, old: str, new: str):
    """`d` with every key and string value equal to `old` replaced by `new` (a probe, row or bucket name)."""
    if isinstance(d, dict):
        return {new if k == old else k: rename_everywhere(v, old, new) for k, v in d.items()}
    if isinstance(d, list):
        return [rename_everywhere(v, old, new) for v in d]
    return new if d == old else d


def set_field(path: tuple):
    def change(d):
        target = d
        for k in path[:-1]:
            target = target[k]
        target[path[-1]] = MARK
        return d
    return change


PRINTED = {
    "run id": set_field(("run_id",)), "corpus name": set_field(("corpus", "name")),
    "device": set_field(("device",)), "precision": set_field(("train", "precision")),
    "model cell": set_field(("model", "kind")), "finding kind": set_field(("samples", "top_errors", 0, "kind")),
    "finding example": set_field(("samples", "top_errors", 0, "example")),
    "majority environment": set_field(("closers", "majority_baseline", "env")),
    "a version": set_field(("versions", "torch")), "judge name": set_field(("toolchain", "name")),
    "judge version": set_field(("toolchain", "version")),
    "judge column": lambda d: {**d, "toolchain": {**d["toolchain"], "column": MARK, "available": False}},
    "controlled opener": set_field(("probes", "controlled_info", "openers", 0)),
    "wrong-close kind": lambda d: set_field(("probes", "sampled", "wrong_kinds", 0))(
        put(d, ("probes", "sampled", "buckets", 2, "closes"), 30, False)),
    "evolution sample": set_field(("train", "evolution", 0, "sample")),
    "evolution probe": set_field(("train", "evolution", 0, "probe")),
    "probe name": lambda d: rename_everywhere(d, "latex_end", MARK),
    "row name": lambda d: rename_everywhere(d, "20-gram", MARK),
    "bucket label": lambda d: rename_everywhere(d, "31-100", MARK),
    "stage name": lambda d: {**d, "stages": {MARK: 1.0, **d["stages"]}},
}


@pytest.mark.parametrize("field", PRINTED)
def test_markup_in_a_printed_field_prints_as_itself(tmp_path, capsys, monkeypatch, field):
    """`\\begin{[/]}` in a results field made the scorecard raise MarkupError, and the run's own results
    unprintable: every view prints it as written (the grid's tables too)."""
    from rich.console import Console

    from gencheck.results import RunResult
    from gencheck.scorecard import GridView

    monkeypatch.setenv("COLUMNS", "400")
    d = PRINTED[field](full_results())
    codes = every_command_copes(tmp_path, d, capsys)
    assert codes[:5] == [0, 0, 0, 0, 0] and codes[5] in (0, 1)
    out = "".join(capsys.readouterr())
    base, new = tmp_path / "base", tmp_path / "new"
    for cmd in (["report", str(new), str(base)], ["report", "--markdown", str(new)], ["report", "--evolution", str(new)],
                ["compare", str(base), str(new)]):
        main(cmd)
    console = Console(width=400, record=True, file=open(os.devnull, "w"))
    r = RunResult.load(new / "results.json")
    console.print(GridView([r, RunResult.load(base / "results.json")]))
    printed = capsys.readouterr().out + console.export_text()
    assert MARK in printed, field


def test_markup_in_corpus_and_document_names_prints_as_itself(tmp_path, capsys, monkeypatch):
    """Strings from a corpus (a folder's name, its documents' paths) are data too."""
    monkeypatch.setenv("COLUMNS", "400")
    folder = tmp_path / "notes[bold]x"
    folder.mkdir()
    for i in range(4):
        (folder / f"d{i}[red].tex").write_text(f"\\section{{S{i}}}\\begin{{proof}}x\\end{{lemma}} text {i}\n")
    assert main(["corpus", "info", str(folder), "--format", "latex"]) == 0
    assert main(["corpus", "build", str(folder), "--format", "latex"]) == 0
    assert main(["calibrate", "--corpus", str(folder), "--format", "latex", "--split", "all", "--mutations", "1"]) == 0
    out = capsys.readouterr().out
    assert "notes[bold]x" in out and "[red].tex" in out
