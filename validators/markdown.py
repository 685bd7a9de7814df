"""Markdown structure validator: markdown-it-py's block parse (with line maps) plus inline scanners.

The block structure (fences, headings, lists, tables, HTML blocks) comes from markdown-it-py in
CommonMark mode with GFM tables; its token `.map` gives line numbers. Inline rules are not run by
markdown-it (that doubles the cost); instead each paragraph's inline source is scanned linearly for
code spans, link/image brackets and inline HTML tags. The block parse runs through a thin speed layer
(`_FastBlockParser`, ~1.8x markdown-it's own `parse`): line markers come from string methods, and
each rule chain is dispatched on the line's first character, so a rule is called only where a cheap
necessary condition for it holds (`#` for a heading, a `|` in a table header, a setext underline
before the next blank line); the tokens are exactly markdown-it's (checked at start-up, else plain
markdown-it is used). mistune 3 was measured and left out (no longer a dependency): its block parser
alone was slower than markdown-it's here (1,175 vs 1,439 texts/s in one run), and it gives no line
numbers, which every finding needs.

What makes a document invalid (severity "error") vs. a warning (never changes the verdict). The
rules follow CommonMark 0.31 / GFM: text that the spec renders as intended is not an error, even
where a strict reading would call a character "unbalanced".

* `fence_unclosed`: a ``` or ~~~ fence without its closing line. At the end of the text it is fixable
  by appending the fence (viable_prefix); when a container (blockquote, list item) ends it, it is not.
* `fence_swallowed`: a code block containing a fence opener with an info string, of the same fence
  character and at least as long (legitimate nesting uses a longer outer fence): a lost closing fence.
* `table_columns`: a table body row with MORE cells than the header (GFM drops the excess cells, so
  their text is lost). A row with fewer cells is valid GFM (empty cells are filled in): `table_short_row`
  warning.
* `table_header`: a header row followed by a delimiter row (`|---|---|`) with a different cell count:
  GFM then renders no table at all, the rows become paragraph text (fixable when the delimiter row is
  the last line, cut short).
* `link_unbalanced`: a `[` never closed by `]`, a `](`/`][` with no `[`, or `](` without its `)`
  (fixable in the last block of the text). Not errors, as CommonMark renders them as plain text: a `]`
  that is not followed by `(`/`[` (`(0, 100]`), an escaped `\\[`, a half-open interval `[a, b)`, and a
  `[` closed by a stray `]` in a later block (a bracketed aside spanning paragraphs).
* `code_unclosed`: a backtick run with no closing run of the same length in its paragraph (matched as
  CommonMark does: an unmatched run is literal and the scan resumes after it). A TeX-style quote
  ``like this'' is prose, not an opener. Fixable in the last block.
* `html_unclosed` / `html_mismatch` / `html_stray_close`: inline or block HTML tags out of balance over
  the document (void elements and `<.../>` excepted). Elements whose end tag HTML makes optional
  (li, p, td, th, tr, tbody, dd, ...) are closed implicitly as an HTML parser does, and an `<a>` without
  `href` (a named anchor) may stay open; a stray end tag of an optional-end element is only a warning
  (HTML ignores it). Unclosed at the end is fixable.
* `heading_jump` (warning): a heading more than one level deeper than the previous heading.
* `list_numbering` (warning): an ordered list numbered neither consecutively nor all alike (`1. 1. 1.`).

What the verdicts mean here (`base.verdict_of_report`): valid -- no error, and the text has structure of a
kind these checks read: a code block (fenced or indented), a heading, a list, a table, a blockquote, an
HTML block or tag, a link or image bracket (`[` with a `]` in the same block) or a code span (a backtick),
and at least `base.MIN_CONTENT_CHARS` non-space characters outside HTML comments; viable_prefix -- every
error is fixable (at the end of the text); invalid -- any other error; trivial -- no error, but plain
paragraphs only (or under the floor): nothing these checks could have found wrong, so it counts beside the
rates, not in them (its finding `trivial` says which).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate
from operator import add, sub

from . import register_format
from .base import WARNING, Finding, Report, cap_findings, line_col, line_starts_of, matching_end, nonspace, trivial_reason

KINDS: dict[str, str] = {
    "fence_unclosed": "a code fence never closed (fixable when the text simply ends inside it)",
    "fence_swallowed": "a code block holds a line that opens a fence with an info string (```js): the block "
                       "before it most likely lost its closing fence, and the two blocks merged",
    "table_columns": "a table body row with more cells than the header: GFM drops the extra cells and their text",
    "table_header": "a table header row and its delimiter row (|---|) differ in cell count, so GFM renders no "
                    "table (fixable when the delimiter row is the last line and cut short)",
    "table_short_row": "warning: a table body row with fewer cells than the header (GFM fills in empty cells)",
    "link_unbalanced": "a [ never closed by ], a ]( or ][ with no [, or a link/image '](' without its ')'",
    "code_unclosed": "a backtick run that opens inline code and is never closed in its paragraph",
    "html_unclosed": "an HTML tag still open at the end of the text (fixable by appending its end tag)",
    "html_mismatch": "an HTML end tag closing a different open tag (message names both)",
    "html_stray_close": "an HTML end tag with no matching open tag (a warning for elements whose end tag is "
                        "optional in HTML, e.g. </tr>, </td>, </li>: HTML ignores it)",
    "heading_jump": "warning: heading level jumps by more than one (h1 -> h3)",
    "list_numbering": "warning: ordered list items numbered neither 1,2,3... nor all alike",
    "truncated_findings": "more findings than MAX_FINDINGS; the rest are summarised in one finding",
    "trivial": "warning, and the verdict trivial: no error, but no code block, heading, list, table, blockquote, "
               "HTML, link bracket or code span, or fewer than 20 non-space characters outside HTML comments",
}
#: What a text lacks when it is plain paragraphs (the `trivial` finding's words).
NO_STRUCTURE = "no code block, heading, list, table, blockquote, HTML, link or code span"
#: Block tokens that are structure these checks read (a paragraph or a rule is not).
STRUCTURE_BLOCKS = frozenset({"fence", "code_block", "heading_open", "bullet_list_open", "ordered_list_open",
                              "table_open", "blockquote_open", "html_block"})
_INNER_OPENER = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*([A-Za-z][\w+#.-]*.*)$")

FIXABLE_KINDS = frozenset({"fence_unclosed", "table_header", "link_unbalanced", "code_unclosed", "html_unclosed"})
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
#: Elements whose end tag HTML lets the author omit: the next sibling or the parent's end closes them.
OPTIONAL_END_TAGS = frozenset(
    "li dt dd p rt rp optgroup option colgroup caption thead tbody tfoot tr td th".split()
)
_P_CLOSERS = frozenset(
    "address article aside blockquote details div dl fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 "
    "header hr main menu nav ol p pre section table ul".split()
)
#: start tag -> open elements (on top of the stack) that it closes implicitly, as an HTML parser does
_IMPLIED_CLOSE: dict[str, frozenset[str]] = {
    "li": frozenset({"li", "p"}),
    "dt": frozenset({"dt", "dd", "p"}),
    "dd": frozenset({"dt", "dd", "p"}),
    "td": frozenset({"td", "th"}),
    "th": frozenset({"td", "th"}),
    "tr": frozenset({"tr", "td", "th"}),
    "thead": frozenset({"thead", "tbody", "tfoot", "tr", "td", "th", "caption", "colgroup"}),
    "tbody": frozenset({"thead", "tbody", "tfoot", "tr", "td", "th", "caption", "colgroup"}),
    "tfoot": frozenset({"thead", "tbody", "tfoot", "tr", "td", "th", "caption", "colgroup"}),
    "option": frozenset({"option"}),
    "optgroup": frozenset({"optgroup", "option"}),
    "rt": frozenset({"rt", "rp"}),
    "rp": frozenset({"rt", "rp"}),
    **{name: frozenset({"p"}) for name in _P_CLOSERS},
}
_LINES = re.compile(r"\r\n?|\n")
_BACKTICK_RUN = re.compile(r"`+")
#: a code span whose runs pair up in order (no backtick inside): the fast path of `code_spans`
_SPAN = re.compile(r"(`+)[^`]*\1(?!`)")
_TEX_QUOTE = re.compile(r"``[^`\s][^`]*?''")
_LINK_TOKEN = re.compile(r"\\.|[\[\]]", re.S)
_PAREN_TOKEN = re.compile(r"\\.|[()]|\n\n", re.S)
#: a half-open interval in prose, `[a, b)`: the `[` is not link syntax
_INTERVAL = re.compile(r"\[[^\[\]()\n]*,[^\[\]()\n]*\)")
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)(\s[^<>]*?)?(/?)>")
_HREF = re.compile(r"\shref\s*=", re.I)
_CONTAINER_PREFIX = re.compile(r"^[ \t>]*")
_NOT_NL = re.compile(r"[^\n]")
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
#: a GFM delimiter row (`| --- | :-: |`), matched on the line stripped of blanks and container markers
_DELIM_ROW = re.compile(r"\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?$")

_MD = None
_FAST = None  # the block parser with the speed layer, or False where it cannot be installed


def _md():
    """One markdown-it instance per process: CommonMark + GFM tables, block rules only (plain markdown-it;
    the mutations and anyone wanting markdown-it's own tokens use it)."""
    global _MD
    if _MD is None:
        _MD = _new_md()
    return _MD


def _new_md():
    """A markdown-it parser in the configuration every check uses: CommonMark + GFM tables, no inline."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")
    md.disable(["inline", "text_join"], ignoreInvalid=True)
    return md


def _block_tokens(text: str, lines: list[str] | None = None) -> list:
    """markdown-it's block tokens for `text` (the same tokens as `_md().parse(text)`), faster. `lines`, if
    given, is `text` split at its line breaks (LF, CRLF, CR), to save splitting it again."""
    global _FAST
    if _FAST is None:
        try:
            _FAST = _FastBlockParser()
        except Exception:  # an incompatible markdown-it: the plain parser does the same job
            _FAST = False
    if _FAST is False:
        return _md().parse(text)
    return _FAST.parse(text, lines)


#: a possible setext underline (---, ===) after container markers; the match starts at the newline before it
_UNDERLINE = re.compile(r"\n[ \t>]*(?:-+|=+)[ \t]*(?![^\n])")
#: block rules that can only match a line starting (after indentation and container markers) with these
_FIRST_CHARS = {"fence": "`~", "blockquote": ">", "hr": "*-_", "list": "*-+0123456789", "reference": "[",
                "html_block": "<", "heading": "#"}
_PROBE = """# T
Para `x` | y
---
> quote
> - item
>   ```js
>   code
>   ```
1. one
2. two
   ===

    indented
| a | b |
|---|:-:|
| 1 | 2 |

<div>
x
</div>

[ref]: http://x
* * *
\t- tab item
~~~
fence
"""


class _FastBlockParser:
    """markdown-it's block parse (same rules, same tokens) with less Python overhead:

    * the line markers (bMarks, eMarks, tShift, sCount) come from `str.split`/`lstrip`, not a loop;
    * rule chains are dispatched on the first character of the line: a rule is called only where a
      necessary condition for it holds (`#` for a heading, `|` in a table header, a setext underline
      before the next blank line, ...). This matters most where `paragraph` and `lheading` try every
      terminator rule on every line;
    * the core chain (normalize, block) is inlined.

    `__init__` checks on a probe text that markers and tokens agree with markdown-it's own, else raises
    (and `_block_tokens` falls back to plain markdown-it); tests compare tokens on more texts."""

    def __init__(self) -> None:
        from markdown_it.rules_block.state_block import StateBlock

        md = _new_md()  # its own instance: the rule lookup of this one is replaced below
        self.md = md
        self.StateBlock = StateBlock
        self.State = _state_class(StateBlock)
        ruler = md.block.ruler
        names = {id(r.fn): r.name for r in ruler.__rules__}
        chains = {""} | {alt for r in ruler.__rules__ if r.enabled for alt in r.alt}
        dispatch = {chain: [_dispatcher([(names[id(fn)], fn) for fn in ruler.getRules(chain)])] for chain in chains}
        ruler.getRules = lambda chainName="": dispatch.get(chainName, [])
        self.tokenize = md.block.tokenize
        for src in (_PROBE, _PROBE.strip() + "\n  ", "x", "\n\n", " ", "a\n\t\n  b\n=="):
            ref = StateBlock(src, md, {}, [])
            got = self.state(src)
            for attr in ("bMarks", "eMarks", "tShift", "sCount", "bsCount", "lineMax"):
                if getattr(ref, attr) != getattr(got, attr):
                    raise RuntimeError(f"line markers differ from markdown-it's: {attr}")
            if [(t.type, t.map, t.content) for t in self.parse(src)] != [(t.type, t.map, t.content) for t in _md().parse(src)]:
                raise RuntimeError("tokens differ from markdown-it's")

    def state(self, src: str, lines: list[str] | None = None):
        state = self.State("", self.md, {}, [])  # every attribute markdown-it sets, for an empty text
        if lines is None:
            lines = src.split("\n")
        if not lines[-1].strip(" \t"):  # a last line of only blanks (or nothing) after the last \n: no marker
            lines = lines[:-1]
        n = len(lines)
        lens = list(map(len, lines))
        tshift = list(map(sub, lens, map(len, map(_lstrip_blank, lines))))
        bmarks = [0]
        bmarks += accumulate(map(_plus_one, lens[:-1]))
        scount = tshift[:]
        if "\t" in src:
            for i, line in enumerate(lines):
                if "\t" in line[:tshift[i]]:
                    offset = 0
                    for ch in line[:tshift[i]]:
                        offset += 4 - offset % 4 if ch == "\t" else 1
                    scount[i] = offset
        length = len(src)
        state.src = src
        state.eMarks = list(map(add, bmarks, lens)) if n else []
        state.eMarks.append(length)
        state.bMarks = bmarks if n else []
        state.bMarks.append(length)
        tshift.append(0)
        state.tShift = tshift
        scount.append(0)
        state.sCount = scount
        state.bsCount = [0] * (n + 1)
        state.lineMax = n
        # for the dispatch: the text with a sentinel (so that any marker indexes it), setext underline
        # candidates, and blank lines (only needed when there is a candidate)
        state.srcx = src + "\n"
        state.under = [bisect_right(bmarks, m.start() + 1) - 1 for m in _UNDERLINE.finditer(src)]
        state.blank = [i for i, (k, t) in enumerate(zip(lens, tshift)) if k == t] if state.under else []
        return state

    def parse(self, text: str, lines: list[str] | None = None) -> list:
        if "\r" in text:
            text = _LINES.sub("\n", text)
        if "\0" in text:
            text = text.replace("\0", "\ufffd")  # as markdown-it's normalize (same length: `lines` still fit)
        if not text:
            return []
        state = self.state(text, lines)
        self.tokenize(state, 0, state.lineMax)
        return state.tokens


def _state_class(StateBlock):
    """StateBlock with a cheaper `push` (tokens built field by field, not through the dataclass
    __init__), where Token has the fields this was written for; else StateBlock itself."""
    import dataclasses

    from markdown_it.token import Token

    fields = tuple(f.name for f in dataclasses.fields(Token))
    if fields != ("type", "tag", "nesting", "attrs", "map", "level", "children", "content", "markup", "info",
                  "meta", "block", "hidden"):
        return StateBlock
    new = Token.__new__

    class State(StateBlock):
        def push(self, ttype, tag, nesting):
            token = new(Token)
            token.type = ttype
            token.tag = tag
            token.nesting = nesting
            token.attrs = {}
            token.map = None
            token.children = None
            token.content = ""
            token.markup = ""
            token.info = ""
            token.meta = {}
            token.block = True
            token.hidden = False
            if nesting < 0:
                self.level -= 1
            token.level = self.level
            if nesting > 0:
                self.level += 1
            self.tokens.append(token)
            return token

    return State


def _lstrip_blank(line: str) -> str:
    return line.lstrip(" \t")


_plus_one = (1).__add__


def _dispatcher(rules: list):
    """One rule standing for a chain of rules: tries, in order, those that can match the line."""
    chars = sorted({c for name, _ in rules for c in _FIRST_CHARS.get(name, "")})
    by_char = {c: tuple(_GUARDS.get(name, _same)(fn) for name, fn in rules if c in _FIRST_CHARS.get(name, c))
               for c in chars}
    default = tuple(_GUARDS.get(name, _same)(fn) for name, fn in rules if name not in _FIRST_CHARS)
    get = by_char.get

    def rule(state, start, end, silent):
        for fn in get(state.srcx[state.bMarks[start] + state.tShift[start]], default):
            if fn(state, start, end, silent):
                return True
        return False

    return rule


def _same(fn):
    return fn


def _code_guard(fn):
    def rule(state, start, end, silent):
        if state.sCount[start] - state.blkIndent < 4:
            return False
        return fn(state, start, end, silent)

    return rule


def _table_guard(fn):
    def rule(state, start, end, silent):
        # the delimiter row starts with | - or :, and the header row has a pipe
        nxt = start + 1
        if nxt >= end or state.srcx[state.bMarks[nxt] + state.tShift[nxt]] not in "|-:":
            return False
        if state.src.find("|", state.bMarks[start], state.eMarks[start]) < 0:
            return False
        return fn(state, start, end, silent)

    return rule


def _lheading_guard(fn):
    def rule(state, start, end, silent):
        # a setext underline (---, ===) must come after `start` and before the next blank line
        under = state.under
        if not under or under[-1] <= start:
            return False
        u = under[bisect_right(under, start)]
        if u >= end:
            return False
        blank = state.blank
        if blank and blank[-1] > start and blank[bisect_right(blank, start)] < u:
            return False
        return fn(state, start, end, silent)

    return rule


_GUARDS = {"table": _table_guard, "code": _code_guard, "lheading": _lheading_guard}


class _Checker:
    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = _LINES.split(text) if "\r" in text else text.split("\n")
        self.nlines = len(self.lines)
        # the last line that is not blank: blocks ending there are "at the end of the text"
        last = self.nlines
        while last > 0 and not self.lines[last - 1].strip():
            last -= 1
        self.last_content = last
        self.findings: list[Finding] = []
        # open HTML elements: (name, line, col, end tag optional)
        self.html_stack: list[tuple[str, int, int, bool]] = []
        # `[` left open by a paragraph: (line, col, fixable); a stray `]` in a later block closes one
        self.pending_brackets: list[tuple[int, int, bool]] = []
        self.structured = False  # any structure the checks read: none makes the text trivial

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
        missing, the next block's opener becomes content. Nested examples use a longer outer fence; an inner
        opener at least as long as the outer fence cannot be one (its own closing line would end the block)."""
        content = tok.content
        if markup not in content:
            return
        for i, line in enumerate(content.split("\n")):
            m = _INNER_OPENER.match(line)
            if m and m.group(1)[0] == markup[0] and len(m.group(1)) >= len(markup):
                row = s + 2 + i
                self.add("fence_swallowed", f"line {row} opens a {m.group(1)}{m.group(2).split()[0]} block inside the "
                         f"code block opened on line {s + 1}: is a closing fence missing?", row, 1,
                         fixable=False, opener=markup, oline=s + 1, ocol=1)
                return

    def table(self, tok) -> None:
        """GFM: body rows may have fewer cells than the header (filled with empty cells: a warning), but
        cells beyond the header's count are dropped with their text (an error)."""
        s, e = tok.map
        header = _cell_count(self.lines[s])
        short = None
        nshort = 0
        for i in range(s + 2, min(e, self.nlines)):
            n = _cell_count(self.lines[i])
            if n > header:
                self.add("table_columns", f"table row has {n} cells, the header has {header}: GFM drops the extra "
                         "cells", i + 1, 1, opener="|", oline=s + 1, ocol=1)
            elif n < header:
                nshort += 1
                if short is None:
                    short = (i + 1, n)
        if short is not None:
            self.add("table_short_row", f"table row has {short[1]} cells, the header has {header} ({nshort} short "
                     "row(s) in this table; GFM fills in empty cells)", short[0], 1, severity=WARNING,
                     opener="|", oline=s + 1, ocol=1)

    def broken_table(self, map_: list[int]) -> None:
        """A paragraph holding a header row and a delimiter row: markdown-it made no table of them, which
        (for a well-formed delimiter row under a line with pipes) means the cell counts differ."""
        lines = self.lines
        for k in range(map_[0] + 1, min(map_[1], self.nlines)):
            line = lines[k]
            if ("-" in line and "|" in line and _DELIM_ROW.match(line.lstrip(" \t>").rstrip(" \t"))
                    and _UNESCAPED_PIPE.search(lines[k - 1])):
                header, delim = _cell_count(lines[k - 1]), _cell_count(line)
                if header != delim:
                    self.add("table_header", f"the delimiter row has {delim} cells, the header row {header}: "
                             "GFM renders no table", k + 1, 1, fixable=k == self.nlines - 1 and delim < header,
                             opener="|", oline=k, ocol=1)
                    return

    # -- inline checks ----------------------------------------------------------------------
    def inline(self, content: str, map_: list[int] | None) -> None:
        first = map_[0] + 1 if map_ else 1
        at_end = self.at_end(map_[1]) if map_ else True
        brackets = "[" in content or "]" in content
        tags = "<" in content
        if "`" in content or ("[" in content and "]" in content):
            self.structured = True
        if "`" in content:
            content = self.code_spans(content, first, at_end, blank=brackets or tags)
        if brackets:
            self.links(content, first, at_end)
        if tags:
            self.html(content, first)

    def code_spans(self, content: str, first: int, at_end: bool, blank: bool = True) -> str:
        """Match backtick runs as CommonMark does; report the first unclosed opener; return the content
        with code spans blanked (newlines kept) -- or as it is, when `blank` is false."""
        if "\\`" not in content:  # the usual case: runs pair up in order, no escapes
            found = _BACKTICK_RUN.findall(content)
            if not len(found) % 2 and found[0::2] == found[1::2]:
                return _SPAN.sub(_blank_span, content) if blank else content
        runs = [(m.start(), m.end()) for m in _BACKTICK_RUN.finditer(content)]
        by_len: dict[int, list[int]] = {}
        for k, (a, b) in enumerate(runs):
            by_len.setdefault(b - a, []).append(k)
        spans: list[tuple[int, int]] = []
        reported = False
        i, n = 0, len(runs)
        while i < n:
            a, b = runs[i]
            if a and content[a - 1] == "\\":  # outside code a backslash escapes the first backtick
                k = a - 1
                while k and content[k - 1] == "\\":
                    k -= 1
                if (a - k) % 2:
                    a += 1
                    if a == b:
                        i += 1
                        continue
            same = by_len.get(b - a)
            j = same[bisect_right(same, i)] if same and same[-1] > i else -1
            if j >= 0:
                spans.append((a, runs[j][1]))
                i = j + 1
                continue
            # no closer: the run is literal text (CommonMark); the scan goes on after it
            if not reported and not (b - a == 2 and _TEX_QUOTE.match(content, a)):
                reported = True
                line, col = _Locator(content, first)(a)
                run = content[a:b]
                self.add("code_unclosed", f"inline code {run} never closed", line, col, fixable=at_end,
                         opener=run, oline=line, ocol=col)
            i += 1
        if not spans or not blank:
            return content
        out, last = [], 0
        for a, b in spans:
            out.append(content[last:a])
            seg = content[a:b]
            out.append(_NOT_NL.sub(" ", seg) if "\n" in seg else " " * (b - a))
            last = b
        out.append(content[last:])
        return "".join(out)

    def links(self, content: str, first: int, at_end: bool) -> None:
        """[ ] balance, and a `](` destination closed by `)`."""
        pos = _Locator(content, first)
        stack: list[tuple[int, bool]] = []  # (offset, escaped)
        skip = 0
        parens = None  # offset of each `(` -> offset after its `)`, computed at the first `](`
        for m in _LINK_TOKEN.finditer(content):
            i = m.start()
            if i < skip:
                continue
            g = m.group()
            if g[0] == "\\":  # `\\[!TIP]`, `{string\\[]}`: escaped brackets pair like plain ones
                if g == "\\[":
                    stack.append((i + 1, True))
                elif g == "\\]" and stack:
                    stack.pop()
                continue
            if g == "[":
                stack.append((i, False))
                continue
            nxt = content[i + 1:i + 2]
            if stack:
                stack.pop()
                if nxt == "(":
                    if parens is None:
                        parens = _paren_matches(content)
                    end = parens.get(i + 1, -1)
                    if end < 0:
                        line, col = pos(i + 1)
                        self.add("link_unbalanced", "link destination ]( never closed by )", line, col,
                                 fixable=at_end, opener="](", oline=line, ocol=col)
                        return
                    skip = end
            elif nxt == "(" or nxt == "[":  # the middle of a link, `text](url)`, lost its `[`
                line, col = pos(i)
                self.add("link_unbalanced", f"]{nxt} with no [", line, col)
                if nxt == "(":
                    if parens is None:
                        parens = _paren_matches(content)
                    skip = max(skip, parens.get(i + 1, -1))
            elif self.pending_brackets:  # closes a `[` left open by an earlier block: prose brackets
                self.pending_brackets.pop()
            # else: a lone `]` is literal text in CommonMark, `(0, 100]`
        for p, escaped in stack:
            if escaped or _INTERVAL.match(content, p):
                continue  # `\\[` is literal by definition; `[a, b)` is an interval
            line, col = pos(p)
            self.pending_brackets.append((line, col, at_end))

    def html(self, content: str, first: int) -> None:
        st = self.html_stack
        if "<!--" in content:
            content = _mask_comments(content)
        pos = _Locator(content, first)
        for m in _TAG.finditer(content):
            name = m.group(2).lower()
            if name not in HTML_TAGS:
                continue
            self.structured = True
            if m.group(4) or name in VOID_TAGS:
                continue
            line, col = pos(m.start())
            if not m.group(1):
                implied = _IMPLIED_CLOSE.get(name)
                if implied:
                    while st and st[-1][0] in implied:
                        st.pop()
                optional = name in OPTIONAL_END_TAGS or (name == "a" and not _HREF.search(m.group(3) or ""))
                st.append((name, line, col, optional))
                continue
            if st and st[-1][0] == name:
                st.pop()
                continue
            for k in range(len(st) - 1, max(-1, len(st) - 17), -1):
                if st[k][0] == name:
                    blockers = [x for x in st[k + 1:] if not x[3]]
                    if blockers:
                        top = blockers[-1]
                        self.add("html_mismatch", f"<{top[0]}> closed by </{name}>", line, col, opener=f"<{top[0]}>",
                                 oline=top[1], ocol=top[2])
                    del st[k:]  # elements with optional end tags are closed implicitly
                    break
            else:
                if name in OPTIONAL_END_TAGS:
                    self.add("html_stray_close", f"</{name}> with no open <{name}> (ignored by HTML)", line, col,
                             severity=WARNING)
                else:
                    self.add("html_stray_close", f"</{name}> with no open <{name}>", line, col)

    # -- driver -----------------------------------------------------------------------------
    def run(self) -> list[Finding]:
        tokens = _block_tokens(self.text, self.lines)
        prev_heading = 0
        list_stack: list[list] = []  # for ordered lists: [numbers, lines, level]
        para = False
        for tok in tokens:
            t = tok.type
            if t in STRUCTURE_BLOCKS:
                self.structured = True
            if t == "inline":
                content = tok.content
                if para and "|" in content and "\n" in content and tok.map:
                    self.broken_table(tok.map)
                self.inline(content, tok.map)
            elif t == "paragraph_open":
                para = True
                continue
            elif t == "fence":
                self.fence(tok)
            elif t == "html_block":
                if "<" in tok.content:
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
            para = False
        for line, col, fixable in self.pending_brackets:
            self.add("link_unbalanced", "[ never closed by ]", line, col, fixable=fixable, opener="[", oline=line,
                     ocol=col)
        end_col = len(self.lines[-1]) + 1
        for name, line, col, optional in self.html_stack:
            if not optional:
                self.add("html_unclosed", f"<{name}> never closed", self.nlines, end_col, fixable=True,
                         opener=f"<{name}>", oline=line, ocol=col)
        self.findings.sort(key=lambda f: f.line)
        return self.findings

    def numbering(self, nums: list[int], lines: list[int]) -> None:
        if len(nums) < 2 or all(x == nums[0] for x in nums):
            return
        for k in range(1, len(nums)):
            if nums[k] != nums[k - 1] + 1:
                self.add("list_numbering", f"item {nums[k]} follows item {nums[k - 1]}", lines[k], 1, severity=WARNING)
                return


def _blank_span(m: re.Match) -> str:
    g = m.group()
    return _NOT_NL.sub(" ", g) if "\n" in g else " " * len(g)


class _Locator:
    """Line and column of offsets in one block's content (columns relative to the content), for many
    offsets: the line index is built at the first call, only when something is reported."""

    __slots__ = ("content", "first", "starts")

    def __init__(self, content: str, first_line: int) -> None:
        self.content = content
        self.first = first_line
        self.starts: list[int] | None = None

    def __call__(self, offset: int) -> tuple[int, int]:
        if self.starts is None:
            self.starts = line_starts_of(self.content)
        line, col = line_col(self.content, offset, self.starts)
        return self.first + line - 1, col


def _paren_matches(content: str) -> dict[int, int]:
    """Offset of each `(` -> offset after its matching `)` (backslash escapes skipped; a blank line
    ends them all): `_paren_end` for every `(` at once, in one pass."""
    out: dict[int, int] = {}
    stack: list[int] = []
    for m in _PAREN_TOKEN.finditer(content):
        g = m.group()
        if g == "(":
            stack.append(m.start())
        elif g == ")":
            if stack:
                out[stack.pop()] = m.end()
        elif g == "\n\n":
            stack.clear()
    return out


def _mask_comments(content: str) -> str:
    """HTML comments `<!-- ... -->` blanked (newlines kept); from an unclosed `<!--` on, nothing is."""
    out, last = [], 0
    i = content.find("<!--")
    while i >= 0:
        j = content.find("-->", i + 4)
        if j < 0:
            break
        out.append(content[last:i])
        out.append(_NOT_NL.sub(" ", content[i:j + 3]))
        last = j + 3
        i = content.find("<!--", last)
    out.append(content[last:])
    return "".join(out)


def _paren_end(content: str, i: int) -> int:
    """`content[i] == '('`: index after the balancing ')', or -1 (none before a blank line or the end)."""
    return matching_end(_PAREN_TOKEN.finditer(content, i), "(", ")", "\n\n")


def _cell_count(line: str) -> int:
    """Cells in a GFM table row as markdown-it splits it: pipes not preceded by a backslash (GFM splits on
    them even inside code spans), edge pipes optional."""
    s = _CONTAINER_PREFIX.sub("", line).strip() if line.lstrip().startswith(">") else line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|") and not s.endswith("\\|"):
        s = s[:-1]
    return 1 + len(_UNESCAPED_PIPE.findall(s))


@register_format("markdown", (".md", ".markdown"), "Markdown: fences, tables, links, inline code, HTML; heading/list warnings",
                 kinds=KINDS, fixable=FIXABLE_KINDS)
def check(text: str) -> Report:
    """Block and inline findings; trivial for plain paragraphs or under the floor."""
    checker = _Checker(text)
    findings = checker.run()
    errors = [f for f in findings if f.severity != WARNING]
    syntax = {"fences_closed": not any(f.kind == "fence_unclosed" for f in errors),
              "balanced": not errors}
    content = nonspace(_mask_comments(text) if "<!--" in text else text)
    trivial = trivial_reason(text, content, "" if checker.structured else NO_STRUCTURE, "outside HTML comments")
    return Report(tuple(cap_findings(findings, MAX_FINDINGS)), syntax, trivial)
