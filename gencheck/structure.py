"""Closer accuracy in generated text: when a sample closes a structure, does it close the right one?

For LaTeX, every `\\end{Y}` outside verbatim bodies is a closing decision; it is right when Y is the
innermost open environment, and wrong otherwise -- including a stray `\\end` with nothing open, which
is also counted in `stray`. (The `\\end` that closes an open verbatim-like environment is found by
search, not decided, and is not counted.) Distances are in characters from the popped `\\begin`, so
a stray `\\end` has none. This is the sampled counterpart of the teacher-forced probes, and what
"proof opened, lemma closed" counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator

_TOKEN = re.compile(r"(?<!\\)%[^\n]*|\\(begin|end)\s*\{([^{}\n]{1,80})\}")
VERBATIM = frozenset({"verbatim", "verbatim*", "Verbatim", "lstlisting", "minted", "comment"})


def env_events(text: str) -> Iterator[tuple[str, str, int]]:
    """("begin" | "end", name, offset) for each `\\begin{name}` / `\\end{name}`, outside `%` comments and
    inside no verbatim-like environment (whose own `\\end` is still reported). A light scan shared by the
    sampled closer counts here and `corpus info`'s pair distances; the validator's scanner is the strict one."""
    verbatim: str | None = None
    for m in _TOKEN.finditer(text):
        kind, name = m.group(1), m.group(2)
        if kind is None:  # a comment
            continue
        name = name.strip()
        if verbatim is not None:
            if kind == "end" and name == verbatim:
                verbatim = None
                yield kind, name, m.start()
            continue
        if kind == "begin" and name in VERBATIM:
            verbatim = name
        yield kind, name, m.start()


@dataclass
class Closures:
    """Closing decisions: `total` = right + wrong is every counted `\\end`; `stray` is the part of
    `wrong` with nothing open."""

    right: int = 0
    wrong: int = 0  # includes stray
    stray: int = 0  # \end with no environment open
    distances_right: list[int] = field(default_factory=list)
    distances_wrong: list[int] = field(default_factory=list)
    majority_right: int = 0  # a baseline that always closes the corpus's most common env (same `total`)
    opened: int = 0  # \begin count: does the text produce structure at all?
    chars: int = 0

    @property
    def total(self) -> int:
        return self.right + self.wrong

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else float("nan")

    def add(self, other: "Closures") -> None:
        self.right += other.right
        self.wrong += other.wrong
        self.stray += other.stray
        self.majority_right += other.majority_right
        self.opened += other.opened
        self.chars += other.chars
        self.distances_right += other.distances_right
        self.distances_wrong += other.distances_wrong


def latex_closures(text: str, majority_env: str = "") -> Closures:
    out = Closures(chars=len(text))
    stack: list[tuple[str, int]] = []
    for kind, name, pos in env_events(text):
        if kind == "begin":
            out.opened += 1
            stack.append((name, pos))
        elif not stack:  # nothing open: a wrong decision for the model and the baseline alike
            out.wrong += 1
            out.stray += 1
        else:
            opened, start = stack.pop()
            if name in VERBATIM and name == opened:  # its end is found by search, not decided: not counted
                continue
            dist = pos - start
            if name == opened:
                out.right += 1
                out.distances_right.append(dist)
            else:
                out.wrong += 1
                out.distances_wrong.append(dist)
            out.majority_right += opened == majority_env
    return out


def majority_environment(texts: list[str]) -> str:
    """The majority-class baseline for closers: the most common name among the closing *decisions* of real
    text, the same events `latex_closures` counts (an `\\end` that closes the environment open there,
    verbatim-like ones left out: their end is found by search, never decided) and the probes' majority row
    scores. Counting openers instead made `verbatim` the answer on corpora full of code listings."""
    from collections import Counter

    counts: Counter[str] = Counter()
    for t in texts:
        stack: list[str] = []
        for kind, name, _pos in env_events(t):
            if kind == "begin":
                stack.append(name)
            elif stack and stack.pop() == name and name not in VERBATIM:
                counts[name] += 1
    return counts.most_common(1)[0][0] if counts else ""
