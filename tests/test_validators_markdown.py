"""The Markdown validator: structural errors vs. warnings, with line numbers."""

from __future__ import annotations

import pytest

from gencheck.validators import FORMATS, INVALID, TRIVIAL, VALID, VERDICTS, VIABLE_PREFIX, WARNING, validate
from gencheck.validators import markdown

GOOD = """# Title

Some `code`, a [link](http://x.org/a_(b)) and ![img](a.png "t"), <b>bold</b><br>, `` a ` b ``.
Escaped \\[!TIP] and \\` tick, Promise<string> and <https://auto.link>.

## Section

1. one
2. two
3. three

- [ ] task
- [x] done

| a | b `x\\|y` |
|---|---|
| 1 | 2 |

```python
def f(): return "```"
```

<details>

*inside*

</details>
"""


def kinds(text):
    """The kinds of the findings, less the `trivial` note on the verdict (tests/test_validity_trivial.py)."""
    return [f.kind for f in validate(text, "markdown").findings if f.kind != "trivial"]


def test_registered():
    assert set(FORMATS.get("markdown").extensions) == {".md", ".markdown"}


def test_good_document_valid():
    v = validate(GOOD, "markdown")
    assert v.verdict == VALID, v.findings
    assert v.findings == ()


def test_unclosed_fence_at_end_is_viable_prefix():
    v = validate("# x\n\n```python\nx = 1\n", "markdown")
    assert v.verdict == VIABLE_PREFIX
    (f,) = v.findings
    assert f.kind == "fence_unclosed" and f.opener_line == 3 and f.fixable_by_append


def test_fence_ended_by_container_is_invalid():
    assert validate("> ```\n> code\n\nafter", "markdown").verdict == INVALID


def test_heading_jump_is_a_warning():
    v = validate("# The first heading\n\n### A third-level one\n", "markdown")
    assert v.verdict == VALID
    (f,) = v.findings
    assert f.kind == "heading_jump" and f.severity == WARNING and f.line == 3


def test_list_numbering_warning():
    v = validate("1. apples\n2. pears\n4. plums\n", "markdown")
    assert v.verdict == VALID and [f.kind for f in v.findings] == ["list_numbering"] and v.findings[0].line == 3
    assert kinds("1. a\n1. b\n1. c\n") == []


def test_table_columns():
    text = "| a | b |\n|---|---|\n| 1 | 2 | 3 |\n| 4 | 5 |\n"
    v = validate(text, "markdown")
    assert v.verdict == INVALID and kinds(text) == ["table_columns"] and v.findings[0].line == 3


def test_table_short_rows_are_valid_gfm():
    # GFM fills missing cells: a short row (a label row, omitted trailing cells) is a warning only
    text = "| a | b | c |\n|---|---|---|\n| **Group** |\n| 1 | 2 |\n| 4 | 5 | 6 |\n"
    v = validate(text, "markdown")
    assert v.verdict == VALID
    assert [(f.kind, f.line, f.severity) for f in v.findings] == [("table_short_row", 3, WARNING)]
    assert validate("a | b | c\n--- | --- | ---\nx | y |\n", "markdown").verdict == VALID
    assert validate("| name | value |\n|---|---|\n| 1 ", "markdown").verdict == VALID  # a last row cut short


def test_table_header_delimiter_mismatch():
    # header and delimiter rows must agree, else GFM renders no table: the lines become a paragraph
    text = "intro\n\n| a | b | c |\n|---|---|\n| 1 | 2 | 3 |\n\nafter\n"
    v = validate(text, "markdown")
    assert v.verdict == INVALID and kinds(text) == ["table_header"]
    assert (v.findings[0].line, v.findings[0].opener_line) == (4, 3)
    assert kinds("> | a |\n> |---|---|\n> | 1 | 2 |\n") == ["table_header"]  # in a blockquote
    # a delimiter row cut short by the end of the text can still be completed
    assert validate("| a | b | c |\n|---|---", "markdown").verdict == VIABLE_PREFIX
    assert validate("name | value\n-|-\nspeed | high\n", "markdown").verdict == VALID
    assert validate("The section on the x - y plot\n---\n", "markdown").verdict == VALID  # a setext heading, no pipe


def test_links():
    assert kinds("see [here](http://x and more\n\nnext") == ["link_unbalanced"]
    assert validate("see [here](http://x", "markdown").verdict == VIABLE_PREFIX
    assert validate("a [b\n\nc", "markdown").verdict == INVALID
    assert validate("a [text[(http://x) b\n\nc", "markdown").verdict == INVALID  # a swapped bracket


