"""Controlled-distance probe documents (issue #10 part 3, "the clean experiment").

In real text distance is confounded with content: far closers are mostly `proof` or `document`. Here
only the distance varies. Each document is built, deterministically from a seed and from the corpus
itself, as

    prefix | outer openers (depth > 1) | OPENER | filler | CLOSER | outer closers

* the opener is one of K kinds, assigned in equal numbers (cycled, then shuffled) within each distance
  bucket, so a model that does not remember the opener is right 1/K of the time at best (the distance
  and the filler are drawn independently of the kind, and the K targets are prefix-free);
* the filler is real text of the TEST split that holds no structure of the probed kind, starting at a
  line start and of exactly the needed length; of `CUT_TRIES` random starts the first whose end falls
  at a whitespace is taken, failing that the last is cut back to a whitespace within `MAX_PAD`
  characters and padded with spaces (or, with none that near, cut mid-word: exactness wins);
* the distance, measured exactly as the real-text probe measures it, is drawn uniformly inside each
  bucket of `stats.BUCKET_LABELS` (the last, ">3000", is drawn from 3001-6000), and never below the
  longest opener token of the K, so that the distance does not depend on the opener (LaTeX therefore
  has no "1-10" documents: `\\begin{X}` alone is 9 characters);
* the prefix is `prefix_chars` (default 200) characters of the same filler text, ending with a
  newline, so that the opener starts a line after some ordinary context instead of right after the
  document separator; 0 turns it off.

Formats, openers and the probe each document is an event of:

* LaTeX (`latex_end`): `\\begin{NAME}` ... `\\end{NAME}`, NAME among the K = 8 most common environment
  names of correctly closed, non-verbatim environments of the TRAIN split (`probes.latex_env_events`),
  `document` excluded, ties by name. Filler lines contain no `\\begin` / `\\end` and come from inside
  `\\begin{document}` where a text has one. The filler starts and ends with a newline (so `\\end` starts
  a line and no `%` comment can hide it). Target `NAME}`.
* C (`c_closer`): one of `(`, `[`, `{` (K = 3, ranked by their counts in the train text) ... its
  closer. Filler lines come from code outside block comments and contain none of `()[]{}`, quotes,
  backslashes, `/*`, `*/`, `//`, and no `#` directive line (nor continuation lines). Target: the closer.
* Markdown (`markdown_fence`): a code fence of ``` or ~~~ (K = 2: the fence character, at length 3;
  ranked by closed fences of the train split). Fence lengths are not kinds: a 3-run target is a prefix
  of a 4-run one, so a model always answering ```` would be right on both and chance would not be
  1/K. The opening line has no info string. Filler lines do not start (after indentation) with a
  backtick or a tilde. Target: the closing run. Fences do not nest: depth is always 1.

Depth > 1 wraps the probed pair in depth - 1 outer structures of the same kind, each opener followed by
a short filler gap (8-40 characters), closed after the closer: LaTeX outer environments are distinct
names of the K, all different from the inner one (so K >= depth); C outer brackets are drawn from the
K kinds. Every document is checked: the format's own extractor, run on `text`, finds exactly `depth`
events (the probed one and the outer ones), the probed one equal to `event`.

Scoring: `outcomes` scores each document's known event through `probes.probe_outcomes` (the same
code path as real text; `doc` = index of the controlled document); `controlled_result` aggregates
them with chance 1/K. Documents are independent, so the bootstrap over documents is over events.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import probes
from . import stats as st
from .fsutil import GencheckError

FORMATS = ("latex", "c", "markdown")
DEFAULT_K = {"latex": 8, "c": 3, "markdown": 2}
PROBE_OF = {"latex": "latex_end", "c": "c_closer", "markdown": "markdown_fence"}
# the distance range each bucket label is drawn from (the open-ended last bucket: 3001-6000)
BUCKET_RANGES: dict[str, tuple[int, int]] = dict(zip(
    st.BUCKET_LABELS,
    [(lo + 1, hi) for lo, hi in zip((0, *st.BUCKET_BOUNDS[:-1]), st.BUCKET_BOUNDS)] + [(3001, 6000)],
))
PREFIX_CHARS = 200
GAP_CHARS = (8, 40)  # filler after each outer opener (depth > 1)
CUT_TRIES = 8  # random line starts tried for a filler whose end falls at a whitespace
MAX_PAD = 16  # failing that, at most this many spaces pad a filler cut back to a whitespace

_C_CLOSER = {"(": ")", "[": "]", "{": "}"}
_MD_KINDS = ("```", "~~~")
MARKDOWN_FENCES = _MD_KINDS  # the two code fence kinds of Markdown's grammar (a drill uses both)
_LATEX_NAME = re.compile(r"[A-Za-z0-9@*:._-]+")
_C_BAD = re.compile(r"[()\[\]{}\"'\\]|/\*|\*/|//|^[ \t]*#")
_C_BLOCK = re.compile(r"/\*.*?(?:\*/|\Z)", re.S)
_NOT_NL = re.compile(r"[^\n]")


@dataclass(frozen=True)
class ControlledDoc:
    """One probe document: `event` is the probed closing decision, as the format's extractor reports it
    on `text`; `filler` the [start, end) offsets of the text between the probed opener and closer."""

    text: str
    event: probes.Event
    bucket: str
    opener: str
    format: str = ""
    openers: tuple[str, ...] = ()  # the K kinds drawn from (chance = 1 / len(openers))
    filler: tuple[int, int] = (0, 0)


# --- openers ------------------------------------------------------------------------------------------

def opener_counts(fmt: str, train_texts: Sequence[str]) -> Counter:
    """How often each candidate opener occurs in the train split: LaTeX environment names of
    correctly closed, non-verbatim environments (`document` and names that are no plain identifier
    left out); C bracket characters in the text; Markdown closed fences by fence character."""
    _check_format(fmt)
    counts: Counter = Counter()
    if fmt == "latex":
        for t in train_texts:
            counts.update(e.target[:-1].strip() for e in probes.latex_env_events(t))
        for name in [n for n in counts if n == "document" or not _LATEX_NAME.fullmatch(n)]:
            del counts[name]
    elif fmt == "c":
        for c in _C_CLOSER:
            counts[c] = sum(t.count(c) for t in train_texts)
    else:
        for t in train_texts:
            counts.update(run[0] * 3 for _, _, _, run in probes.markdown_fences(t)[0])
    return Counter({k: v for k, v in counts.items() if v > 0})


def common_openers(fmt: str, train_texts: Sequence[str], k: int | None = None) -> tuple[str, ...]:
    """The k (default: 8 LaTeX, 3 C, 2 Markdown) most common openers of the train split, most common
    first (ties by the opener). Fewer than k: as many as there are (len() of the result is the K to
    report); fewer than 2: GencheckError, there is nothing to choose between."""
    k = DEFAULT_K[fmt] if k is None else k
    if k < 2:
        raise GencheckError(f"a controlled probe needs at least 2 opener kinds, not k={k}")
    counts = opener_counts(fmt, train_texts)
    ranked = sorted(counts, key=lambda o: (-counts[o], o))
    if len(ranked) < 2:
        what = {"latex": "environment names (document excluded)", "c": "bracket kinds",
                "markdown": "code fence kinds (``` and ~~~)"}[fmt]
        raise GencheckError(f"the {fmt} train split has {len(ranked)} {what} {ranked}: a controlled probe "
                            f"needs at least 2 to choose between (pass openers= to force them)")
    return tuple(ranked[:k])


def _check_openers(fmt: str, openers: Sequence[str], depth: int) -> tuple[str, ...]:
    ops = tuple(openers)
    if not ops or len(set(ops)) != len(ops):
        raise GencheckError(f"openers must be distinct and not empty, not {ops}")
    valid = {"c": _C_CLOSER, "markdown": _MD_KINDS}.get(fmt)
    for o in ops:
        if (valid is not None and o not in valid) or (fmt == "latex" and not _LATEX_NAME.fullmatch(o)):
            raise GencheckError(f"{o!r} is not a {fmt} opener")
    if fmt == "latex" and len(ops) < depth:
        raise GencheckError(f"depth {depth} needs {depth} distinct environment names, only {len(ops)}: {ops}")
    return ops


# --- filler -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pool:
    text: str  # clean lines, each ending with a newline
    starts: np.ndarray  # offsets of the line starts


def _latex_lines(text: str) -> list[str]:
    a = text.find("\\begin{document}")
    if a >= 0:
        text = text[a:]
        b = text.find("\\end{document}")
        text = text[:b] if b >= 0 else text
    return [line for line in text.split("\n") if "\\begin" not in line and "\\end" not in line]


def _c_lines(text: str) -> list[str]:
    masked = _C_BLOCK.sub(lambda m: _NOT_NL.sub("\x00", m.group()), text)  # block comments are no code
    out, continued = [], False
    for line in masked.split("\n"):
        if not continued and "\x00" not in line and not _C_BAD.search(line):
            out.append(line)
        continued = line.endswith("\\")
    return out


def _markdown_lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.lstrip()[:1] not in ("`", "~")]


_LINES = {"latex": _latex_lines, "c": _c_lines, "markdown": _markdown_lines}


def filler_pool(fmt: str, test_texts: Sequence[str]) -> str:
    """The real text fillers are cut from: the clean lines of the test split, in order, each ending
    with a newline."""
    return line_pool(fmt, test_texts).text


def line_pool(fmt: str, test_texts: Sequence[str]) -> Pool:
    lines = [line for t in test_texts for line in _LINES[fmt](t)]
    text = "".join(line + "\n" for line in lines)
    starts = np.cumsum([0] + [len(line) + 1 for line in lines[:-1]]) if lines else np.zeros(0, np.int64)
    return Pool(text, np.asarray(starts, dtype=np.int64))


def fill(pool: Pool, rng: np.random.Generator, n: int, head: str = "", tail: str = "") -> str:
    """Exactly n characters: head + real text from a random line start + tail (the tail kept when n
    allows it, then the head)."""
    if n <= 0:
        return ""
    t = tail if n >= len(tail) else ""
    h = head if n >= len(head) + len(t) else ""
    m = n - len(h) - len(t)
    if m == 0:
        return h + t
    text = pool.text
    last = int(np.searchsorted(pool.starts, len(text) - m, side="right"))  # starts that leave m chars
    for s in pool.starts[rng.integers(last, size=CUT_TRIES)]:  # a start whose cut falls at a whitespace
        s = int(s)
        piece = text[s:s + m]
        if piece[-1].isspace() or s + m >= len(text) or text[s + m].isspace():
            return h + piece + t
    j = max(piece.rfind(" "), piece.rfind("\t"), piece.rfind("\n"))  # else back to one, padded
    if j >= 0 and m - 1 - j <= MAX_PAD:
        piece = piece[:j + 1] + " " * (m - 1 - j)
    return h + piece + t


# --- documents ----------------------------------------------------------------------------------------

def open_token(fmt: str, opener: str) -> str:
    return {"latex": f"\\begin{{{opener}}}", "c": opener, "markdown": opener + "\n"}[fmt]


def make_document(fmt: str, opener: str, distance: int, depth: int, ops: tuple[str, ...], pool: Pool,
          rng: np.random.Generator, prefix_chars: int, label: str) -> ControlledDoc:
    if fmt == "latex":
        others = [o for o in ops if o != opener]
        outer = [others[i] for i in rng.permutation(len(others))[:depth - 1]]
    elif fmt == "c":
        outer = [ops[i] for i in rng.integers(len(ops), size=depth - 1)]
    else:
        outer = []
    parts = [fill(pool, rng, prefix_chars, "", "\n")]
    for o in outer:
        parts += [open_token(fmt, o), fill(pool, rng, int(rng.integers(GAP_CHARS[0], GAP_CHARS[1] + 1)),
                                             "\n" if fmt == "latex" else "", "\n")]
    opened = sum(map(len, parts))
    token = open_token(fmt, opener)
    n = distance - len(token)
    if fmt == "latex":
        body, closer = fill(pool, rng, n, "\n", "\n"), f"\\end{{{opener}}}"
        event = probes.Event(opened + distance + 5, opener + "}", distance, depth)
        tails = [f"\n\\end{{{o}}}" for o in reversed(outer)]
    elif fmt == "c":
        body, closer = fill(pool, rng, n), _C_CLOSER[opener]
        event = probes.Event(opened + distance, closer, distance, depth)
        tails = ["\n" + _C_CLOSER[o] for o in reversed(outer)]
    else:
        body, closer = fill(pool, rng, n, "", "\n"), opener
        event = probes.Event(opened + distance, closer, distance, 1)
        tails = []
    parts += [token, body, closer, *tails, "\n"]
    return ControlledDoc("".join(parts), event, label, opener, fmt, ops, (opened + len(token), opened + distance))


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise GencheckError(f"no controlled probe for format {fmt!r} (one of {', '.join(FORMATS)})")


def verify(doc: ControlledDoc, depth: int) -> None:
    """The format's own extractor reads `doc` back as built: `depth` events, the probed one among them."""
    events = probes.PROBES[PROBE_OF[doc.format]].extract(doc.text)
    if len(events) != depth or doc.event not in events:
        raise GencheckError(f"internal error: a controlled {doc.format} document (opener {doc.opener!r}, "
                            f"distance {doc.event.distance}) is not read back as built: {events}")


