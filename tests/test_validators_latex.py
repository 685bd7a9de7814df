"""Hand-written LaTeX cases for the latex validator: what is accepted, what is rejected, and where."""

from __future__ import annotations

import pytest

from gencheck.validators import FORMATS, TRIVIAL, VALID, VIABLE_PREFIX, INVALID, validate
from gencheck.validators import latex


def kinds(text: str) -> list[str]:
    """The kinds of the findings, less the `trivial` note on the verdict (tests/test_validity_trivial.py)."""
    return [f.kind for f in validate(text, "latex").findings if f.kind != "trivial"]


def verdict(text: str) -> str:
    return validate(text, "latex").verdict


DOC = r"""\documentclass{article}
\usepackage{amsmath}
\newcommand{\be}{\begin{equation}}
\newcommand\ee{\end{equation}}
\newenvironment{x}{\begin{center}}{\end{center}}
\renewcommand*{\arraystretch}[1][2]{#1\left(}
\def\foo#1#2{\begin{itemize}#1}
\let\bgroup={
\begin{document}
\section{Intro}  % a comment with \begin{x} and { and $
Costs 5\% and \$3. Inline $a+b$, display $$c$$, \(d\), \[e\], and
\begin{align}
  x &= \left( \frac{1}{2} \right) \\[2pt]
  y &= \left\{ z \right.
\end{align}
\begin{verbatim}
\begin{foo} { $ \end{bar}
\end{verbatim}
\verb|{| and \verb*+$+ and \url{http://x.org/%7Euser}
\begin{tabular}{>{$}c<{$}l}
a & b \\
\end{tabular}
\end{document}
Anything after \end{document} is ignored: \end{oops} }
"""


def test_registered_for_tex():
    assert "latex" in FORMATS.names()
    assert ".tex" in FORMATS.get("latex").extensions


def test_real_document_is_valid():
    v = validate(DOC, "latex")
    assert v.verdict == VALID, v.findings
    assert v.syntax == {"balanced": True, "parses": True}


def test_wrong_end_names_both():
    text = r"\documentclass{article}\begin{document}\begin{proof}x\end{lemma}\end{document}"
    v = validate(text, "latex")
    assert v.verdict == INVALID
    assert [f.kind for f in v.findings] == ["env_mismatch"]
    f = v.findings[0]
    assert f.message == r"\begin{proof} closed by \end{lemma}"
    assert f.opener == r"\begin{proof}"
    assert (f.opener_line, f.opener_col) == (1, text.index(r"\begin{proof}") + 1)
    assert (f.line, f.col) == (1, text.index(r"\end{lemma}") + 1)
    assert f.distance == text.index(r"\end{lemma}") - text.index(r"\begin{proof}")


def test_line_and_col_on_later_lines():
    text = "ab\ncd\n  \\begin{a}\n xx \\end{b}\n"
    f = validate(text, "latex").findings[0]
    assert (f.opener_line, f.opener_col) == (3, 3)
    assert (f.line, f.col) == (4, 5)
    assert f.distance == text.index("\\end{b}") - text.index("\\begin{a}")


def test_unclosed_env_is_viable_prefix():
    v = validate("\\begin{document}\n\\begin{itemize}\\item one", "latex")
    assert v.verdict == VIABLE_PREFIX
    assert [f.kind for f in v.findings] == ["env_unclosed", "env_unclosed"]
    assert all(f.fixable_by_append for f in v.findings)


def test_unbalanced_open_brace_is_viable_prefix():
    v = validate("a {b", "latex")
    assert v.verdict == VIABLE_PREFIX
    (f,) = v.findings
    assert f.kind == "brace_unclosed" and (f.opener_line, f.opener_col) == (1, 3) and f.distance == 2


def test_stray_close_brace_is_invalid():
    assert kinds("a } b") == ["brace_stray_close"]
    assert verdict("a } b") == INVALID


def test_unclosed_dollar():
    assert kinds("cost $x + y") == ["math_unclosed"]
    assert verdict("cost $x + y") == VIABLE_PREFIX
    # a paragraph break inside inline math is an error TeX reports: not fixable by appending
    assert verdict("a $x\n\ny$ b") == INVALID
    assert "math_unclosed" in kinds("a $x\n\ny$ b")


def test_unclosed_dollar_before_end_is_mismatch():
    assert kinds(r"\begin{equation} $ \end{equation}") == ["math_mismatch"]


def test_math_delimiters():
    assert kinds(r"\(a\]") == ["math_mismatch"]
    assert kinds(r"a \] b") == ["math_stray_close"]
    assert kinds(r"$$a$ b") == ["math_mismatch"]
    assert verdict(r"$$a$") == VIABLE_PREFIX  # the text may stop halfway through the closing $$
    assert verdict(r"Let $a$$b$ \\[3pt] and \[c\]") == VALID
    assert kinds(r"\begin{equation} x \end{align}") == ["math_mismatch"]
    assert kinds(r"\begin{equation} x") == ["math_unclosed"]


