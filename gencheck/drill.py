"""Structure drills: corpora where only memory can close the structure (issue 22).

A drill document is a run of units, each built by the generator of the controlled documents
(`controlled.make_document`): an opener among K kinds (LaTeX environment names, C brackets, Markdown
fences), filler, its closer, nested up to `depth` with distinct names. What closes a unit depends only
on which opener is open, so a model that is right beyond its n-gram context has carried the opener in
memory. The literature's control for this is bounded-depth bracket languages (Hewitt et al. 2020,
Bhattamishra et al. 2020).

Why a mixture of distances: measured with a prototype on a 2-core CPU, a 1×128 LSTM trained only on long
distances never formed memory, while 75 % short blocks (≤ 30 characters of filler) and 25 % log-uniform
long ones up to `d_train` formed it within 10 M characters, and then held it past `d_train`. Memory forms
suddenly after a plateau whose length grows with the filler's entropy: hence the filler levels.

* level 0: the 40 most common words of the base corpus's train split in random order (low entropy, no
  structure), in every split: the words are drawn afresh, so nothing repeats, and a test filler of other
  words would measure surprise at new words instead of memory;
* level 1: real lines of the base corpus with the format's structural characters removed;
* level 2: real lines as they are (braces, math, links left in): the controlled documents' filler.

Train documents take their filler from the base corpus's train split, val from val, test from test. Train
and val distances follow the mixture; test distances are log-uniform up to `test_max` (beyond `d_train`,
to measure length generalisation). Everything is a pure function of the declaration and the base corpus.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from dataclasses import dataclass, fields
from typing import Any, Callable, Sequence

import numpy as np

from . import controlled as ct
from .fsutil import GencheckError

LEVELS = (0, 1, 2)
#: Characters taken out of level-1 filler: the format's other structures (level 2 keeps them).
STRUCTURE_CHARS = {"latex": "\\{}[]$%&^_~#", "c": "", "markdown": "`*_[]()#>|~<"}
EXTENSION = {"latex": ".tex", "c": ".c", "markdown": ".md"}
WORDS = 40  # level 0: the vocabulary of filler words
_WORD = re.compile(r"(?<![A-Za-z\\@])[a-z]{2,}(?![A-Za-z@])")  # whole words, no command names


@dataclass(frozen=True)
class DrillParams:
    """`[drill]` of a declaration. Distances are opener→closer as the probes measure them."""

    level: int = 0
    k: int = 0  # opener kinds; 0: the format's default (LaTeX 8, C 3, Markdown 2)
    depth: int = 3  # deepest nesting (distinct names when nested); Markdown fences do not nest: 1
    d_train: int = 1000  # the longest distance in train and val
    short_share: float = 0.75  # units whose filler is at most `short_max` characters
    short_max: int = 30
    test_max: int = 6000  # test distances are log-uniform up to this
    train_chars: int = 20_000_000  # at least the drill and cpu profiles' 19.7 M and 17.2 M: nothing repeats
    eval_chars: int = 600_000  # val and test, each
    doc_chars: int = 4000  # a document ends after the unit that takes it past this
    words: int = 40  # level 0: how many of the base corpus's most common words make the filler
    gap_max: int = 40  # filler between units: 1 to this many characters
    seed: int = 1
    ngram_chars: int = 2_000_000  # train characters the n-gram rows are fitted on (a floor, not a rival)

    def check(self, where: str) -> None:
        """One line naming the field for a value no drill can be built with."""
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise GencheckError(f"{where}: [drill] {what}")

        for f in fields(self):
            v = getattr(self, f.name)
            want = float if f.type in (float, "float") else int
            need(isinstance(v, (int, float)) and not isinstance(v, bool) and (want is float or isinstance(v, int))
                 and math.isfinite(v), f"{f.name} = {v!r} must be {'a number' if want is float else 'a whole number'}")
        need(self.level in LEVELS, f"level = {self.level}: one of {', '.join(map(str, LEVELS))}")
        need(self.k == 0 or self.k >= 2, f"k = {self.k}: at least 2 kinds (0: the format's default)")
        need(self.depth >= 1, f"depth = {self.depth}: at least 1")
        need(0.0 <= self.short_share <= 1.0, f"short_share = {self.short_share}: between 0 and 1")
        need(self.short_max >= 2, f"short_max = {self.short_max}: at least 2")
        need(self.d_train >= 64, f"d_train = {self.d_train}: at least 64")
        need(self.test_max >= self.d_train, f"test_max = {self.test_max}: at least d_train ({self.d_train})")
        need(self.train_chars >= 10_000 and self.eval_chars >= 10_000, "train_chars and eval_chars: at least 10000")
        need(self.doc_chars >= 100, f"doc_chars = {self.doc_chars}: at least 100")
        need(self.words >= 2, f"words = {self.words}: at least 2")
        need(self.gap_max >= 1, f"gap_max = {self.gap_max}: at least 1")
        need(self.ngram_chars >= 1000, f"ngram_chars = {self.ngram_chars}: at least 1000")


def parse_params(table: Any, where: str) -> DrillParams:
    """`[drill]` as DrillParams: unknown fields and wrong types are one-line errors naming the field."""
    if not isinstance(table, dict):
        raise GencheckError(f"{where}: [drill] must be a table")
    known = {f.name for f in fields(DrillParams)}
    for key in table:
        if key not in known:
            raise GencheckError(f"{where}: unknown field {key!r} in [drill] (known: {', '.join(sorted(known))})")
    params = DrillParams(**table)
    params.check(where)
    return params


# --- filler --------------------------------------------------------------------------------------------

def common_words(texts: Sequence[str], n: int = WORDS) -> list[str]:
    """The n most common lower-case words of the texts (ties by the word): level 0's vocabulary."""
    counts: Counter = Counter()
    for t in texts:
        counts.update(_WORD.findall(t))
    return sorted(counts, key=lambda w: (-counts[w], w))[:n]


