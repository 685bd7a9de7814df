"""`gencheck report`: saved scorecards re-printed with the versions that made them; different versions warned."""

from __future__ import annotations

import dataclasses
import json

from gencheck.cli import main
from gencheck.provenance import version_differences, versions
from gencheck.results import SCHEMA_VERSION, RunResult

from test_scorecard import result


def saved(tmp_path, name: str, **vers) -> RunResult:
    r = dataclasses.replace(result(), run_id=name, versions={**versions(), **vers})
    (tmp_path / name).mkdir()
    r.save(tmp_path / name / "results.json")
    return r


def test_versions_name_the_parsers_and_torch_without_importing_torch():
    v = versions()
    assert {"gencheck", "python", "torch", "numpy", "pylatexenc", "pycparser", "markdown-it-py"} <= set(v)
    assert v["pycparser"] and v["numpy"]


def test_version_differences_name_each_component():
    assert version_differences({"pycparser": "3.0", "torch": "2.13.0"}, {"pycparser": "3.12", "torch": "2.13.0"}) \
        == ["pycparser 3.0 → 3.12"]
    assert version_differences({"gcc": "gcc 12"}, {}) == ["gcc gcc 12 → absent"]


def test_report_reprints_the_scorecard_with_versions(tmp_path, capsys):
    saved(tmp_path, "a")
    assert main(["report", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "gencheck scorecard" in out and "made with gencheck" in out and "pycparser" in out


def test_report_warns_when_runs_were_made_with_other_versions(tmp_path, capsys):
    saved(tmp_path, "a", pycparser="3.0")
    saved(tmp_path, "b", pycparser="3.12")
    assert main(["report", str(tmp_path / "a"), str(tmp_path / "b" / "results.json")]) == 0
    out = capsys.readouterr().out
    assert "different versions" in out and "pycparser 3.0 → 3.12" in out


def test_report_json_and_errors(tmp_path, capsys):
    r = saved(tmp_path, "a")
    assert main(["report", "--json", str(tmp_path / "a")]) == 0
    (back,) = json.loads(capsys.readouterr().out)
    assert back["versions"] == r.versions and back["schema_version"] == SCHEMA_VERSION
    assert main(["report", str(tmp_path / "missing")]) == 2
    future = json.loads((tmp_path / "a" / "results.json").read_text())
    future["schema_version"] = SCHEMA_VERSION + 1
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "results.json").write_text(json.dumps(future))
    assert main(["report", str(tmp_path / "f")]) == 1
    assert "newer gencheck" in capsys.readouterr().err


def _bucket(name, events, acc=None, ci=None, too_few=False):
    return {"bucket": name, "events": events, "documents": 3, "too_few": too_few, "accuracy": acc, "ci95": ci,
            "mean_bits": None, "bits_ci95": None}


def test_report_markdown_has_a_row_per_run_and_the_headline_probe_by_distance(tmp_path, capsys):
    probes = {"headline": "latex_end", "rows": ["model", "20-gram", "majority"], "real": {"latex_end": {
        row: {"reach": "31-100" if row == "model" else None,
              "overall": {"accuracy": acc, "ci95": [acc - 0.1, acc + 0.1]},
              "buckets": [_bucket("1-10", 0, too_few=True), _bucket("11-30", 5, too_few=True),
                          _bucket("31-100", 40, acc, [acc - 0.1, acc + 0.1])]}
        for row, acc in (("model", 0.6), ("20-gram", 0.4), ("majority", 0.3))}},
        "context": {"model": {"effective_context": 300}}}
    for name in ("a", "b"):
        r = dataclasses.replace(result(), run_id=name)
        r.probes = probes
        (tmp_path / name).mkdir()
        r.save(tmp_path / name / "results.json")
    assert main(["report", "--markdown", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out.splitlines()
    runs = [line for line in out if line.startswith("| a ") or line.startswith("| b ")]
    assert len(runs) == 2 and "latex_end 60 % (50–70)" in runs[0] and "| 31-100 |" in runs[0] and "| 300 |" in runs[0]
    assert "| row | 11-30 | 31-100 |" in out  # the empty bucket is left out, the tiny one shows its count
    assert "| model | n=5 | 60 (50–70) |" in out and "| majority | n=5 | 30 (20–40) |" in out
    assert not any("▲" in line for line in out)  # results from before the paired comparison: no mark, no note
    probes["real"]["latex_end"]["model"]["above_baselines"] = ["31-100"]
    r = dataclasses.replace(result(), run_id="c")
    r.probes = probes
    (tmp_path / "c").mkdir()
    r.save(tmp_path / "c" / "results.json")
    assert main(["report", "--markdown", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "| model | n=5 | 60▲ (50–70) |" in out and any(line.startswith("▲: the model is above") for line in out)
    assert main(["report", "--markdown", "--json", str(tmp_path / "a")]) == 2
