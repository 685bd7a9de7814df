"""corpus_info: opener→closer pairs, depths and distance buckets on small texts (exact values)."""

from __future__ import annotations

import sys

from gencheck.corpus_info import (c_pairs, corpus_info, distance_buckets, latex_pairs, markdown_pairs, quantiles,
                                  structure_summary)


def test_latex_pairs_depths_distances_and_verbatim():
    text = ("\\begin{document}\n"          # 0
            "\\begin{proof}x\\end{proof}\n"  # begin at 17, end at 31: distance 14, depth 2
            "% \\begin{comment-out}\n"
            "\\begin{verbatim}\\begin{x}\\end{verbatim}\n"
            "\\end{document}")
    p = latex_pairs(text)
    assert sorted(zip(p.depths, p.distances)) == [(1, len(text) - len("\\end{document}")), (2, 14), (2, 25)]
    assert (p.unclosed, p.stray_closers) == (0, 0)


def test_latex_mismatch_counts_unclosed_and_stray():
    p = latex_pairs("\\begin{a}\\begin{b}\\end{a}\\end{c}")
    assert p.distances == [18] and p.unclosed == 1 and p.stray_closers == 1


def test_c_pairs_skip_comments_strings_and_chars():
    text = 'int f(void) {\n  char *s = "{"; char c = \'}\'; /* { */ // }\n  if (x) { y(); }\n}\n'
    p = c_pairs(text)
    inner = text.index("{ y")
    assert sorted(zip(p.depths, p.distances)) == [(1, text.rindex("}") - text.index("{")),
                                                 (2, text.index("}", inner) - inner)]
    assert (p.unclosed, p.stray_closers) == (0, 0)


def test_markdown_fences():
    text = "# T\n\n```js\na()\n```\n\n````\n```\nnested\n```\n````\n\n~~~\nunclosed\n"
    p = markdown_pairs(text)
    first = text.index("```js")
    outer = text.index("````")
    assert p.distances == [text.index("```\n", first + 1) - first, text.rindex("````") - outer]
    assert p.depths == [1, 1] and p.unclosed == 1


def test_distance_buckets_are_inclusive_upper_bounds():
    d = [0, 100, 101, 300, 301, 1000, 1001, 3000, 3001, 10**6]
    assert distance_buckets(d) == {"<=100": 2, "<=300": 2, "<=1k": 2, "<=3k": 2, ">3k": 2}


def test_quantiles_nearest_rank():
    assert quantiles(list(range(1, 101))) == {"p50": 50, "p90": 90, "p99": 99, "max": 100}
    assert quantiles([7]) == {"p50": 7, "p90": 7, "p99": 7, "max": 7}
    assert quantiles([]) == {}


def test_structure_summary_buckets_and_text_format():
    texts = ["{" + "x" * 99 + "}", "{ {" + "y" * 400 + "} }"]  # distances 100, 400 (inner), 405 (outer)
    s = structure_summary(texts, "c")
    assert s["pairs"] == 3 and s["distance"]["buckets"] == {"<=100": 1, "<=300": 0, "<=1k": 2, "<=3k": 0, ">3k": 0}
    assert s["depth"]["buckets"]["1"] == 2 and s["depth"]["buckets"]["2"] == 1 and s["depth"]["quantiles"]["max"] == 2
    assert structure_summary(texts, "text") is None


def test_corpus_info_of_the_fixture_corpus(fixture_corpus):
    info = corpus_info(fixture_corpus)
    assert info["documents"] == 8 and info["chars"] == fixture_corpus.chars()
    assert sum(v["documents"] for v in info["splits"].values()) == 8
    assert info["structure"]["pairs"] > 8 and info["structure"]["stray_closers"] == 0
    assert info["content_hash"] == fixture_corpus.content_hash and info["license"].startswith("MIT")


def test_corpus_info_does_not_import_torch():
    import subprocess

    code = "import sys, gencheck.corpus_info, gencheck.corpus; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_c_pairs_are_the_validators_pairs_and_skip_if_0_branches():
    from gencheck.probes import c_bracket_pairs

    text = "#if 0\n{ never compiled\n#endif\nint f(void) {\n  return g(1);\n}\n}\n"
    p = c_pairs(text)
    assert p.distances == [e - s for c, s, e, _ in c_bracket_pairs(text) if c == "}"] == [text.rindex("}\n}") - text.index("{\n  return")]
    assert (p.unclosed, p.stray_closers) == (0, 1)