def word_pool(words: Sequence[str], chars: int, rng: np.random.Generator) -> ct.Pool:
    """`chars` characters of words drawn uniformly, ten to a line."""
    if len(words) < 2:
        raise GencheckError(f"the base split has {len(words)} words of two letters or more: a level-0 drill needs 2")
    lines, total = [], 0
    while total < chars:
        line = " ".join(words[i] for i in rng.integers(len(words), size=10))
        lines.append(line)
        total += len(line) + 1
    return _pool_of(lines)


def _pool_of(lines: list[str]) -> ct.Pool:
    text = "".join(line + "\n" for line in lines)
    starts = np.cumsum([0] + [len(line) + 1 for line in lines[:-1]]) if lines else np.zeros(0, np.int64)
    return ct.Pool(text, np.asarray(starts, dtype=np.int64))


def filler_pool(fmt: str, level: int, texts: Sequence[str], rng: np.random.Generator, chars: int,
                words: Sequence[str] = ()) -> ct.Pool:
    """The filler of one split at a level (module docstring); `words`: level 0's vocabulary."""
    if level == 0:
        return word_pool(words, max(chars // 4, 200_000), rng)
    pool = ct.line_pool(fmt, texts)
    if level == 2:
        return pool
    strip = str.maketrans("", "", STRUCTURE_CHARS[fmt])
    lines = [line.translate(strip) for line in pool.text.split("\n")[:-1]]
    return _pool_of([line for line in lines if line.strip()])


# --- documents -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Split:
    name: str
    chars: int
    long_only: bool  # test: every distance log-uniform up to test_max


def _distance(params: DrillParams, split: Split, floor: int, depth: int, rng: np.random.Generator) -> int:
    """The probed (innermost) pair's distance; train and val keep every pair, outer ones too, within d_train."""
    if split.long_only:
        return int(round(math.exp(rng.uniform(math.log(floor), math.log(params.test_max)))))
    if rng.random() < params.short_share:
        return floor + int(rng.integers(0, params.short_max - 1))
    slack = (depth - 1) * (ct.GAP_CHARS[1] + 2 * floor + 4)  # outer pairs span the inner one and their gaps
    top = max(floor + params.short_max, params.d_train - slack)
    return int(round(math.exp(rng.uniform(math.log(floor + params.short_max), math.log(top)))))


def documents(fmt: str, params: DrillParams, split: Split, openers: tuple[str, ...], pool: ct.Pool,
              rng: np.random.Generator, tick: Callable[[int], None] = lambda n: None) -> list[str]:
    """Documents of about `doc_chars` each until the split holds `split.chars` characters; every unit is
    read back by the format's extractor (`controlled.verify`)."""
    max_depth = 1 if fmt == "markdown" else min(params.depth, len(openers))
    floor = max(len(ct.open_token(fmt, o)) for o in openers) + 2
    out, total = [], 0
    while total < split.chars:
        units, n = [], 0
        while n < params.doc_chars:
            depth = int(rng.integers(1, max_depth + 1))
            opener = openers[int(rng.integers(len(openers)))]
            doc = ct.make_document(fmt, opener, _distance(params, split, floor, depth, rng), depth, openers, pool,
                                   rng, int(rng.integers(1, params.gap_max + 1)), "")
            ct.verify(doc, depth)
            units.append(doc.text)
            n += len(doc.text)
        out.append("".join(units))
        total += n
        tick(n)
    return out


def generate(fmt: str, params: DrillParams, base: dict[str, list[str]],
             tick: Callable[[int], None] = lambda n: None) -> dict[str, list[tuple[str, str]]]:
    """(path, text) of every drill document by split, from the base corpus's texts by split. Openers are the
    base train split's K most common (`controlled.common_openers`); for Markdown both fence kinds."""
    if fmt not in EXTENSION:
        raise GencheckError(f"no drill for format {fmt!r} (one of {', '.join(EXTENSION)})")
    # Markdown has two fence kinds by its own grammar; a corpus may use only one of them (Node's docs use ```),
    # and the drill is about the grammar's choice, so it takes both.
    openers = ct.MARKDOWN_FENCES if fmt == "markdown" else ct.common_openers(fmt, base["train"], params.k or None)
    if fmt == "latex" and len(openers) < min(params.depth, ct.DEFAULT_K["latex"]):
        raise GencheckError(f"a depth-{params.depth} LaTeX drill needs {params.depth} environment names; the base "
                            f"train split has {len(openers)}")
    plan = (Split("train", params.train_chars, False), Split("val", params.eval_chars, False),
            Split("test", params.eval_chars, True))
    out, words = {}, common_words(base["train"], params.words)
    for split in plan:
        rng = np.random.default_rng([params.seed, zlib.crc32(split.name.encode()), zlib.crc32(fmt.encode())])
        pool = filler_pool(fmt, params.level, base[split.name], rng, split.chars, words)
        if len(pool.text) < params.test_max + 100:
            raise GencheckError(f"the base corpus's {split.name} split has {len(pool.text)} characters of filler "
                                f"at level {params.level}; a drill needs {params.test_max + 100} in one piece")
        texts = documents(fmt, params, split, openers, pool, rng, tick)
        out[split.name] = [(f"{split.name}/{i:06d}{EXTENSION[fmt]}", t) for i, t in enumerate(texts)]
    return out
