"""The toolchain judges: pdflatex, gcc and mistune beside the validators (validators/toolchains.py)."""

from __future__ import annotations

import json
import shutil

import pytest

from gencheck.validators import gcc_judge, render_judge, tex_judge, toolchains
from gencheck.validators.toolchains import JudgeContext, Opinion

needs_pdflatex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex (TeX Live) here")
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None, reason="no gcc here")


# --- LaTeX ------------------------------------------------------------------------------------------------

def test_a_fragment_is_wrapped_in_the_declared_preamble_and_closed():
    doc, offset = tex_judge.latex_document("Hello $x$.", "\\documentclass{book}")
    assert doc == "\\documentclass{book}\n\\begin{document}\nHello $x$.\n\\end{document}\n" and offset == 2
    doc, offset = tex_judge.latex_document("x")  # nothing declared: the default preamble
    assert doc.startswith(tex_judge.DEFAULT_PREAMBLE) and offset == 3


def test_a_text_with_its_own_preamble_keeps_it():
    own = "\\documentclass{article}\n\\begin{document}\nx\n"
    doc, offset = tex_judge.latex_document(own, "\\documentclass{book}")
    assert doc == own + "\\end{document}\n" and offset == 0
    cut = "\\documentclass{article}\n\\usepackage{amsmath"  # cut inside its own preamble
    assert tex_judge.latex_document(cut)[0] == cut + "\n\\begin{document}\n\\end{document}\n"
    stacks = "\\input{preamble}\n% start\n\\begin{document}\nx\n\\end{document}\n"
    assert tex_judge.latex_document(stacks, "\\input{preamble}") == (stacks, 0)  # the declared one, already there


def test_a_begin_document_after_body_text_is_not_a_preamble_end():
    doc, offset = tex_judge.latex_document("Some prose.\n\\begin{document}\n")
    assert doc.count("\\begin{document}") == 2 and offset == 3  # TeX then reports the second one
    doc, _ = tex_judge.latex_document("\\usepackage{x}\n% c\n\\begin{document}\nbody")
    assert doc.count("\\begin{document}") == 1


@pytest.mark.parametrize("message, kind", [
    ("Undefined control sequence.", "undefined_cs"),
    ("LaTeX Error: Environment zz undefined.", "undefined_env"),
    ("Missing $ inserted.", "missing_dollar"),
    ("Paragraph ended before \\textbf was complete.", "runaway_argument"),
    ("File ended while scanning use of \\frac.", "runaway_argument"),
    ("LaTeX Error: \\begin{proof} on input line 3 ended by \\end{lemma}.", "env_mismatch"),
    ("LaTeX Error: \\begin{proof} on input line 3 ended by \\end{document}.", "env_unclosed"),
    ("Extra }, or forgotten $.", "brace"),
    ("Misplaced alignment tab character &.", "alignment"),
    ("LaTeX Error: File `x.sty' not found.", "missing_file"),
    ("TeX capacity exceeded, sorry [grouping levels=255].", "capacity"),
    ("Fatal Package fontspec Error: The fontspec package requires either XeTeX", "package_error"),
    ("Something new.", "other"),
])
def test_tex_errors_are_classified(message, kind):
    assert tex_judge.classify(message) == kind


@needs_pdflatex
def test_pdflatex_compiles_and_locates_the_first_error_in_the_texts_own_lines():
    assert tex_judge.opinion("\\section{A} $x^2$ and \\begin{equation}a\\end{equation}").ok is True
    op = tex_judge.opinion("line one\nline two $x\n\nthird")
    assert (op.ok, op.kind, op.line) == (False, "missing_dollar", 3) and op.message.startswith("line 3:")
    op = tex_judge.opinion("a\n\\begin{proof} x \\end{lemma}")
    assert (op.kind, op.line) == ("env_mismatch", 2) and "\\begin{proof} on line 2" in op.message


