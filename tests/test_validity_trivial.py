"""Validity that means something (#32): a text with nothing to judge is `trivial`, counted beside the rates
and outside them, alike for samples and real text; C's pycparser parse is a figure beside the verdict (`parses`)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest
from rich.console import Console

from gencheck import validate_cmd
from gencheck.validators import ERROR, INVALID, TRIVIAL, VALID, VIABLE_PREFIX, WARNING, validate
from gencheck.validators.base import MIN_CONTENT_CHARS, UNJUDGED, share

#: What a default `latex` run sampled: 2,000 characters of template comments, nothing outside them.
COMMENT_SAMPLE = ("% Please use this template for your submission; replace the fields below.\n" * 40)[:2000]


def note(v) -> str:
    """The one `trivial` finding's message."""
    (f,) = [f for f in v.findings if f.kind == "trivial"]
    assert f.severity == WARNING
    return f.message


@pytest.mark.parametrize("fmt", ["latex", "c", "markdown"])
def test_empty_text_is_trivial(fmt):
    v = validate("", fmt)
    assert v.verdict == TRIVIAL and note(v) == "empty text"
    assert validate(" \n\t\n", fmt).verdict == TRIVIAL


def test_all_comment_latex_sample_is_trivial():
    assert len(COMMENT_SAMPLE) == 2000
    v = validate(COMMENT_SAMPLE, "latex")
    assert v.verdict == TRIVIAL and note(v) == "nothing outside comments"


def test_latex_structure_makes_it_valid():
    assert validate(r"\begin{proof}x\end{proof}", "latex").verdict == VALID
    assert validate(COMMENT_SAMPLE + "\n" + r"\begin{proof}x\end{proof}", "latex").verdict == VALID
    assert validate("Some prose of a paper, {\\em emphasised}.", "latex").verdict == VALID  # a brace group
    assert validate("Let $x$ be the size of the input, as before.", "latex").verdict == VALID  # math
    v = validate("Plain words of prose, and nothing else in them at all.", "latex")
    assert v.verdict == TRIVIAL and note(v).startswith("no structure: no \\begin")
    v = validate("% \\begin{x} { $\nSome prose of a paper without groups.", "latex")
    assert v.verdict == TRIVIAL  # the structure is in a comment


def test_the_floor():
    short = "$x$ {y}"
    assert validate(short, "latex").verdict == TRIVIAL
    assert f"fewer than {MIN_CONTENT_CHARS}" in note(validate(short, "latex"))
    assert validate("int f(void){}", "c").verdict == TRIVIAL
    assert validate("# Hi", "markdown").verdict == TRIVIAL


def test_errors_outrank_triviality():
    assert validate("}", "latex").verdict == INVALID
    assert validate("$", "latex").verdict == VIABLE_PREFIX
    assert validate("int f(", "c").verdict == VIABLE_PREFIX
    assert validate("`code", "markdown").verdict == VIABLE_PREFIX


def test_c_parse_error_is_a_figure_beside_the_verdict():
    """pycparser's failure is `syntax.parses` false and a located warning; the verdict is the lexer's, since the
    parse also fails on real code that uses macros and types from unseen headers (validators/c.py)."""
    v = validate("int = 3 x;", "c")
    assert v.verdict == TRIVIAL and v.syntax["parses"] is False  # no bracket: nothing for the lexer to judge
    assert [(f.kind, f.severity, f.line, f.col) for f in v.findings if f.kind == "parse_error"] == [
        ("parse_error", WARNING, 1, 5)]
    for text in ("int f(int a) { if (a > ) return 1; }", "int f(void) {\n  x = ;\n  return 0;\n}",
                 "int main(void) { int x = 1 2; }"):
        v = validate(text, "c")
        assert v.verdict == VALID and v.syntax == {"balanced": True, "parses": False}, text
        assert [f.kind for f in v.findings] == ["parse_error"], text


def test_the_summary_counts_what_parses_among_the_rated_texts():
    from gencheck.results import VerdictSummary

    texts = ["int main(void) { return 0; }", "int main(void) { int x = 1 2; }", "int f(", "x"]
    s = VerdictSummary.of([validate(t, "c") for t in texts])
    assert s.rated == 3 and s.trivial == 1 and s.parses == 1 and abs(s.parse_rate - 1 / 3) < 1e-12
    assert VerdictSummary.of([validate("\\begin{a}x\\end{a} and some more words", "latex")]).parse_rate is None


def test_c_main_is_valid():
    v = validate("int main(void){return 0;}", "c")
    assert v.verdict == VALID and v.syntax == {"balanced": True, "parses": True} and v.findings == ()


def test_c_structure_without_brackets_is_trivial():
    v = validate("int counter = 0;\nint limit = 100;\n#define MAX 3\n", "c")
    assert v.verdict == TRIVIAL and note(v).startswith("no structure: no (), [] or {}")


def test_c_parse_failure_a_header_could_explain_is_visible_not_counted():
    v = validate('MODULE_LICENSE("GPL");\nint main(void) { return 0; }\n', "c")
    assert v.verdict == VALID and v.syntax["parses"] is False
    (f,) = v.findings
    assert f.kind == "parse_error" and f.severity == WARNING and "maybe: 'MODULE_LICENSE'" in f.message
    v = validate("static PyObject *\nf(PyObject *self UNUSED, PyObject *args) { return args; }\n", "c")
    assert v.verdict == VALID and "'UNUSED'" in v.findings[0].message
    v = validate("#define local static\nlocal void f(void) { return; }\n", "c")
    assert v.verdict == VALID and "macro the parse does not expand" in v.findings[0].message


