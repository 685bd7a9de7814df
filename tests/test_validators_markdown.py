"""The Markdown validator: structural errors vs. warnings, with line numbers."""

from __future__ import annotations

import pytest

from gencheck.validators import FORMATS, INVALID, VALID, VERDICTS, VIABLE_PREFIX, WARNING, validate
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
    return [f.kind for f in validate(text, "markdown").findings]


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
    v = validate("# h1\n\n### h3\n", "markdown")
    assert v.verdict == VALID
    (f,) = v.findings
    assert f.kind == "heading_jump" and f.severity == WARNING and f.line == 3


def test_list_numbering_warning():
    v = validate("1. a\n2. b\n4. c\n", "markdown")
    assert v.verdict == VALID and [f.kind for f in v.findings] == ["list_numbering"] and v.findings[0].line == 3
    assert kinds("1. a\n1. b\n1. c\n") == []


def test_table_columns():
    text = "| a | b |\n|---|---|\n| 1 | 2 | 3 |\n| 4 | 5 |\n"
    v = validate(text, "markdown")
    assert v.verdict == INVALID and kinds(text) == ["table_columns"] and v.findings[0].line == 3
    # a last row cut short by the end of the text could still be completed
    assert validate("| a | b |\n|---|---|\n| 1 ", "markdown").verdict == VIABLE_PREFIX


def test_links():
    assert kinds("see [here](http://x and more\n\nnext") == ["link_unbalanced"]
    assert validate("see [here](http://x", "markdown").verdict == VIABLE_PREFIX
    assert validate("a ] b\n\nc", "markdown").verdict == INVALID
    assert validate("a [b\n\nc", "markdown").verdict == INVALID


def test_inline_code():
    v = validate("a `b c\n\nd", "markdown")
    assert v.verdict == INVALID and kinds("a `b c\n\nd") == ["code_unclosed"]
    assert (v.findings[0].line, v.findings[0].col) == (1, 3)
    assert validate("a `b c", "markdown").verdict == VIABLE_PREFIX
    assert validate("path (`\\`) ok", "markdown").verdict == VALID


def test_html_balance():
    assert kinds("<b>x</i>\n\ny") == ["html_stray_close", "html_unclosed"]
    assert kinds("<b><i>x</b></i>") [0] == "html_mismatch"
    assert validate("<b>bold", "markdown").verdict == VIABLE_PREFIX
    assert validate("<div>\n\n*x*\n\n</div>", "markdown").verdict == VALID


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