@needs_pdflatex
def test_undefined_macros_can_be_tolerated_but_structure_is_still_judged():
    op = tex_judge.opinion("\\foo{x} \\begin{zz} y \\end{zz}")
    assert (op.ok, op.kind, op.tolerant_ok) == (False, "undefined_cs", True) and "\\foo" in op.message
    op = tex_judge.opinion("\\foo{x} \\begin{zz} y \\end{yy}")  # the invented environment is closed wrongly
    assert (op.ok, op.tolerant_ok) == (False, False)
    op = tex_judge.opinion("\\foo{x} $a")  # tolerating \\foo does not forgive the math
    assert (op.ok, op.tolerant_ok) == (False, False)


@needs_pdflatex
def test_an_invented_environment_alone_is_tolerated_like_one_with_an_undefined_macro():
    """An error-free tolerant pass counts: the environment is the only thing TeX did not know."""
    op = tex_judge.opinion("\\begin{foo}x\\end{foo}")
    assert (op.ok, op.kind, op.tolerant_ok) == (False, "undefined_env", True)
    assert tex_judge.opinion("\\zork \\begin{foo}x\\end{foo}").tolerant_ok is True
    assert tex_judge.opinion("\\begin{foo}x\\end{bar}").tolerant_ok is False


@needs_pdflatex
def test_declared_files_are_put_beside_the_compile():
    files = (("preamble.tex", "\\documentclass{article}\\newcommand{\\myname}{M}"),)
    op = tex_judge.opinion("\\myname", "\\input{preamble}", files=files)
    assert op.ok is True, op
    assert tex_judge.opinion("\\myname", "\\input{preamble}").kind == "missing_file"