def test_left_right():
    assert verdict(r"$\left( x \right)$ $\left. x \right\}$ $\left\{ y \right.$") == VALID
    assert kinds(r"$x \right)$") == ["left_right_unpaired"]
    assert kinds(r"$\left( x$") == ["left_right_unpaired"]


def test_stray_end():
    assert kinds(r"text \end{itemize}") == ["env_stray_end"]
    assert verdict(r"text \end{itemize}") == INVALID


def test_verbatim_reads_raw():
    assert verdict("\\begin{verbatim}\n\\begin{foo} { $\n\\end{verbatim}") == VALID
    assert verdict("\\begin{lstlisting}[language=C]\nint main() { \n\\end{lstlisting}") == VALID
    assert verdict("\\begin{minted}{c}\n}}}\n\\end{minted}") == VALID
    # an unterminated verbatim environment is still open at the end: fixable
    assert verdict("\\begin{verbatim}\n{ \\end{x}") == VIABLE_PREFIX


def test_learned_verbatim_environment():
    text = "\\DefineVerbatimEnvironment{code}{Verbatim}{}\n\\begin{code}\n\\end{x} }\n\\end{code}"
    assert verdict(text) == VALID


def test_verb_reads_raw():
    # every brace, \end and $ is inside a \verb: no error, and nothing outside them to judge
    assert verdict(r"\verb|{| and \verb+\end{x}+ and \verb*!$!") == TRIVIAL
    assert verdict(r"\verb|{| and \verb+\end{x}+ and \verb*!$! in {a group}") == VALID
    assert kinds("\\verb|abc\nmore") == ["verb_unterminated"]
    assert verdict("\\verb|abc") == VIABLE_PREFIX


def test_short_verb():
    assert verdict("\\MakeShortVerb{\\|}\nuse |\\begin{x}| and |{|") == VALID


def test_comment_ignored_but_not_escaped_percent():
    assert verdict("% \\begin{x}\nfoo") == TRIVIAL  # the \begin is in a comment: nothing is opened
    assert verdict("% \\begin{x}\nfoo {and a group of words}") == VALID
    assert verdict("50\\% {") == VIABLE_PREFIX


def test_macro_bodies_are_opaque():
    assert verdict(r"\newcommand{\be}{\begin{equation}}\newcommand{\ee}{\end{equation}}") == VALID
    assert verdict(r"\newenvironment{x}{\begin{center}}{\end{center}}") == VALID
    assert verdict(r"\NewDocumentEnvironment{y}{m}% c" + "\n" + r"{\begin{list}{}{}}{\end{list}}") == VALID
    assert verdict(r"\def\x#1{\begin{y}#1}\def~{\verb~}") == VALID
    assert verdict(r"\let\bgroup={ \let\egroup=}") == TRIVIAL  # the braces are \let's targets: no group
    # the body must still be a balanced group
    assert verdict(r"\newcommand{\x}{\begin{y}") == VIABLE_PREFIX


def test_end_document_stops_scan():
    assert verdict("\\begin{document}x\\end{document}\n} \\end{junk}") == VALID


def test_group_mismatch():
    assert kinds(r"{ \begin{x} } \end{x}") == ["group_mismatch", "env_stray_end"]


def test_pylatexenc_second_opinion_located():
    text = "ab\n\\begin{a} x \\end{b}"
    f = latex.pylatexenc_error(text)
    assert f is not None and f.kind == "parse_error" and not f.fixable_by_append
    assert (f.line, f.col) == (2, text.index("\\end{b}") - 3 + 1)
    assert latex.pylatexenc_error("a {") .fixable_by_append
    # on the text with the scanner's raw spans (macro bodies, verbatim) blanked, it agrees
    assert latex.pylatexenc_error(latex._blank(DOC, latex.scan(DOC).raw_spans)) is None


def test_parse_error_only_when_scanner_clean(monkeypatch):
    """pylatexenc's error is reported only when the scanner found nothing (no double counting)."""
    assert kinds(r"\begin{a}\end{b}") == ["env_mismatch"]
    monkeypatch.setattr(latex, "scan", lambda text: latex.ScanResult([], [], 0))
    assert kinds(r"\begin{a}\end{b}") == ["parse_error"]


def test_deep_nesting_never_raises():
    for text in ("{" * 10_000, "{" * 10_000 + "}" * 10_000, "\\begin{a}" * 10_000, "$\\left(" * 5000):
        v = validate(text, "latex")
        assert v.verdict in (VALID, VIABLE_PREFIX, INVALID)
    assert validate("{" * 10_000 + "}" * 10_000, "latex").verdict == VALID
    v = validate("{" * 10_000, "latex")
    assert v.verdict == VIABLE_PREFIX
    assert len(v.findings) <= latex.MAX_FINDINGS + 1
    assert v.findings[-1].kind == "truncated_findings" and v.findings[-1].fixable_by_append