def controlled_documents(fmt: str, train_texts: Sequence[str], test_texts: Sequence[str], *,
                         per_bucket: int = 48, depth: int = 1, k: int | None = None, seed: int = 0,
                         openers: Sequence[str] | None = None, buckets: Sequence[str] | None = None,
                         prefix_chars: int = PREFIX_CHARS) -> list[ControlledDoc]:
    """`per_bucket` documents per distance bucket (`buckets`, default all of `stats.BUCKET_LABELS`,
    in that order; a bucket below the longest opener token gets none), the openers in equal numbers
    (`openers`, default `common_openers(fmt, train_texts, k)`), the filler from `test_texts`. The same
    inputs and seed give the same documents. GencheckError when the test split has too little filler."""
    _check_format(fmt)
    if depth < 1:
        raise GencheckError(f"depth must be at least 1, not {depth}")
    if fmt == "markdown" and depth != 1:
        raise GencheckError(f"Markdown code fences do not nest: depth must be 1, not {depth}")
    if per_bucket < 1:
        raise GencheckError(f"per_bucket must be at least 1, not {per_bucket}")
    ops = _check_openers(fmt, common_openers(fmt, train_texts, k) if openers is None else openers, depth)
    labels = tuple(st.BUCKET_LABELS if buckets is None else buckets)
    for label in labels:
        if label not in BUCKET_RANGES:
            raise GencheckError(f"unknown bucket {label!r} (one of {', '.join(st.BUCKET_LABELS)})")
    floor = max(len(open_token(fmt, o)) for o in ops)
    ranges = [(label, max(BUCKET_RANGES[label][0], floor), BUCKET_RANGES[label][1]) for label in labels]
    ranges = [r for r in ranges if r[1] <= r[2]]
    pool = line_pool(fmt, test_texts)
    need = max([hi for _, _, hi in ranges] + [prefix_chars, GAP_CHARS[1] if depth > 1 else 0])
    if len(pool.text) < need:
        what = {"latex": "\\begin / \\end", "c": "brackets, quotes, comments or directives",
                "markdown": "lines starting with ` or ~"}[fmt]
        raise GencheckError(f"the {fmt} test split has {len(pool.text)} characters of filler without {what}; "
                            f"the controlled documents need {need} in one piece, so the controlled-distance rows are left out "
                            f"(a corpus with a longer test split has them; the real-text probes do not need them)")
    rng = np.random.default_rng([seed, zlib.crc32(fmt.encode()), depth])
    docs = []
    for label, lo, hi in ranges:
        kinds = [ops[i % len(ops)] for i in range(per_bucket)]
        for i in rng.permutation(per_bucket):
            doc = make_document(fmt, kinds[i], int(rng.integers(lo, hi + 1)), depth, ops, pool, rng, prefix_chars, label)
            verify(doc, depth)
            docs.append(doc)
    return docs


