"""The validators' second opinions (pycparser for C, pylatexenc strict for LaTeX) must really run.

A second opinion that raises on good input once hid behind a warning on every text (pycparser 3.12
changed a private API): these tests fail loudly when that happens on the installed parser version.
"""

from __future__ import annotations

import pytest

from gencheck.validators import VALID, validate
from gencheck.validators import c as cval

GOOD_C = [
    "int main(void) { return 0; }\n",
    "#include <stdio.h>\nstatic int add(int a, int b) { return a + b; }\n"
    "int main(int argc, char **argv) {\n  for (int i = 0; i < argc; i++) printf(\"%s\\n\", argv[i]);\n"
    "  return add(1, 2) == 3 ? 0 : 1;\n}\n",
    "typedef struct node { struct node *next; size_t len; uint8_t data[16]; } node_t;\n"
    "node_t *push(node_t *head, node_t *n) { n->next = head; return n; }\n",
    "#define MAX(a, b) ((a) > (b) ? (a) : (b))\nenum color { RED, GREEN = 4, BLUE };\n"
    "union u { int i; float f; };\nconst char *names[] = { \"red\", \"green\" };\n"
    "int f(FILE *fp, va_list ap) { switch (fgetc(fp)) { case 'a': return 1; default: break; } return 0; }\n",
    "static inline unsigned long hash(const char *s) {\n  unsigned long h = 5381; int c;\n"
    "  while ((c = *s++)) h = ((h << 5) + h) + c;\n  return h;\n}\n",
]

GOOD_LATEX = [
    "\\documentclass{article}\n\\begin{document}\nHello $x^2$ and \\[ y = \\frac{1}{2} \\]\n\\end{document}\n",
    "\\section{Intro}\n\\begin{itemize}\n\\item one {\\em two}\n\\item three\n\\end{itemize}\n"
    "\\begin{equation}\\label{e}\na = \\left( b \\right)\n\\end{equation}\n",
    "\\begin{theorem}\nLet $G$ be a group.\n\\end{theorem}\n\\begin{proof}\nTrivial, see \\cite{x}.\n\\end{proof}\n",
]


@pytest.mark.parametrize("fmt,text", [("c", t) for t in GOOD_C] + [("latex", t) for t in GOOD_LATEX])
def test_second_opinion_parses_known_good_input(fmt, text):
    v = validate(text, fmt)
    assert v.verdict == VALID
    assert [(f.kind, f.message) for f in v.findings] == []
    assert v.syntax["parses"] is True


def test_pycparser_error_location_self_check_holds_on_installed_version():
    _parser, locatable = cval._parser()
    assert locatable, "the furthest-token location did not pass its start-up check on this pycparser"
    (f,) = validate("int main(void) {\n  x = ;\n  return 0;\n}", "c").findings
    assert (f.kind, f.line) == ("parse_error", 2)


def test_an_exception_inside_pycparser_is_a_visible_checker_error(monkeypatch):
    parser, _ = cval._parser()

    def broken(*a, **kw):
        raise TypeError("'CLexer' object is not callable")

    monkeypatch.setattr(parser, "parse", broken)
    v = validate("int main(void) { return 0; }\n", "c")
    assert v.verdict == VALID  # the lexer's verdict stands
    assert v.syntax["parses"] is None  # not judged, not "fails"
    (f,) = v.findings
    assert f.kind == "checker_error" and "TypeError" in f.message


def test_an_exception_inside_pylatexenc_is_a_visible_checker_error(monkeypatch):
    from gencheck.validators import latex

    def broken(*a, **kw):
        raise AttributeError("no such thing")

    monkeypatch.setattr(latex, "skeleton", broken)
    v = validate("\\begin{abstract}x\\end{abstract}\n", "latex")
    assert v.verdict == VALID
    assert v.syntax["parses"] is None
    assert [f.kind for f in v.findings] == ["checker_error"]
