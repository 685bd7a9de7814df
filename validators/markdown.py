"""Markdown structure validator: markdown-it-py's block parse (with line maps) plus inline scanners.

The block structure (fences, headings, lists, tables, HTML blocks) comes from markdown-it-py in
CommonMark mode with GFM tables; its token `.map` gives line numbers. Inline rules are not run by
markdown-it (that doubles the cost); instead each paragraph's inline source is scanned linearly for
code spans, link/image brackets and inline HTML tags. mistune is not used in the default check: it
parses the same CommonMark and costs as much as markdown-it again for no extra finding.

What makes a document invalid (severity "error") vs. a warning (never changes the verdict):

* `fence_unclosed`: a ``` or ~~~ fence without its closing line. At the end of the text it is fixable
  by appending the fence (viable_prefix); when a container (blockquote, list item) ends it, it is not.
* `table_columns`: a table body row with a different cell count than the header (error; a last row
  cut short by the end of the text is fixable).
* `link_unbalanced`: `[`/`]` unbalanced in a paragraph, or `](` without its `)` (error; fixable in the
  last block of the text).
* `code_unclosed`: a backtick run with no closing run of the same length in its paragraph (error;
  fixable in the last block).
* `html_unclosed` / `html_mismatch` / `html_stray_close`: inline or block HTML tags out of balance over
  the document (void elements and `<.../>` excepted); unclosed at the end is fixable.
* `heading_jump` (warning): a heading more than one level deeper than the previous heading.
* `list_numbering` (warning): an ordered list numbered neither consecutively nor all alike (`1. 1. 1.`).
"""

from __future__ import annotations

import re

from . import register_format
from .base import WARNING, Finding, Report, cap_findings

