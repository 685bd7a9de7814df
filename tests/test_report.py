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