def test_lone_close_bracket_is_literal_unless_link_syntax_follows():
    # CommonMark renders a `]` without an opener as text: only `](`/`][` are the middle of a link
    # no error, and no link syntax either: plain prose, so trivial
    assert validate("range (0, 100].\n\n]attribute and x)].", "markdown").verdict == TRIVIAL
    assert validate("a ] b\n\nc", "markdown").verdict == TRIVIAL
    assert validate("range (0, 100] in a `code span`.", "markdown").verdict == VALID
    v = validate("text](http://x) more\n\nc", "markdown")
    assert v.verdict == INVALID and [(f.kind, f.line, f.col) for f in v.findings] == [("link_unbalanced", 1, 5)]
    assert validate("text][ref]\n\nc", "markdown").verdict == INVALID


def test_escaped_open_bracket_and_intervals_are_literal():
    assert validate("U+005B (\\[) to U+005E\n\nnext", "markdown").verdict == TRIVIAL  # no error; prose only
    assert validate("U+005B (\\[) to U+005E, see `[`\n\nnext", "markdown").verdict == VALID
    assert validate("values in *[`start`, `end`)* and [start, end) by x\n\nnext", "markdown").verdict == VALID
    assert validate("[a, b[(http://x)\n\nnext", "markdown").verdict == INVALID  # not an interval


def test_bracket_spanning_blocks():
    # `[[Aside: ...` closed by `]]` paragraphs later: CommonMark links cannot span blocks, so both are prose
    text = "[[Aside: one\n\n```\ncode]\n```\n\ntwo.]]\n\nthree\n"
    assert validate(text, "markdown").verdict == VALID
    v = validate("[[Aside: one\n\ntwo.]\n\nthree\n", "markdown")  # only one of the two closed
    assert v.verdict == INVALID and [(f.kind, f.line, f.col) for f in v.findings] == [("link_unbalanced", 1, 1)]


def test_inline_code():
    v = validate("a `b c\n\nd", "markdown")
    assert v.verdict == INVALID and kinds("a `b c\n\nd") == ["code_unclosed"]
    assert (v.findings[0].line, v.findings[0].col) == (1, 3)
    assert validate("a `b c", "markdown").verdict == VIABLE_PREFIX
    assert validate("the path (`\\`) is fine as it is", "markdown").verdict == VALID
    assert validate("a `code\nspan` over two lines\n\nb", "markdown").verdict == VALID


def test_unmatched_backtick_run_is_skipped_like_commonmark():
    # the unmatched `` is literal; the scan goes on, so `c` is a span and [x](y is still checked
    v = validate("a `` b `c` [x](y\n\nd", "markdown")
    assert [(f.kind, f.col) for f in v.findings] == [("code_unclosed", 3), ("link_unbalanced", 15)]
    assert validate("\\`not code\\` but `code`\n\nd", "markdown").verdict == VALID  # escaped ticks are text
    assert kinds("\\`a` b `c`\n\nd") == ["code_unclosed"]  # ` b ` is the span, the last tick is left over


def test_tex_quotes_are_not_code():
    assert validate("a singleton ``scalar shape'' here\n\nnext", "markdown").verdict == VALID
    assert validate("a ``scalar shape here\n\nnext", "markdown").verdict == INVALID


def test_html_balance():
    assert kinds("<b>x</i>\n\ny") == ["html_stray_close", "html_unclosed"]
    assert kinds("<b><i>x</b></i>") [0] == "html_mismatch"
    assert validate("<b>bold", "markdown").verdict == VIABLE_PREFIX
    assert validate("<div>\n\n*some emphasis*\n\n</div>", "markdown").verdict == VALID


def test_html_optional_end_tags():
    # HTML closes li/td/th/tr/p... implicitly, and ignores a stray end tag of such an element
    table = "<table>\n<tr>\n<th>a</td>\n<th>b</td>\n</tr>\n<tr><td>1<td>2\n</tr>\n</tr>\n</table>\n"
    v = validate(table, "markdown")
    assert v.verdict == VALID and {f.kind for f in v.findings} == {"html_stray_close"}
    assert all(f.severity == WARNING for f in v.findings)
    assert validate("<ul>\n<li>apple\n<li>pear\n</ul>\n", "markdown").verdict == VALID
    assert validate("<div><p>a paragraph</div>\n", "markdown").verdict == VALID
    assert validate("</div>\n\nx", "markdown").verdict == INVALID  # not optional: a lost opener
    assert kinds("<div><span>a</div></span>\n")[0] == "html_mismatch"