def test_absent_judges_say_na_never_a_failure(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    for op in (tex_judge.opinion("x"), gcc_judge.opinion("int x;")):
        assert op.ok is None and op.kind == "absent"
    ops = toolchains.judge_many(["x", "y"], "latex")  # no pool started for nothing
    assert [(o.ok, o.kind) for o in ops] == [(None, "absent")] * 2 and not toolchains.available("latex")


# --- C ----------------------------------------------------------------------------------------------------

@needs_gcc
def test_gcc_judges_syntax_not_missing_headers():
    text = ('#include "sqliteInt.h"\n#include <linux/sched.h>\nstatic u32 counter;\n'
            "int f(Btree *p, int n){\n  int rc = SQLITE_OK;\n  if( n>0 ) rc = sqlite3BtreeFoo(p, n);\n"
            "  return rc + other_var;\n}\n")
    assert gcc_judge.opinion(text).ok is True  # headers stubbed, unknown names declared
    op = gcc_judge.opinion("int main(void) {\n  return 0\n}\n")
    assert (op.ok, op.kind, op.line) == (False, "syntax", 2) and op.message.startswith("2:11: expected ';'")
    op = gcc_judge.opinion("int f(void){ struct s x; return x.a; }")
    assert (op.ok, op.kind) == (False, "semantic")


@needs_gcc
def test_corpus_flags_reach_gcc():
    text = "#ifdef GENCHECK_FLAG\nint x = ;\n#endif\n"
    assert gcc_judge.opinion(text).ok is True
    assert gcc_judge.opinion(text, flags=("-DGENCHECK_FLAG",)).kind == "syntax"


@pytest.mark.parametrize("text, refused", [
    ('#include "a/b.h"\n#include <stdio.h>\n', False),
    ('#include "/etc/shadow"\n', True),
    ("#  include </dev/zero>\n", True),
    ('#include "../secret.h"\n', True),
    ("/* c */ %:include </dev/zero>\n", True),  # a comment and the %: digraph still make a directive
    ('#inc\\\nlude "/etc/shadow"\n', True),  # spliced lines too
    ('#define F "/etc/shadow"\n#include F\n', True),  # computed
    ('#if __has_include("/etc/shadow")\n#endif\n', True),
    ('#pragma GCC dependency "/etc/shadow"\n', True),
    ('char *s = "#include </etc/shadow>";\n', False),  # in a string, not a directive
    ('// #include "/etc/shadow"\n', False),
])
def test_includes_outside_the_folder_are_refused_before_gcc_runs(text, refused):
    assert (gcc_judge.refused_include(text) is not None) == refused


# --- Markdown ---------------------------------------------------------------------------------------------

def test_both_renderers_see_the_same_blocks():
    text = "# T\n\n## S\n\n- a\n  1. b\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```js\nx\n```\n\n[l](u) and <http://x>\n"
    a, b = render_judge.mistune_structure(text), render_judge.markdown_it_structure(text)
    assert a == b == render_judge.Structure([1, 2], 1, [2], [False, True], 2)
    assert render_judge.opinion(text).ok is True


def test_renderers_disagreeing_is_a_failure_with_the_part_named():
    op = render_judge.opinion("| a |\n|---|\n| b | c |\n")  # a one-column table: only markdown-it sees it
    assert (op.ok, op.kind) == (False, "tables") and "markdown-it [1]" in op.message


# --- through the pool -------------------------------------------------------------------------------------

def test_judge_many_keeps_order_and_names_the_version():
    texts = ["# a\n", "| a |\n|---|\n| b | c |\n", "- x\n"]
    ops = toolchains.judge_many(texts, "markdown", workers=1)
    assert [o.ok for o in ops] == [True, False, True] and ops[1].kind == "tables"
    assert all(o.name == "mistune" and o.version and "mistune" in o.version for o in ops)


def test_opinion_and_context_round_trip_json():
    op = Opinion("gcc", "12", False, "syntax", "1:2: x", 0.1, 1)
    assert Opinion.from_json(json.loads(json.dumps(op.to_json()))) == op
    ctx = JudgeContext("\\documentclass{x}", ("-DX",), "/d", (("a.tex", "b"),))
    assert JudgeContext.from_json(json.loads(json.dumps(ctx.to_json()))) == ctx


def test_judge_formats_document_their_kinds():
    import gencheck.validators.judges  # noqa: F401
    from gencheck.validators import FORMATS

    for fmt in toolchains.JUDGES:
        spec = FORMATS.get(toolchains.pool_format(fmt))
        assert spec.extensions == () and {"ok", "timeout", "crash"} <= set(spec.kinds)


# --- corpus declaration, results, scorecard, commands -------------------------------------------------------

def test_toolchain_table_is_declared_and_shapes_no_document(tmp_path):
    from gencheck.corpus import builtin_specs, load_spec
    from gencheck.fsutil import GencheckError

    spec = load_spec(builtin_specs().get("latex-stacks"), "latex-stacks")
    assert spec.toolchain.latex_preamble == "\\input{preamble}" and "preamble.tex" in spec.toolchain.latex_inputs
    assert load_spec(builtin_specs().get("c"), "c").toolchain.c_flags
    base = (tmp_path / "x.toml")
    base.write_text('format = "c"\n[[sources]]\nkind = "dir"\npath = "."\n')
    plain = load_spec(base)
    base.write_text(base.read_text() + '[toolchain]\nc_flags = ["-DX"]\n')
    assert load_spec(base).fingerprint == plain.fingerprint  # declaring a judge never rebuilds the cache
    base.write_text(base.read_text() + 'c_flag = ["-DY"]\n')
    with pytest.raises(GencheckError, match="c_flag.*did you mean 'c_flags'"):
        load_spec(base)


def _verdict(verdict: str, parses=None):
    from gencheck.validators import Verdict

    return Verdict("c", verdict, (), {} if parses is None else {"parses": parses}, 0.0)


def test_opinion_counts_leave_no_opinion_out_of_the_shares():
    from gencheck.pipeline import opinion_counts

    ops = [Opinion("gcc", "v", True, "ok", "", 0.1), Opinion("gcc", "v", False, "syntax", "1:1: x", 0.1),
           Opinion("gcc", "v", None, "timeout", "", 20.0)]
    c = opinion_counts(ops, [_verdict("valid", True), _verdict("valid", False), _verdict("invalid", False)])
    assert (c["texts"], c["judged"], c["ok"], c["both"], c["parses"], c["parses_of"]) == (3, 2, 1, 1, 1, 3)
    assert c["kinds"] == {"ok": 1, "syntax": 1, "timeout": 1} and c["examples"] == {"syntax": "1:1: x"}


def test_scorecard_rows_say_na_when_the_tool_is_absent():
    from gencheck.scorecard import toolchain_rows

    assert toolchain_rows({}) == []
    assert toolchain_rows({"name": "pdflatex", "column": "compiles", "n": 64, "available": False})[0][1] == "n/a"
    counts = {"judged": 4, "ok": 1, "tolerant_ok": 2, "both": 1}
    rows = toolchain_rows({"name": "pdflatex", "column": "compiles", "n": 64, "available": True,
                           "samples": counts, "real": {**counts, "ok": 4}})
    assert rows[0] == ("compiles (pdflatex), first 64", "25% of 4", "", "100% of 4")
    assert rows[1][1] == "50% of 4"
    rows = toolchain_rows({"name": "gcc", "column": "compiles", "n": 8, "available": True,
                           "samples": {**counts, "parses": 3, "parses_of": 4}, "real": None})
    assert rows[1] == ("parses (pycparser), first 8", "75% of 4", "", "—")
    md = toolchain_rows({"name": "mistune", "column": "renders", "n": 8, "available": True, "samples": counts})
    assert md == [("renders as written (mistune), first 8", "25% of 4", "", "—")]


def test_results_schema_3_reads_schema_2_without_toolchain():
    from gencheck.results import SCHEMA_VERSION, RunResult, VerdictSummary

    r = RunResult("id", "0.1.0", None, "now", "cpu", 1, "smoke", {"name": "x", "format": "c", "content_hash": "ab"},
                  {"kind": "lstm", "layers": 1, "hidden": 8, "params": 10}, {"steps": 1, "seconds": 1.0, "chars_per_s": 1.0},
                  {}, VerdictSummary(), VerdictSummary(), {}, toolchain={"name": "gcc", "available": False})
    d = r.to_json()
    assert d["schema_version"] == SCHEMA_VERSION == 4 and RunResult.from_json(d) == r
    old = {k: v for k, v in d.items() if k != "toolchain"}
    old["schema_version"] = 2
    assert RunResult.from_json(old).toolchain == {}


def test_validate_compile_adds_the_toolchain_and_never_changes_the_verdict(tmp_path, capsys):
    from test_validate_cmd import parse

    from gencheck import validate_cmd

    (tmp_path / "a.md").write_text("| a |\n|---|\n| b | c |\n")  # the validator: too many cells
    (tmp_path / "b.md").write_text("# A fine heading for this page\n")
    assert validate_cmd.run(parse(["--json", "--compile", str(tmp_path)])) == 1
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert rows["a.md"]["verdict"] == "invalid" and rows["a.md"]["toolchain"]["kind"] == "tables"
    t = rows["b.md"]["toolchain"]
    assert {"name", "version", "ok", "kind", "message", "seconds"} <= set(t) and t["ok"] is True
    assert validate_cmd.run(parse(["--json", str(tmp_path / "b.md")])) == 0
    assert "toolchain" not in json.loads(capsys.readouterr().out)


def test_calibrate_toolchain_confusion_matrix(tmp_path):
    from gencheck.calibrate import agreement, agreement_tables
    from gencheck.corpus import build, resolve_spec

    for i, body in enumerate(["# Alpha section\n\n- first item\n- second item\n",
                              "# B\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
                              "| a |\n|---|\n| b | c |\n", "# Gamma section\n\n[a link](http://x.org)\n"]):
        (tmp_path / f"d{i}.md").write_text(body)
    corpus = build(resolve_spec(str(tmp_path), "markdown"))
    a = agreement(corpus, "all", per_kind=3, seed=1, workers=1)
    real = a.matrices["real"]
    assert real["valid"]["ok"] == 3 and real["invalid"]["error"] == 1 and a.documents == 4
    assert a.mutants and sum(sum(r.values()) for r in a.matrices["mutants"].values()) == a.mutants
    assert all(d.count >= 1 and d.example for d in a.disagreements)
    assert agreement_tables(a) and json.dumps(a.to_json())
