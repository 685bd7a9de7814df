"""mistune 3 as the final judge of a Markdown text: does it render as written?

Markdown has no compiler that fails, so "renders as written" is agreement: mistune 3 (its AST renderer,
`create_markdown(renderer=None)`, with GFM tables) and markdown-it-py (CommonMark with GFM tables, the
inline rules on) each render the text, and the block structures they build must agree: headings and
their levels, code blocks, tables and their column counts, lists (ordered or not, nested included),
and links. Two independent renderers that read the text alike are evidence that it says what its
author meant; where they differ the text depends on a renderer's corner cases (a list that one reads
as a paragraph, a table one of them does not see). The scorecard's "renders as written" also needs the
validator's verdict `valid`. Both run in this process, so the supervised pool's time limit guards them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from .toolchains import Opinion

NAME = "mistune"

KINDS: dict[str, str] = {
    "ok": "mistune and markdown-it render the same block structure",
    "headings": "the renderers disagree on the headings (how many, or their levels)",
    "code_blocks": "the renderers disagree on how many code blocks there are",
    "tables": "the renderers disagree on the tables (how many, or their column counts)",
    "lists": "the renderers disagree on the lists (how many, ordered or not, nesting)",
    "links": "the renderers disagree on how many links there are",
    "timeout": "no answer within the pool's time limit",
    "absent": "mistune is not installed: no opinion",
}
ORDER = ("headings", "code_blocks", "tables", "lists", "links")


@dataclass
class Structure:
    """The block structure one renderer built: what `ORDER` names, in document order."""

    headings: list[int] = field(default_factory=list)
    code_blocks: int = 0
    tables: list[int] = field(default_factory=list)  # column count of each table's header
    lists: list[bool] = field(default_factory=list)  # ordered?
    links: int = 0


def available() -> bool:
    try:
        import mistune  # noqa: F401
    except ImportError:
        return False
    return True


def version() -> str | None:
    """`mistune 3.4.0 · markdown-it-py 3.0.0`: both renderers decide the opinion."""
    from importlib import metadata

    try:
        return f"mistune {metadata.version('mistune')} · markdown-it-py {metadata.version('markdown-it-py')}"
    except metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def _mistune():
    import mistune

    return mistune.create_markdown(renderer=None, plugins=["table"])


@lru_cache(maxsize=1)
def _markdown_it():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table")


def mistune_structure(text: str) -> Structure:
    s = Structure()
    stack = list(reversed(_mistune()(text)))
    while stack:
        t = stack.pop()
        kind = t.get("type")
        if kind == "heading":
            s.headings.append(int(t["attrs"]["level"]))
        elif kind == "block_code":
            s.code_blocks += 1
        elif kind == "table":
            head = next((c for c in t.get("children", ()) if c.get("type") == "table_head"), {})
            s.tables.append(len(head.get("children", ())))
        elif kind == "list":
            s.lists.append(bool(t.get("attrs", {}).get("ordered")))
        elif kind == "link":
            s.links += 1
        stack.extend(reversed(t.get("children") or ()))
    return s


def markdown_it_structure(text: str) -> Structure:
    s = Structure()
    in_head, cols = False, 0
    for t in _markdown_it().parse(text):
        if t.type == "heading_open":
            s.headings.append(int(t.tag[1:]))
        elif t.type in ("fence", "code_block"):
            s.code_blocks += 1
        elif t.type == "thead_open":
            in_head, cols = True, 0
        elif t.type == "th_open" and in_head:
            cols += 1
        elif t.type == "thead_close":
            in_head = False
            s.tables.append(cols)
        elif t.type in ("bullet_list_open", "ordered_list_open"):
            s.lists.append(t.type == "ordered_list_open")
        elif t.type == "inline":
            s.links += sum(1 for c in t.children or () if c.type == "link_open")
    return s


def _show(value) -> str:
    return str(value) if not isinstance(value, list) or len(value) <= 12 else f"{value[:12]}… ({len(value)})"


def opinion(text: str) -> Opinion:
    """Agreement of the two renderers' block structures (see the module docstring)."""
    import time

    if not available():
        return Opinion(NAME, None, None, "absent", "mistune is not installed", 0.0)
    t0 = time.perf_counter()
    a, b = mistune_structure(text), markdown_it_structure(text)
    seconds = time.perf_counter() - t0
    for part in ORDER:
        x, y = getattr(a, part), getattr(b, part)
        if x != y:
            return Opinion(NAME, None, False, part, f"{part}: mistune {_show(x)}, markdown-it {_show(y)}"[:300], seconds)
    return Opinion(NAME, None, True, "ok", "", seconds)


def judge(text: str, ctx) -> Opinion:  # noqa: ARG001 -- Markdown needs no corpus context
    """The `toolchains` entry point."""
    return opinion(text)
