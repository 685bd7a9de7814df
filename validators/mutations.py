"""Seeded single-edit mutations that break structure, per format.

Used to check that the validators catch what they claim (a valid document, mutated once, must not
stay valid) and to build broken examples for calibration. Each mutation picks one eligible site with
`rng` (a `random.Random`), so a seed reproduces the edit; it returns None when the text has no site.
Sites are taken from the same lexers the validators use, so braces in comments, strings or verbatim
text are not chosen.
"""

from __future__ import annotations

import random
import re
from typing import Callable

MUTATION_KINDS: dict[str, tuple[str, ...]] = {
    "latex": ("rename_end", "delete_close_brace", "delete_dollar"),
    "c": ("delete_close_brace", "delete_close_paren", "swap_bracket_paren"),
    "markdown": ("delete_closing_fence", "drop_table_cell", "swap_link_bracket"),
}

_ENV_NAMES = ("proof", "lemma", "itemize", "enumerate", "center", "figure", "table", "theorem", "quote")


def _delete_at(text: str, i: int, width: int = 1) -> str:
    return text[:i] + text[i + width:]


def _pick(rng: random.Random, sites: list[int]) -> int | None:
    return sites[rng.randrange(len(sites))] if sites else None


# -- LaTeX --------------------------------------------------------------------------------------

def _latex_visible(text: str) -> str:
    """The text with raw spans (verbatim, macro bodies, \\verb) and comments blanked."""
    from .latex import _blank, scan

    blanked = _blank(text, scan(text).raw_spans)
    return re.sub(r"(?<!\\)%[^\n]*", lambda m: " " * len(m.group()), blanked)


def _latex_rename_end(text: str, rng: random.Random) -> str | None:
    vis = _latex_visible(text)
    sites = list(re.finditer(r"\\end\{([^{}\\%\n]+)\}", vis))
    if not sites:
        return None
    m = sites[rng.randrange(len(sites))]
    name = m.group(1)
    others = sorted({n for n in re.findall(r"\\begin\{([^{}\\%\n]+)\}", vis) if n != name} | set(_ENV_NAMES) - {name})
    new = others[rng.randrange(len(others))]
    return text[: m.start(1)] + new + text[m.end(1):]


def _latex_delete_close_brace(text: str, rng: random.Random) -> str | None:
    vis = _latex_visible(text)
    i = _pick(rng, [m.start() for m in re.finditer(r"(?<!\\)\}", vis)])
    return None if i is None else _delete_at(text, i)


def _latex_delete_dollar(text: str, rng: random.Random) -> str | None:
    vis = _latex_visible(text)
    i = _pick(rng, [m.start() for m in re.finditer(r"(?<!\\)\$", vis)])
    return None if i is None else _delete_at(text, i)


# -- C ------------------------------------------------------------------------------------------

def _c_sites(text: str, char: str) -> list[int]:
    from .c import _BRACKETS, lex

    _, kept, _ = lex(text)
    return [m.start() for m in _BRACKETS.finditer(kept) if m.group() == char]


def _c_delete(char: str) -> Callable[[str, random.Random], str | None]:
    def mutate(text: str, rng: random.Random) -> str | None:
        i = _pick(rng, _c_sites(text, char))
        return None if i is None else _delete_at(text, i)

    return mutate


def _c_swap_bracket_paren(text: str, rng: random.Random) -> str | None:
    i = _pick(rng, _c_sites(text, "["))
    return None if i is None else text[:i] + "(" + text[i + 1:]


# -- Markdown -----------------------------------------------------------------------------------

def _md_tokens(text: str):
    from .markdown import _md

    return _md().parse(text)


def _md_lines(text: str) -> list[str]:
    return text.split("\n")


def _md_delete_closing_fence(text: str, rng: random.Random) -> str | None:
    lines = _md_lines(text)
    sites = []
    for tok in _md_tokens(text):
        if tok.type == "fence" and tok.map and tok.map[1] - 1 > tok.map[0]:
            last = tok.map[1] - 1
            if last < len(lines) and lines[last].strip().startswith(tok.markup[0] * len(tok.markup)):
                sites.append(last)
    i = _pick(rng, sites)
    if i is None:
        return None
    return "\n".join(lines[:i] + lines[i + 1:])


