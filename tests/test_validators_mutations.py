"""Every mutation of a valid document breaks it, reproducibly."""

from __future__ import annotations

import random

import pytest

from gencheck.validators import VALID, validate
from gencheck.validators.mutations import MUTATION_KINDS, mutate

from test_validators_c import GOOD as C_DOC
from test_validators_markdown import GOOD as MD_DOC

LATEX_DOC = r"""\documentclass{article}
\newcommand{\be}{\begin{equation}}
\begin{document}
\section{Intro} % a } in a comment is no site
Let $x$ and $y^{2}$ be given. \verb|}| is raw.
\begin{itemize}
  \item \textbf{one} $a+b$
\end{itemize}
\begin{proof}
  Trivial, $\frac{1}{2}$.
\end{proof}
\end{document}
"""

DOCS = {"latex": LATEX_DOC, "c": C_DOC, "markdown": MD_DOC}
CASES = [(fmt, kind) for fmt, kinds in MUTATION_KINDS.items() for kind in kinds]


@pytest.mark.parametrize("fmt,kind", CASES)
def test_mutation_breaks_a_valid_document(fmt, kind):
    doc = DOCS[fmt]
    assert validate(doc, fmt).verdict == VALID
    for seed in range(8):
        out = mutate(doc, fmt, kind, random.Random(seed))
        assert out is not None and out != doc
        assert validate(out, fmt).verdict != VALID, (seed, out)


@pytest.mark.parametrize("fmt,kind", CASES)
def test_mutation_is_seeded(fmt, kind):
    doc = DOCS[fmt]
    assert mutate(doc, fmt, kind, random.Random(3)) == mutate(doc, fmt, kind, random.Random(3))


def test_no_site_gives_none():
    assert mutate("plain text", "latex", "delete_dollar", random.Random(0)) is None
    assert mutate("int x;", "c", "swap_bracket_paren", random.Random(0)) is None
    assert mutate("no table", "markdown", "drop_table_cell", random.Random(0)) is None


def test_unknown_mutation():
    with pytest.raises(KeyError):
        mutate("x", "latex", "nope", random.Random(0))
