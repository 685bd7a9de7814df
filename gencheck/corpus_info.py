"""What `gencheck corpus info` reports: size, splits, provenance, and the structure the scorecard measures.

The structure is the nesting of opener/closer pairs in the real documents: `\\begin{..}`→`\\end{..}` for
LaTeX, `{`→`}` for C (outside comments, strings and character literals), a code fence → its closing fence
for Markdown. For each pair: the nesting depth at which it opens (1 = outermost) and the distance in
characters from the first character of the opener to the first character of the closer. Long distances
are what a character model finds hard; the buckets show how much of a corpus is long-range.

No torch here: this runs on a machine that only builds corpora.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

DISTANCE_BOUNDS = (100, 300, 1000, 3000)  # bucket upper bounds (inclusive); the last bucket is > 3000
DISTANCE_LABELS = ("<=100", "<=300", "<=1k", "<=3k", ">3k")
MAX_DEPTH_BUCKET = 8  # depths from 8 up share one bucket, "8+"


@dataclass
class Pairs:
    """Opener/closer pairs found in some text."""

    distances: list[int] = field(default_factory=list)
    depths: list[int] = field(default_factory=list)  # depth of each pair's opener, 1 = outermost
    unclosed: int = 0  # openers never closed
    stray_closers: int = 0  # closers with no opener

    def add(self, other: "Pairs") -> None:
        self.distances += other.distances
        self.depths += other.depths
        self.unclosed += other.unclosed
        self.stray_closers += other.stray_closers


# --- per format -------------------------------------------------------------------------------------

def latex_pairs(text: str) -> Pairs:
    """`\\begin{X}` → `\\end{X}`, skipping comments and the inside of verbatim-like environments.

    An `\\end{X}` closes the innermost open X (openers above it count as unclosed); an `\\end` with no
    open X is a stray closer.
    """
    from .structure import env_walk

    out = Pairs()
    steps, out.unclosed = env_walk(text, "search")
    for s in steps:
        if s.kind == "begin":
            continue
        if s.closes is None:
            out.stray_closers += 1
            continue
        out.unclosed += s.depth - 1 - s.closes
        out.distances.append(s.pos - s.start)
        out.depths.append(s.closes + 1)
    return out


def c_pairs(text: str) -> Pairs:
    """`{` → `}` as the C validator's lexer pairs them (`validators.c._Lexer`, shared with the probes):
    outside comments, string and character literals, directive lines and the `#if` branches it skips."""
    from gencheck.validators import c as vc

    lx = vc._Lexer(text)
    lx.brackets(lx.preprocess(lx.strip_comments()))
    out = Pairs()
    for closer, start, end, depth in lx.pairs:
        if closer == "}":
            out.distances.append(end - start)
            out.depths.append(depth)
    out.unclosed = sum(r[0] == "bracket_unclosed" and r[3] == "{" for r in lx.raws)
    out.stray_closers = sum(r[0] == "bracket_stray_close" and r[1].startswith("}") for r in lx.raws)
    return out


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$", re.M)


def markdown_pairs(text: str) -> Pairs:
    """A fence (``` or ~~~, 3 or more) → the next fence of the same character, at least as long, with no
    info string (CommonMark), as the fence probe reads them (`probes.markdown_fences`). Fences do not
    nest: every pair has depth 1."""
    from .probes import markdown_fences

    pairs, left_open = markdown_fences(text)
    return Pairs([close - start for start, close, _at, _run in pairs], [1] * len(pairs),
                 unclosed=int(left_open is not None))


STRUCTURES: dict[str, tuple[str, str, Callable[[str], Pairs]]] = {
    "latex": ("\\begin{X}", "\\end{X}", latex_pairs),
    "c": ("{", "}", c_pairs),
    "markdown": ("``` fence", "closing fence", markdown_pairs),
}


# --- summaries --------------------------------------------------------------------------------------

def distance_buckets(distances: list[int]) -> dict[str, int]:
    counts = dict.fromkeys(DISTANCE_LABELS, 0)
    for d in distances:
        for bound, label in zip(DISTANCE_BOUNDS, DISTANCE_LABELS):
            if d <= bound:
                counts[label] += 1
                break
        else:
            counts[DISTANCE_LABELS[-1]] += 1
    return counts


def depth_buckets(depths: list[int]) -> dict[str, int]:
    counts = {str(i): 0 for i in range(1, MAX_DEPTH_BUCKET)} | {f"{MAX_DEPTH_BUCKET}+": 0}
    for d in depths:
        counts[str(d) if d < MAX_DEPTH_BUCKET else f"{MAX_DEPTH_BUCKET}+"] += 1
    return counts


def quantiles(values: list[int], qs: tuple[float, ...] = (0.5, 0.9, 0.99)) -> dict[str, int]:
    """Nearest-rank quantiles (always an observed value) and the maximum; empty for no values."""
    if not values:
        return {}
    s = sorted(values)
    out = {f"p{round(q * 100)}": s[min(len(s), max(1, math.ceil(q * len(s) - 1e-9))) - 1] for q in qs}
    out["max"] = s[-1]
    return out


def structure_summary(texts: list[str], fmt: str) -> dict[str, Any] | None:
    """Depth and distance distributions of the pairs in `texts`; None for a format without structure."""
    if fmt not in STRUCTURES:
        return None
    pairs = Pairs()
    for t in texts:
        pairs.add(STRUCTURES[fmt][2](t))
    return pairs_summary(pairs, fmt)


def pairs_summary(pairs: Pairs, fmt: str) -> dict[str, Any]:
    opener, closer, _ = STRUCTURES[fmt]
    return {
        "opener": opener,
        "closer": closer,
        "pairs": len(pairs.distances),
        "unclosed": pairs.unclosed,
        "stray_closers": pairs.stray_closers,
        "depth": {"buckets": depth_buckets(pairs.depths), "quantiles": quantiles(pairs.depths)},
        "distance": {"buckets": distance_buckets(pairs.distances), "quantiles": quantiles(pairs.distances)},
    }


def corpus_info(corpus) -> dict[str, Any]:
    """Everything `gencheck corpus info --json` prints, for a built `Corpus`."""
    from .corpus import Vocab, unigram_bpc

    spec = corpus.spec
    texts = [d.text for d in corpus.documents]
    vocab = Vocab.from_texts(corpus.texts("train"))
    return {
        "name": spec.name,
        "format": spec.format,
        "description": spec.description,
        "documents": len(corpus.documents),
        "chars": corpus.chars(),
        "bytes": sum(len(t.encode("utf-8")) for t in texts),
        "vocab_size": vocab.size,
        "splits": {k: {"documents": len(corpus.splits[k]), "chars": corpus.chars(k)} for k in ("train", "val", "test")},
        "source": spec.sources[0].describe(),
        "sources": [s.describe() for s in spec.sources],
        "license": spec.license,
        "content_hash": corpus.content_hash,
        "pinned": bool(spec.content_sha256),
        # a unigram fitted on train, scored on test as the model is scored: the floor a model must beat
        "unigram_test_bpc": round(unigram_bpc(corpus.texts("train"), corpus.texts("test"), vocab), 4),
        "build": dict(vars(corpus.stats)),
        "structure": structure_summary(texts, spec.format),
        **({"structure_by_split": {k: structure_summary(corpus.texts(k), spec.format) for k in ("train", "val", "test")}}
           if spec.drill is not None and spec.format in STRUCTURES else {}),
    }