def _md_drop_table_cell(text: str, rng: random.Random) -> str | None:
    """Drop one cell from a table's header row or delimiter row: their cell counts then differ and GFM
    renders no table. (A body row with a cell fewer is valid GFM -- empty cells are filled in -- so
    body rows are no sites; nor are the rows of a one-column table, which would lose the row itself.)"""
    from .markdown import _cell_count

    lines = _md_lines(text)
    rows = []
    for tok in _md_tokens(text):
        if tok.type == "table_open" and tok.map:
            rows.extend(r for r in (tok.map[0], tok.map[0] + 1) if r < len(lines)
                        and len(re.findall(r"(?<!\\)\|", lines[r])) >= 2 and _cell_count(lines[r]) >= 2)
    r = _pick(rng, rows)
    if r is None:
        return None
    line = lines[r]
    pipes = [m.start() for m in re.finditer(r"(?<!\\)\|", line)]
    k = rng.randrange(len(pipes) - 1)
    lines[r] = line[: pipes[k]] + line[pipes[k + 1]:]  # remove one "| cell " segment
    return "\n".join(lines)


def _md_link_sites(text: str) -> list[int]:
    """Offsets of the `]` of real inline links `[text](dest)`: in paragraphs, headings and table cells
    (not in code blocks, HTML blocks or code spans), closing a `[`, with the destination's `)` present."""
    from .markdown import _LINK_TOKEN, _Checker, _paren_end

    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    blocks = sorted({tuple(tok.map) for tok in _md_tokens(text) if tok.type == "inline" and tok.map})
    scratch = _Checker("")
    sites = []
    for s, e in blocks:
        a = starts[s] if s < len(starts) else len(text)
        b = starts[e] if e < len(starts) else len(text)
        block = text[a:b]
        if "](" not in block:
            continue
        if "`" in block:
            block = scratch.code_spans(block, 1, False)  # code spans blanked, offsets kept
        stack, skip = 0, 0
        for m in _LINK_TOKEN.finditer(block):
            i = m.start()
            if i < skip or m.group()[0] == "\\":
                continue
            if m.group() == "[":
                stack += 1
            elif stack:
                stack -= 1
                if block.startswith("(", i + 1):
                    end = _paren_end(block, i + 1)
                    if end > 0:
                        sites.append(a + i)
                        skip = end
    return sites


def _md_swap_link_bracket(text: str, rng: random.Random) -> str | None:
    """`[text](url)` -> `[text[(url)`, only where `](` is link syntax (not in code or HTML)."""
    i = _pick(rng, _md_link_sites(text))
    return None if i is None else text[:i] + "[" + text[i + 1:]


_MUTATORS: dict[tuple[str, str], Callable[[str, random.Random], str | None]] = {
    ("latex", "rename_end"): _latex_rename_end,
    ("latex", "delete_close_brace"): _latex_delete_close_brace,
    ("latex", "delete_dollar"): _latex_delete_dollar,
    ("c", "delete_close_brace"): _c_delete("}"),
    ("c", "delete_close_paren"): _c_delete(")"),
    ("c", "swap_bracket_paren"): _c_swap_bracket_paren,
    ("markdown", "delete_closing_fence"): _md_delete_closing_fence,
    ("markdown", "drop_table_cell"): _md_drop_table_cell,
    ("markdown", "swap_link_bracket"): _md_swap_link_bracket,
}


def mutate(text: str, fmt: str, kind: str, rng: random.Random) -> str | None:
    """Apply one `kind` mutation for `fmt` at a site chosen by `rng`; None when there is no site.
    Raises KeyError for an unknown (fmt, kind) -- see MUTATION_KINDS."""
    try:
        fn = _MUTATORS[(fmt, kind)]
    except KeyError:
        raise KeyError(f"unknown mutation {fmt}/{kind}; known: {MUTATION_KINDS}") from None
    return fn(text, rng)
