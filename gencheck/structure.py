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


@dataclass(frozen=True)
class EnvStep:
    """One `\\begin` or `\\end` of `env_walk`, with the stack as it stood before it: `depth` environments
    open; for an `\\end`, `closes` is the index in that stack of the opener it pops (None: it pops
    nothing), `opened` that opener's name and `start` its offset."""

    kind: str  # "begin" | "end"
    name: str
    pos: int
    depth: int
    closes: int | None = None
    opened: str | None = None
    start: int | None = None


def env_walk(text: str, on_mismatch: str = "pop") -> tuple[list[EnvStep], int]:
    """The one walk of LaTeX environments over `env_events` (probes, sampled closers, the majority answer and
    `corpus info` all read it): each step, and how many environments are left open at the end.

    An `\\end` closes the innermost open environment. Where its name differs, `on_mismatch` says what it
    closed: "pop" -- the innermost one anyway, a wrong close (how a sample's closing decision is judged);
    "search" -- the innermost open environment of its name, with everything opened above it left unclosed,
    and nothing when none is open (how real text is read, where such an `\\end` is a typo or a macro)."""
    if on_mismatch not in ("pop", "search"):
        raise ValueError(f"on_mismatch {on_mismatch!r}: pop or search")
    stack: list[tuple[str, int]] = []
    steps: list[EnvStep] = []
    for kind, name, pos in env_events(text):
        if kind == "begin":
            steps.append(EnvStep(kind, name, pos, len(stack)))
            stack.append((name, pos))
            continue
        at = len(stack) - 1 if stack else None
        if on_mismatch == "search":
            at = next((i for i in range(len(stack) - 1, -1, -1) if stack[i][0] == name), None)
        if at is None:
            steps.append(EnvStep(kind, name, pos, len(stack)))
            continue
        steps.append(EnvStep(kind, name, pos, len(stack), at, *stack[at]))
        del stack[at:]
    return steps, len(stack)


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
    for step in env_walk(text, "pop")[0]:
        if step.kind == "begin":
            out.opened += 1
        elif step.closes is None:  # nothing open: a wrong decision for the model and the baseline alike
            out.wrong += 1
            out.stray += 1
        elif not (step.name in VERBATIM and step.name == step.opened):  # a verbatim end is found by search
            dist = step.pos - step.start
            if step.name == step.opened:
                out.right += 1
                out.distances_right.append(dist)
            else:
                out.wrong += 1
                out.distances_wrong.append(dist)
            out.majority_right += step.opened == majority_env
    return out


def majority_environment(texts: list[str]) -> str:
    """The majority-class baseline for closers: the most common name among the closing *decisions* of real
    text, the same events `latex_closures` counts (an `\\end` that closes the environment open there,
    verbatim-like ones left out: their end is found by search, never decided) and the probes' majority row
    scores. Counting openers instead made `verbatim` the answer on corpora full of code listings."""
    from collections import Counter

    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(s.name for s in env_walk(t, "pop")[0]
                      if s.kind == "end" and s.opened == s.name and s.name not in VERBATIM)
    return counts.most_common(1)[0][0] if counts else ""
