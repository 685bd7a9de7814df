"""Controlled-distance probe documents: built from small hand-written train / test texts, read back by the
real-text extractors, scored through the probes' own code path (CPU, fast)."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from gencheck import probes, stats
from gencheck.controlled import (
    BUCKET_RANGES,
    ControlledDoc,
    common_openers,
    controlled_documents,
    controlled_result,
    filler_pool,
    outcomes,
)
from gencheck.corpus import Vocab
from gencheck.fsutil import GencheckError

# --- hand-written corpora ------------------------------------------------------------------------------

LATEX_NAMES = ["theorem", "proof", "lemma", "equation", "itemize", "enumerate", "figure", "align", "remark"]
LATEX_TRAIN = (
    # name i is closed correctly 10 - i times: theorem most, remark (9th) least
    [f"\\begin{{{n}}}\nSome words.\n\\end{{{n}}}\n" for i, n in enumerate(LATEX_NAMES) for _ in range(10 - i)]
    + ["\\begin{document}\n\\begin{theorem}x\\end{theorem}\n\\end{document}\n"] * 20  # document: left out
    + ["\\begin{verbatim}\n\\begin{x}\n\\end{verbatim}\n"] * 12  # verbatim: not decided, not counted
    + ["\\begin{table}\nno end\n\\end{tabular}\n"] * 30  # never closed correctly: not counted
)
SENTENCES = [
    "Let $x$ be a point of the space and let $U$ be an open set containing it.",
    "Then the map is continuous, since every preimage of an open set is open.",
    "% a comment that must never hide a closer",
    "We write $f(x) = \\sum_{n} a_n x^n$ for the series, which converges for $|x| < r$.",
    "",
    "By the previous lemma the sequence is bounded, hence it has a convergent subsequence.",
    "Suppose not; then there is an $\\epsilon > 0$ with $|a_n - a| \\ge \\epsilon$ infinitely often.",
    "This contradicts the choice of $N$, and the claim follows.",
    "\\begin{proof} An inline environment on a line of its own.",
    "The proof is left as an exercise. \\end{proof}",
    "\\section{Compactness}\\label{sec:compact}",
    "A space is compact when every open cover has a finite subcover.",
]


def latex_test_texts() -> list[str]:
    out = []
    for d in range(4):
        body = "\n".join(f"{SENTENCES[(i + d) % len(SENTENCES)]} Step {d}.{i}." for i in range(60))
        out.append(f"\\documentclass{{article}}\n\\usepackage{{preamble-only}}\n\\begin{{document}}\n{body}\n"
                   f"\\end{{document}}\nafter-the-end\n")
    return out


def c_function(i: int) -> str:
    return (
        f"static int f{i}(int a, int b[4])\n{{\n"
        f"  int rc;\n  int n = a + {i};\n"
        "  /* a block comment\n     middle words of a comment\n  */\n"
        f"  rc = n * 2 + b[{i % 4}];\n  // a line comment\n"
        f"  if (rc > {i}) return rc;\n"
        '  s = "a string";\n'
        f"#define X{i} 1\n#define Y{i} \\\n  continued + line\n"
        f"  n += rc;\n  rc = n - a;\n  n = rc * {i} + a;\n  return n;\n}}\n\n"
    )


C_TRAIN = ["".join(c_function(i) for i in range(5)) + "int v = g(h(1), k(2));\n"]  # ( 13, [ 10, { 5
C_TEST = ["".join(c_function(i) for i in range(j, j + 60)) for j in (0, 100, 200)]

MD_TRAIN = (["Text.\n\n```js\nlet a = 1;\n```\n"] * 5 + ["Text.\n\n~~~\ncode\n~~~\n"] * 3
            + ["````\nfour\n````\n"])


def md_test_texts() -> list[str]:
    out = []
    for d in range(4):
        lines = []
        for i in range(80):
            lines.append(f"Paragraph {d}.{i}: the [option](#opt-{i}) sets *how* the stream is read.")
            if i % 10 == 3:
                lines += ["```js", f"const x{i} = require('fs');", "```", "~~~ strike", "`code` first"]
        out.append("\n".join(lines) + "\n")
    return out


TEXTS = {
    "latex": (LATEX_TRAIN, latex_test_texts()),
    "c": (C_TRAIN, C_TEST),
    "markdown": (MD_TRAIN, md_test_texts()),
}
EXTRACT = {"latex": probes.latex_env_events, "c": probes.c_closer_events, "markdown": probes.markdown_fence_events}
FORMATS = ("latex", "c", "markdown")


def docs_for(fmt: str, **kw) -> list[ControlledDoc]:
    train, test = TEXTS[fmt]
    return controlled_documents(fmt, train, test, **kw)


def filler_of(doc: ControlledDoc) -> str:
    return doc.text[doc.filler[0]:doc.filler[1]]


# --- documents -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_deterministic_and_seeded(fmt):
    a, b = docs_for(fmt, per_bucket=6, seed=3), docs_for(fmt, per_bucket=6, seed=3)
    assert a == b and len(a) > 0
    c = docs_for(fmt, per_bucket=6, seed=4)
    assert [d.text for d in c] != [d.text for d in a]
    assert sum(x.text != y.text for x, y in zip(a, c)) > len(a) // 2


@pytest.mark.parametrize("fmt,depth", [("latex", 1), ("latex", 2), ("latex", 3), ("c", 1), ("c", 2),
                                       ("c", 3), ("markdown", 1)])
def test_events_are_the_real_probe_events(fmt, depth):
    docs = docs_for(fmt, per_bucket=8, depth=depth, seed=1)
    for doc in docs:
        e = doc.event
        events = EXTRACT[fmt](doc.text)
        assert e in events and len(events) == depth  # the probed pair and the outer ones, nothing else
        if depth == 1:
            assert events == [e]
        assert e.depth == depth
        assert doc.text[e.pos:e.pos + len(e.target)] == e.target
        lo, hi = BUCKET_RANGES[doc.bucket]
        assert lo <= e.distance <= hi
        assert stats.BUCKET_LABELS[stats.bucket_of(e.distance)] == doc.bucket
        a, b = doc.filler  # opener token right before the filler, closer token right after it
        if fmt == "latex":
            name = e.target[:-1]
            assert doc.opener == name and doc.text[:a].endswith(f"\\begin{{{name}}}")
            assert doc.text.startswith(f"\\end{{{name}}}", b) and e.pos == b + 5
            assert b - doc.text.rindex("\\begin", 0, a) == e.distance
        elif fmt == "c":
            closer = {"(": ")", "[": "]", "{": "}"}[doc.opener]
            assert doc.text[a - 1] == doc.opener and doc.text[b] == e.target == closer
            assert b - (a - 1) == e.distance and e.pos == b
        else:
            assert doc.text[:a].endswith("\n" + doc.opener + "\n") and e.target == doc.opener
            assert e.pos == b and doc.text[b - 1] == "\n" and b - (a - len(doc.opener) - 1) == e.distance


@pytest.mark.parametrize("fmt", FORMATS)
def test_filler_is_real_text_without_the_structure(fmt):
    train, test = TEXTS[fmt]
    whole = "\n".join(test)
    docs = docs_for(fmt, per_bucket=10, seed=2, depth=2 if fmt != "markdown" else 1)
    for doc in docs:
        f = filler_of(doc)
        if fmt == "latex":
            assert "\\begin" not in f and "\\end" not in f
            assert "preamble-only" not in f and "after-the-end" not in f  # the body of the document only
        elif fmt == "c":
            assert not re.search(r"[()\[\]{}\"'\\]|/\*|\*/|//", f)
            assert not any(line.lstrip().startswith("#") for line in f.split("\n"))
            assert "middle words" not in f and "continued + line" not in f  # comment / macro lines are no code
        else:
            assert not any(line.lstrip()[:1] in ("`", "~") for line in f.split("\n"))
        for line in f.split("\n"):  # real lines of the test split (the last one maybe cut and padded)
            assert line.rstrip() in whole
    # the prefix is clean as well, and the whole document has only the structures put in
    pool = filler_pool(fmt, test)
    assert all(line in whole for line in pool.split("\n"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_openers_are_the_k_most_common_and_balanced(fmt):
    expected = {"latex": tuple(LATEX_NAMES[:8]), "c": ("(", "[", "{"), "markdown": ("```", "~~~")}[fmt]
    train, _ = TEXTS[fmt]
    assert common_openers(fmt, train) == expected
    assert common_openers(fmt, train, k=2) == expected[:2]
    docs = docs_for(fmt, per_bucket=48, seed=5)
    by_bucket: dict[str, Counter] = {}
    for d in docs:
        assert d.openers == expected and d.format == fmt
        by_bucket.setdefault(d.bucket, Counter())[d.opener] += 1
    for counts in by_bucket.values():
        assert set(counts) == set(expected) and set(counts.values()) == {48 // len(expected)}


def test_buckets_ranges_and_prefix():
    docs = docs_for("latex", per_bucket=12, seed=0)
    longest = max(len(f"\\begin{{{n}}}") for n in LATEX_NAMES[:8])
    counts = Counter(d.bucket for d in docs)
    assert "1-10" not in counts  # \begin{X} alone is longer than 10 characters
    assert all(counts[b] == 12 for b in stats.BUCKET_LABELS[1:])
    assert min(d.event.distance for d in docs if d.bucket == "11-30") >= longest
    far = [d.event.distance for d in docs if d.bucket == ">3000"]
    assert all(3001 <= x <= 6000 for x in far) and len(set(far)) > 1
    c = docs_for("c", per_bucket=12, seed=0, buckets=("1-10", ">3000"))
    assert Counter(d.bucket for d in c) == {"1-10": 12, ">3000": 12}
    for d in docs + c:  # the prefix: 200 characters of filler ending with a newline, then the opener
        assert d.text[199] == "\n" and not d.text.startswith(("\\begin", "(", "[", "{"))
    bare = docs_for("c", per_bucket=3, prefix_chars=0, buckets=("31-100",))
    assert all(d.text[0] == d.opener and d.filler[0] == 1 for d in bare)
    with pytest.raises(GencheckError, match="unknown bucket"):
        docs_for("c", buckets=("0-5",))


def test_depth():
    for depth in (2, 3):
        for d in docs_for("latex", per_bucket=8, depth=depth, buckets=("101-300", "301-1000")):
            names = [e.target[:-1] for e in probes.latex_env_events(d.text)]
            assert len(set(names)) == depth and set(names) <= set(d.openers)  # outer ones distinct, of the K
            assert names[0] == d.opener and d.event.depth == depth
            assert d.text.rstrip().endswith(f"\\end{{{names[-1]}}}")  # the outermost closes last
        for d in docs_for("c", per_bucket=8, depth=depth, buckets=("11-30",)):
            assert [e.depth for e in probes.c_closer_events(d.text)] == list(range(depth, 0, -1))
    with pytest.raises(GencheckError, match="do not nest"):
        docs_for("markdown", depth=2)
    with pytest.raises(GencheckError, match="depth 9 needs 9"):
        docs_for("latex", depth=9)


def test_too_few_openers_and_too_little_filler():
    few = ["\\begin{proof}a\\end{proof}\\begin{lemma}b\\end{lemma}\\begin{claim}c\\end{claim}"]
    docs = controlled_documents("latex", few, latex_test_texts(), per_bucket=6, buckets=("101-300",))
    assert {d.openers for d in docs} == {("claim", "lemma", "proof")}  # K reduced to 3 and recorded
    with pytest.raises(GencheckError, match="at least 2"):
        common_openers("latex", ["\\begin{document}\\begin{proof}a\\end{proof}\\end{document}"])
    with pytest.raises(GencheckError, match="at least 2"):
        common_openers("markdown", ["```\na\n```\n"])
    forced = controlled_documents("markdown", [], md_test_texts(), per_bucket=4, openers=("```", "~~~"),
                                  buckets=("31-100",))
    assert Counter(d.opener for d in forced) == {"```": 2, "~~~": 2}
    with pytest.raises(GencheckError, match="not a c opener"):
        controlled_documents("c", C_TRAIN, C_TEST, openers=("(", "<"))
    short = [c_function(0)]
    with pytest.raises(GencheckError, match="characters of filler"):
        controlled_documents("c", C_TRAIN, short)
    ok = controlled_documents("c", C_TRAIN, short, per_bucket=3, buckets=("1-10", "11-30"), prefix_chars=20)
    assert len(ok) == 6
    with pytest.raises(GencheckError, match="no controlled probe"):
        controlled_documents("python", [], [])


# --- scoring -------------------------------------------------------------------------------------------

def oracle(vocab: Vocab, sharp: float, favour: str | None = None):
    """Probability `sharp` on the true next character (or, given `favour`, always on that character)."""
    V, fav = vocab.size, None if favour is None else vocab.index()[favour]

    def score(ids, positions, candidates=None):
        lp = np.full((len(positions), V), np.log2((1 - sharp) / (V - 1)))
        lp[np.arange(len(positions)), ids[positions] if fav is None else fav] = np.log2(sharp)
        return lp if candidates is None else lp[:, candidates]

    return score


@pytest.mark.parametrize("fmt", FORMATS)
def test_outcomes_score_the_known_event(fmt):
    docs = docs_for(fmt, per_bucket=6, seed=7, buckets=("11-30", "301-1000"))
    vocab = Vocab.from_texts([d.text for d in docs])
    outs = outcomes(docs, vocab, oracle(vocab, 0.9))
    assert [o.doc for o in outs] == list(range(len(docs)))
    assert [(o.distance, o.depth) for o in outs] == [(d.event.distance, d.event.depth) for d in docs]
    assert all(o.correct for o in outs)
    per_char = 1 if fmt == "c" else None
    for o, d in zip(outs, docs):
        assert o.bits == pytest.approx(-np.log2(0.9) * (per_char or len(d.event.target)))
    assert not any(o.correct for o in outcomes(docs, vocab, oracle(vocab, 1 / vocab.size)))  # ties are wrong
    res = controlled_result(docs, vocab, oracle(vocab, 0.9), resamples=50, min_events=1)
    assert min(res.chance.values()) >= 1 / len(docs[0].openers) - 1e-4 and res.extra["controlled"]
    cells = {c.label: c for c in res.cells}
    assert cells["11-30"].events == cells["11-30"].documents == 6 and cells["301-1000"].accuracy == 1.0
    assert res.overall.events == len(docs)


def test_a_model_that_ignores_the_opener_is_at_chance():
    docs = docs_for("c", per_bucket=48, seed=8, buckets=("31-100", "1001-3000"))
    vocab = Vocab.from_texts([d.text for d in docs])
    res = controlled_result(docs, vocab, oracle(vocab, 0.5, favour=")"), resamples=50)
    for c in res.cells:
        if c.events:
            assert c.events == 48 and c.accuracy == pytest.approx(1 / 3)
    assert res.reach() is None