def test_html_named_anchor_may_stay_open():
    assert validate('<a name="intro">\n\n## Intro\n', "markdown").verdict == VALID
    assert validate('<a name="x">y</a> and <a id="z"></a>', "markdown").verdict == VALID
    assert validate('<a href="x">link\n', "markdown").verdict == VIABLE_PREFIX


@pytest.mark.parametrize("text", ["", " \n\n ", "\x00", "```", "|", "[", "`", "<", "\r\n\r", "\udcff", "#" * 100])
def test_edge_inputs(text):
    assert validate(text, "markdown").verdict in VERDICTS


def test_taxonomy():
    for t in [GOOD, "```\n", "| a |\n|-|\n| 1 | 2 |", "<b>", "x ]", "`a", "# a\n#### b"]:
        for f in validate(t, "markdown").findings:
            assert f.kind in markdown.KINDS and f.line >= 1 and f.col >= 1
            if f.fixable_by_append:
                assert f.kind in markdown.FIXABLE_KINDS


def test_missing_closing_fence_before_another_block_is_caught():
    from gencheck.validators import validate

    broken = "# T\n\n```js\nlet a = 1;\n\n```python\nx = 1\n```\n"
    v = validate(broken, "markdown")
    assert v.verdict == "invalid" and [f.kind for f in v.findings] == ["fence_swallowed"]
    assert v.findings[0].line == 6 and v.findings[0].opener_line == 3
    nested_example = "# T\n\n````md\n```js\nx\n```\n````\n"  # a longer outer fence: legitimate nesting
    assert validate(nested_example, "markdown").verdict == "valid"
    # an inner opener LONGER than the open fence is no nesting either: its closing line ends the block
    lost = "```swift\nf()\n\ntext\n\n````swift\ng()\n````\n"
    assert [f.kind for f in validate(lost, "markdown").findings] == ["fence_swallowed"]


def test_swap_link_bracket_mutation_edits_only_link_syntax():
    import random

    from gencheck.validators.mutations import mutate

    # `](` in a code span, a code block, an HTML comment, or with no `[`: not link syntax, no site
    no_links = "`a[b](c)`\n\n```js\nx[0]();\n```\n\n<!--\n[l](u)\n-->\n\nx](y)\n"
    assert mutate(no_links, "markdown", "swap_link_bracket", random.Random(0)) is None
    text = no_links + "\nsee [here](http://x) and `[k](v)`\n"
    for seed in range(5):
        out = mutate(text, "markdown", "swap_link_bracket", random.Random(seed))
        assert out == text.replace("[here](", "[here[(")
        assert validate(out, "markdown").verdict == INVALID


def test_drop_table_cell_mutation_edits_header_or_delimiter_row():
    import random

    from gencheck.validators.mutations import mutate

    text = "# T\n\n| a | b | c |\n|---|---|---|\n| 1 | 2 | 3 |\n\nend\n"
    seen = set()
    for seed in range(12):
        out = mutate(text, "markdown", "drop_table_cell", random.Random(seed))
        changed = [i for i, (x, y) in enumerate(zip(text.split("\n"), out.split("\n"))) if x != y]
        assert changed in ([2], [3])
        seen.add(changed[0])
        assert kinds(out) == ["table_header"]
    assert seen == {2, 3}


def test_fast_block_parser_gives_markdown_its_tokens():
    """The speed layer (line markers from string methods, rule chains dispatched on the first character)
    must not change a single token; and it must be in use (not fallen back to plain markdown-it)."""
    import random

    from gencheck.validators.markdown import _PROBE, _block_tokens, _FastBlockParser, _md

    def sig(tokens):
        return [(t.type, t.tag, t.map, t.content, t.markup, t.info, t.level, t.nesting, t.hidden, t.block, t.attrs)
                for t in tokens]

    pieces = list("`[]()#|<>*!-=_+~:.12\n\n \t\tab\r\\") + [
        "```", "~~~", "\n| a | b |\n|---|---|\n", "> ", "- ", "1. ", "    ", "<div>", "</div>", "---\n", "===\n",
        "<!--", "-->", "[a]: /u\n", "\t>", "  \t- ", "\n -", "\n =", "\n> --", "\r\n", "\x00", "|-|", ":-", "##"]
    rng = random.Random(0)
    texts = [GOOD, _PROBE, "", "\n", " \t", "a\n  \n", "> a\n---\n", "- a\n  b\n  ---\n", "a\n\t=\n"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randrange(1, 50))) for _ in range(2000)]
    for t in texts:
        assert sig(_block_tokens(t)) == sig(_md().parse(t)), repr(t)
    assert isinstance(markdown._FAST, _FastBlockParser)