def test_many_stray_closers_capped_and_invalid():
    v = validate("{" * 200 + "}" * 150 + "\\end{x}", "latex")
    assert v.verdict == VIABLE_PREFIX or v.verdict == INVALID
    v = validate("}" * 500, "latex")
    assert v.verdict == INVALID and len(v.findings) == latex.MAX_FINDINGS + 1


@pytest.mark.parametrize("text", ["", " \n\t ", "\\", "\\begin", "\\begin{", "\\verb", "$", "\x00{\x00}", "\udcff"])
def test_edge_inputs(text):
    assert validate(text, "latex").verdict in (VALID, VIABLE_PREFIX, INVALID, TRIVIAL)


def test_taxonomy_documented():
    for k in latex.FIXABLE_KINDS:
        assert k in latex.KINDS
    texts = [DOC, "a } {", r"\begin{a}\end{b}\end{c}", "$\\left( \\]", "\\verb|x\n"]
    for t in texts:
        for f in validate(t, "latex").findings:
            assert f.kind in latex.KINDS
            assert f.line >= 1 and f.col >= 1
            if f.fixable_by_append:
                assert f.kind in latex.FIXABLE_KINDS


def test_environments_named_verbatim_like_are_raw_even_when_defined_elsewhere():
    from gencheck.validators import validate

    # `smallverbatim` comes from a class the document does not include; its body is raw.
    text = "\\begin{document}\n\\begin{smallverbatim}\n\\begin{proof} { $\n\\end{smallverbatim}\n\\end{document}\n"
    assert validate(text, "latex").verdict == "valid"
    # `listing` (minted's float) holds ordinary LaTeX, so a mismatch inside it still counts.
    assert validate("\\begin{listing}\\begin{proof}\\end{lemma}\\end{listing}", "latex").verdict == "invalid"


@pytest.mark.parametrize("decl", [r"\MakeShortVerb |", r"\MakeShortVerb{\|}", r"\MakeShortVerb*\|",
                                  r"\DefineShortVerb{\|}", r"\lstMakeShortInline[columns=fixed]|"])
def test_short_verb_declaration_forms(decl):
    assert kinds(decl + "\nwrite |\\end{x}| or |{| here\n") == []
    assert kinds(decl + "\n|{|}\n") == ["brace_stray_close"]  # `}` outside the bars still counts


def test_listings_settings_are_read_raw():
    text = "\\lstset{language=Java,\n  moredelim=[il][\\textcolor{grey}]{$$},\n  morecomment=[s]{\\{}{\\}}}\ntext $x$\n"
    assert kinds(text) == []
    assert kinds("\\lstdefinestyle{s}{morestring=[b]$}\n") == []
    assert kinds("\\lstset{a=b}\n$x\n\ny$") == ["math_unclosed", "math_unclosed"]  # the rest is still read


def test_environment_mentioned_as_a_macro_argument():
    text = ("\\addtocontents{toc}{\\protect\\begin{multicols}{2}}\n\\tableofcontents\n"
            "\\addtocontents{toc}{\\protect\\end{multicols}}\n"
            "\\Macro{\\begin{abstract}}[lang]{keywords}\\ldots\\Macro{\\end{abstract}}\n")
    assert kinds(text) == []
    # executed groups are still checked: a bare group, or a group holding more than the \begin
    assert kinds("{ \\begin{x} } \\end{x}") == ["group_mismatch", "env_stray_end"]
    assert kinds("\\textbf{\\begin{itemize} \\item a}") == ["group_mismatch"]


@pytest.mark.parametrize("load,body", [
    ("\\documentclass[assembly]{brandeis-problemset}", "\\begin{assembly}\nLOAD R1, =$0 ; {\n\\end{assembly}"),
    ("\\usepackage[xcolor]{rvdtx}", "\\begin{vquote}\n \\begin{enumerate}[1.]\n \\item a\n\\end{vquote}"),
    ("\\usepackage[nwejm]{denisbdoc}", "just after \u00d7\\begin{document}\u00d7, otherwise"),
])
def test_verbatim_definitions_of_loaded_packages(load, body):
    text = load + "\n\\begin{document}\n" + body + "\n\\end{document}\n"
    assert kinds(text) == []
    assert kinds(text.replace(load, "\\documentclass{article}")) != []  # without the package: checked as LaTeX


def test_tabu_width_before_column_spec():
    assert kinds("\\begin{tabu} to 0.25\\linewidth{X[1,$]rr}\na & b \\\\\n\\end{tabu}") == []
    assert kinds("\\begin{tabu} spread 2em {X[$]r}\na & b\n\\end{tabu}") == []


def test_environment_names_with_punctuation_pass_the_strict_parser():
    v = validate("\\begin{Options+}\n\\item x\n\\end{Options+}\n\\begin{a:b}y\\end{a:b}", "latex")
    assert v.verdict == VALID and v.syntax.get("parses") is True, v.findings