# --- scoring ------------------------------------------------------------------------------------------

def outcomes(docs: Sequence[ControlledDoc], vocab, scorer: probes.Scorer,
             probe_name: str | None = None) -> list[st.Outcome]:
    """Each document's event scored as `probes.probe_outcomes` scores real text (the probe of the
    document's format unless `probe_name`), with the known event in place of extraction; `doc` is the
    index into `docs`. A choice probe's target outside the vocabulary gives no outcome, as in real text."""
    out: list[st.Outcome] = []
    for i, doc in enumerate(docs):
        probe, events = _scored_event(doc, vocab, probe_name)
        out += probes.score_events(probe, i, doc.text, events, vocab, scorer)
    return out


def _scored_event(doc: ControlledDoc, vocab, probe_name: str | None) -> tuple[probes.Probe, list[probes.Event]]:
    probe = probes.PROBES[probe_name or PROBE_OF[doc.format]]
    if probe.format != doc.format:
        raise GencheckError(f"probe {probe.name} is for {probe.format}, the document is {doc.format}")
    return probe, [doc.event] if probe.kind == "string" or doc.event.target in vocab.index() else []


def null_outcomes(docs: Sequence[ControlledDoc], vocab, probe_name: str | None = None) -> list[st.Outcome]:
    """The best constant answer per bucket on the events `outcomes` scores, in the same order (the null the
    rows are tested against: `stats.best_constant_outcomes`)."""
    events = [(i, e.distance, e.depth, e.target) for i, doc in enumerate(docs)
              for e in _scored_event(doc, vocab, probe_name)[1]]
    return st.best_constant_outcomes(events)