KINDS: dict[str, str] = {
    "fence_unclosed": "a code fence never closed (fixable when the text simply ends inside it)",
    "fence_swallowed": "a code block holds a line that opens a fence with an info string (```js): the block "
                       "before it most likely lost its closing fence, and the two blocks merged",
    "table_columns": "a table row whose cell count differs from the header's",
    "link_unbalanced": "unbalanced [ ] in a paragraph, or a link/image '](' without its ')'",
    "code_unclosed": "a backtick run that opens inline code and is never closed in its paragraph",
    "html_unclosed": "an HTML tag still open at the end of the text (fixable by appending its end tag)",
    "html_mismatch": "an HTML end tag closing a different open tag (message names both)",
    "html_stray_close": "an HTML end tag with no matching open tag",
    "heading_jump": "warning: heading level jumps by more than one (h1 -> h3)",
    "list_numbering": "warning: ordered list items numbered neither 1,2,3... nor all alike",
    "truncated_findings": "more findings than MAX_FINDINGS; the rest are summarised in one finding",
}
_INNER_OPENER = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*([A-Za-z][\w+#.-]*.*)$")

FIXABLE_KINDS = frozenset({"fence_unclosed", "table_columns", "link_unbalanced", "code_unclosed", "html_unclosed"})
MAX_FINDINGS = 100

#: HTML element names: `<string>` in `Promise<string>` is prose, not a tag.
HTML_TAGS = frozenset(
    "a abbr address article aside audio b bdi bdo blockquote body button canvas caption center cite code "
    "colgroup data datalist dd del details dfn dialog div dl dt em fieldset figcaption figure font footer "
    "form h1 h2 h3 h4 h5 h6 head header html i iframe ins kbd label legend li main map mark menu meter nav "
    "noscript object ol optgroup option output p picture pre progress q rp rt ruby s samp script section "
    "select small span strike strong style sub summary sup svg table tbody td template textarea tfoot th "
    "thead time title tr tt u ul var video".split()
)
VOID_TAGS = frozenset(
    "area base br col embed hr img input link meta param source track wbr keygen command".split()
)
_LINES = re.compile(r"\r\n?|\n")
_BACKTICKS = re.compile(r"\\.|`+", re.S)
_TAG = re.compile(r"<!--.*?-->|<(/?)([A-Za-z][A-Za-z0-9-]*)(?:\s[^<>]*?)?(/?)>", re.S)
_CONTAINER_PREFIX = re.compile(r"^[ \t>]*")

_MD = None


def _md():
    """One markdown-it instance per process: CommonMark + GFM tables, block rules only."""
    global _MD
    if _MD is None:
        from markdown_it import MarkdownIt

        md = MarkdownIt("commonmark").enable("table")
        md.disable(["inline", "text_join"], ignoreInvalid=True)
        _MD = md
    return _MD


class _Checker:
    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = _LINES.split(text)
        self.nlines = len(self.lines)
        # the last line that is not blank: blocks ending there are "at the end of the text"
        last = self.nlines
        while last > 0 and not self.lines[last - 1].strip():
            last -= 1
        self.last_content = last
        self.findings: list[Finding] = []
        self.html_stack: list[tuple[str, int, int]] = []

    def add(self, kind, message, line, col, fixable=False, severity=None, opener=None, oline=None, ocol=None):
        kw = {"severity": severity} if severity else {}
        self.findings.append(Finding(kind, message, max(1, line), max(1, col), opener=opener, opener_line=oline,
                                     opener_col=ocol, fixable_by_append=fixable, **kw))

    def at_end(self, map_end: int) -> bool:
        return map_end >= self.last_content

    # -- block checks -----------------------------------------------------------------------
    def fence(self, tok) -> None:
        s, e = tok.map
        markup = tok.markup
        self.swallowed_fence(tok, s, markup)
        closing = _CONTAINER_PREFIX.sub("", self.lines[e - 1]).rstrip() if e - 1 > s else ""
        if e - 1 > s and closing and set(closing) == {markup[0]} and len(closing) >= len(markup):
            return
        line = self.lines[s]
        self.add("fence_unclosed", f"{markup} fence opened on line {s + 1} is never closed", e, 1,
                 fixable=self.at_end(e), opener=markup, oline=s + 1, ocol=line.find(markup) + 1)

    def swallowed_fence(self, tok, s: int, markup: str) -> None:
        """A fence line with an info string cannot close a block (CommonMark), so when a closing fence is
        missing, the next block's opener becomes content. Nested examples use a longer outer fence."""
        for i, line in enumerate(tok.content.split("\n")):
            m = _INNER_OPENER.match(line)
            if m and m.group(1)[0] == markup[0] and len(m.group(1)) == len(markup):
                row = s + 2 + i
                self.add("fence_swallowed", f"line {row} opens a {m.group(1)}{m.group(2).split()[0]} block inside the "
                         f"code block opened on line {s + 1}: is a closing fence missing?", row, 1,
                         fixable=False, opener=markup, oline=s + 1, ocol=1)
                return

    def table(self, tok) -> None:
        s, e = tok.map
        header = _cell_count(self.lines[s])
        for i in range(s + 2, min(e, self.nlines)):
            n = _cell_count(self.lines[i])
            if n != header:
                cut = i + 1 >= self.last_content and n < header
                self.add("table_columns", f"table row has {n} cells, the header has {header}", i + 1, 1,
                         fixable=cut, opener="|", oline=s + 1, ocol=1)

    # -- inline checks ----------------------------------------------------------------------
    def inline(self, content: str, map_: list[int] | None) -> None:
        first = map_[0] + 1 if map_ else 1
        at_end = self.at_end(map_[1]) if map_ else True
        stripped = self.code_spans(content, first, at_end)
        self.links(stripped, first, at_end)
        self.html(stripped, first)

    def code_spans(self, content: str, first: int, at_end: bool) -> str:
        """Report an unclosed backtick run; return the content with code spans blanked."""
        open_run: re.Match | None = None
        spans: list[tuple[int, int]] = []
        for m in _BACKTICKS.finditer(content):
            g = m.group()
            if g[0] == "\\":
                if open_run is None or g[1] != "`":
                    continue  # an escaped backtick outside code; inside code a backslash is literal
                g = g[1]
                if len(open_run.group()) == 1:
                    spans.append((open_run.start(), m.end()))
                    open_run = None
                continue
            if open_run is None:
                open_run = m
            elif len(g) == len(open_run.group()):
                spans.append((open_run.start(), m.end()))
                open_run = None
        if open_run is not None:
            line, col = _pos(content, open_run.start(), first)
            self.add("code_unclosed", f"inline code {open_run.group()} never closed", line, col, fixable=at_end,
                     opener=open_run.group(), oline=line, ocol=col)
            spans.append((open_run.start(), len(content)))
        if not spans:
            return content
        out, last = [], 0
        for a, b in spans:
            out.append(content[last:a])
            out.append(re.sub(r"[^\n]", " ", content[a:b]))
            last = b
        out.append(content[last:])
        return "".join(out)

    def links(self, content: str, first: int, at_end: bool) -> None:
        """[ ] balance, and a `](` destination closed by `)`."""
        if "[" not in content and "]" not in content:
            return
        stack: list[int] = []
        i, n = 0, len(content)
        while i < n:
            c = content[i]
            if c == "\\":  # `\\[!TIP]`, `{string\\[]}`: escaped brackets pair like plain ones
                if i + 1 < n and content[i + 1] == "[":
                    stack.append(i + 1)
                elif i + 1 < n and content[i + 1] == "]" and stack:
                    stack.pop()
                i += 2
                continue
            if c == "[":
                stack.append(i)
            elif c == "]":
                if not stack:
                    line, col = _pos(content, i, first)
                    self.add("link_unbalanced", "] with no [", line, col)
                else:
                    stack.pop()
                    if i + 1 < n and content[i + 1] == "(":
                        end = _paren_end(content, i + 1)
                        if end < 0:
                            line, col = _pos(content, i + 1, first)
                            self.add("link_unbalanced", "link destination ]( never closed by )", line, col,
                                     fixable=at_end, opener="](", oline=line, ocol=col)
                            return
                        i = end
                        continue
            i += 1
        for p in stack:
            line, col = _pos(content, p, first)
            self.add("link_unbalanced", "[ never closed by ]", line, col, fixable=at_end, opener="[", oline=line, ocol=col)

    def html(self, content: str, first: int) -> None:
        if "<" not in content:
            return
        for m in _TAG.finditer(content):
            name = m.group(2)
            if name is None:
                continue  # a comment
            name = name.lower()
            if name not in HTML_TAGS:
                continue
            if m.group(3) or (name in VOID_TAGS and not m.group(1)):
                continue
            line, col = _pos(content, m.start(), first)
            if not m.group(1):
                self.html_stack.append((name, line, col))
                continue
            if name in VOID_TAGS:
                continue
            st = self.html_stack
            if st and st[-1][0] == name:
                st.pop()
                continue
            for k in range(len(st) - 1, max(-1, len(st) - 17), -1):
                if st[k][0] == name:
                    top = st[-1]
                    self.add("html_mismatch", f"<{top[0]}> closed by </{name}>", line, col, opener=f"<{top[0]}>",
                             oline=top[1], ocol=top[2])
                    del st[k:]
                    break
            else:
                self.add("html_stray_close", f"</{name}> with no open <{name}>", line, col)

    # -- driver -----------------------------------------------------------------------------
    def run(self) -> list[Finding]:
        tokens = _md().parse(self.text)
        prev_heading = 0
        list_stack: list[list] = []  # for ordered lists: [numbers, lines, level]
        for tok in tokens:
            t = tok.type
            if t == "fence":
                self.fence(tok)
            elif t == "inline":
                self.inline(tok.content, tok.map)
            elif t == "html_block":
                self.html(tok.content, tok.map[0] + 1 if tok.map else 1)
            elif t == "table_open" and tok.map:
                self.table(tok)
            elif t == "heading_open":
                level = int(tok.tag[1])
                if prev_heading and level > prev_heading + 1:
                    line = tok.map[0] + 1 if tok.map else 1
                    self.add("heading_jump", f"h{prev_heading} followed by h{level}", line, 1, severity=WARNING)
                prev_heading = level
            elif t == "ordered_list_open":
                list_stack.append([[], [], tok.level])
            elif t == "list_item_open" and list_stack and tok.level == list_stack[-1][2] + 1 and tok.info:
                try:
                    list_stack[-1][0].append(int(tok.info))
                    list_stack[-1][1].append(tok.map[0] + 1 if tok.map else 1)
                except ValueError:
                    pass
            elif t == "ordered_list_close" and list_stack:
                self.numbering(*list_stack.pop()[:2])
        for name, line, col in self.html_stack:
            self.add("html_unclosed", f"<{name}> never closed", self.nlines, len(self.lines[-1]) + 1, fixable=True,
                     opener=f"<{name}>", oline=line, ocol=col)
        return self.findings

    def numbering(self, nums: list[int], lines: list[int]) -> None:
        if len(nums) < 2 or all(x == nums[0] for x in nums):
            return
        for k in range(1, len(nums)):
            if nums[k] != nums[k - 1] + 1:
                self.add("list_numbering", f"item {nums[k]} follows item {nums[k - 1]}", lines[k], 1, severity=WARNING)
                return


def _pos(content: str, offset: int, first_line: int) -> tuple[int, int]:
    """Line and column of an offset in a block's content (columns are relative to the content)."""
    nl = content.count("\n", 0, offset)
    start = content.rfind("\n", 0, offset) + 1
    return first_line + nl, offset - start + 1


def _paren_end(content: str, i: int) -> int:
    """`content[i] == '('`: index after the balancing ')', or -1."""
    depth = 0
    n = len(content)
    while i < n:
        c = content[i]
        if c == "\\":
            i += 2
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        elif c == "\n" and i + 1 < n and content[i + 1] == "\n":
            return -1
        i += 1
    return -1


_CELL_SPLIT = re.compile(r"\\.|\|", re.S)


def _cell_count(line: str) -> int:
    """Cells in a GFM table row: unescaped pipes (GFM splits on them even inside code spans),
    edge pipes optional."""
    s = _CONTAINER_PREFIX.sub("", line).strip() if line.lstrip().startswith(">") else line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|") and not s.endswith("\\|"):
        s = s[:-1]
    return 1 + sum(1 for m in _CELL_SPLIT.finditer(s) if m.group() == "|")


@register_format("markdown", (".md", ".markdown"), "Markdown: fences, tables, links, inline code, HTML; heading/list warnings")
def check(text: str) -> Report:
    findings = _Checker(text).run()
    errors = [f for f in findings if f.severity != WARNING]
    syntax = {"fences_closed": not any(f.kind == "fence_unclosed" for f in errors),
              "balanced": not errors}
    return Report(tuple(cap_findings(findings, MAX_FINDINGS)), syntax)