def test_c_parse_cut_by_the_end_says_so():
    v = validate("int main(void) { return 0; }\nint limit = ", "c")
    assert v.verdict == VALID and v.findings[0].kind == "parse_error" and v.findings[0].fixable_by_append
    assert not validate("int main(void) { return 0; }\nint limit = ;", "c").findings[0].fixable_by_append


def test_c_crlf_is_read():
    assert validate("int main(void)\r\n{\r\n  return 0;\r\n}\r\n", "c").verdict == VALID


def test_markdown_plain_paragraph_is_trivial_and_a_fence_valid():
    v = validate("Just some plain words in a paragraph.\n\nAnd another paragraph of words.\n", "markdown")
    assert v.verdict == TRIVIAL and note(v).startswith("no structure: no code block")
    assert validate("Some words.\n\n```python\nprint('hello')\n```\n", "markdown").verdict == VALID


def test_rates_exclude_trivial():
    from gencheck.results import VerdictSummary

    texts = [r"\begin{proof}x\end{proof}", r"\begin{proof}x\end{lemma}", COMMENT_SAMPLE, ""]
    s = VerdictSummary.of([validate(t, "latex") for t in texts])
    assert s.counts == {"valid": 1, "viable_prefix": 0, "invalid": 1, "trivial": 2, "unjudged": 0}
    assert (s.count, s.judged, s.rated, s.trivial) == (4, 4, 2, 2)
    assert s.rate(VALID) == s.rate(INVALID) == 0.5  # of the two texts with something to judge
    assert s.rate(TRIVIAL) == 0.5  # its own share is of every text
    assert "trivial" not in {e["kind"] for e in s.top_errors}
    assert math.isnan(share({TRIVIAL: 3, UNJUDGED: 1}, VALID))  # nothing rated: no rate, never 0
    old = VerdictSummary(count=2, counts={"valid": 1, "viable_prefix": 0, "invalid": 1, "unjudged": 0})
    assert old.trivial is None and old.rate(VALID) == 0.5  # a result made before the verdict


def test_calibration_and_the_scorecard_column_share_one_rule(fixture_corpus, monkeypatch):
    from gencheck.calibrate import calibrate
    from gencheck.results import VerdictSummary

    seen = []

    def judge(texts, fmt, **kw):  # noqa: ARG001 -- the first real document emptied: a trivial one
        got = [validate("" if not seen and i == 0 else t, fmt) for i, t in enumerate(texts)]
        seen.append(got)
        return got

    monkeypatch.setattr("gencheck.calibrate.validate_many", judge)
    cal = calibrate(fixture_corpus, split="all", per_kind=2, seed=1, workers=1)
    assert (cal.documents, cal.judged, cal.rated, cal.accepted) == (8, 8, 7, 7)
    assert [t.kind for t in cal.trivial] == ["trivial"] and cal.rejected == []
    assert cal.acceptance == 1.0 == VerdictSummary.of(seen[0]).rate(VALID)
    out = cal.to_json()
    assert out["rated"] == 7 and out["counts"]["trivial"] == 1 and out["acceptance"] == 1.0


def test_mutants_left_trivial_are_no_detection():
    from gencheck.calibrate import MutationRow

    m = MutationRow("delete_close_brace", tried=4, detected=2, unjudged=1, trivial=1)
    assert (m.judged, m.rated, m.rate) == (3, 2, 1.0)


def test_scorecard_shows_the_trivial_row_and_old_results_a_dash():
    from gencheck.results import RunResult
    from gencheck.scorecard import Scorecard

    d = json.loads((Path(__file__).parent / "baselines" / "latex-smoke.json").read_text())
    d["schema_version"] = 3
    old = RunResult.from_json(d)  # written before `trivial`: loads, no count to show
    console = Console(width=80, record=True, color_system=None)
    console.print(Scorecard(old))
    assert "│ trivial (not in %)       │             — │                   │            — │" in console.export_text()
    d["samples"]["counts"]["trivial"] = 3
    d["samples"]["count"] += 3
    console = Console(width=80, record=True, color_system=None)
    console.print(Scorecard(RunResult.from_json(d)))
    assert "│ trivial (not in %)       │       3 of 19 │" in console.export_text()


def parse(argv):
    parser = argparse.ArgumentParser(prog="gencheck")
    validate_cmd.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["validate", *argv])


def test_validate_an_empty_file_says_trivial_and_why(tmp_path, capsys):
    empty = tmp_path / "empty.tex"
    empty.write_text("")
    assert validate_cmd.run(parse([str(empty), "--workers", "1"])) == 3  # not valid, and no error
    out = " ".join(capsys.readouterr().out.split())
    assert "trivial" in out and "trivial: empty text" in out and "1 trivial" in out
    assert validate_cmd.run(parse(["--json", str(empty), "--workers", "1"])) == 3
    row = json.loads(capsys.readouterr().out)
    assert row["verdict"] == "trivial" and row["findings"][0]["message"] == "empty text"
    bad = tmp_path / "bad.c"
    bad.write_text("int main(void) { return 0; }\n}\n")
    assert validate_cmd.run(parse([str(bad), str(empty), "--workers", "1"])) == 1  # an error outranks it
    assert "bracket_stray_close" in capsys.readouterr().out