def requests(docs: Sequence[ControlledDoc], vocab, probe_name: str | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """What `outcomes` will ask the model, `(ids, positions)` per document, for `probes.planned_model_scorer`."""
    from .corpus import SEP, encode

    out = []
    for doc in docs:
        probe, events = _scored_event(doc, vocab, probe_name)
        out.append((encode(SEP + doc.text, vocab), probes.positions_of(probe, events)))
    return out


def controlled_result(docs: Sequence[ControlledDoc], vocab, scorer: probes.Scorer, scorer_name: str = "model",
                      probe_name: str | None = None, resamples: int = 1000, seed: int = 0,
                      min_events: int = st.MIN_EVENTS) -> st.ProbeResult:
    """`stats.aggregate` of `outcomes`, tested against the best constant answer and 1/K (K = the documents'
    opener kinds): its chance is that level per bucket."""
    kinds = {doc.openers for doc in docs}
    if len(kinds) > 1:
        raise GencheckError("the documents were drawn from different opener sets; aggregate them apart")
    ops = kinds.pop() if kinds else ()
    name = probe_name or (PROBE_OF[docs[0].format] if docs else "controlled")
    res = st.aggregate(outcomes(docs, vocab, scorer, probe_name), name, scorer_name,
                           1 / len(ops) if ops else None, resamples, seed, min_events)
    if ops:  # tested against the best constant answer per bucket, and at least 1/K
        null = st.aggregate(null_outcomes(docs, vocab, probe_name), name, "null", None, resamples, seed, min_events)
        res.with_null(null, 1 / len(ops))
    res.extra.update(controlled=True, openers=list(ops), depth=sorted({d.event.depth for d in docs}))
    return res
