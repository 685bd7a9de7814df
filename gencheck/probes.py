"""Teacher-forced closer probes: at the place where real text closes a structure, does the model know
which closer comes, and how far back can the opener be before it stops knowing?

Events are pure functions of a document's text (no torch). Their tokenisation is shared, not a third
scanner: LaTeX environments come from `structure.env_events` (also used by `corpus info`); LaTeX
braces and math from the validator's own scanner (`validators.latex._Scanner`, watched as it pops);
C brackets from the validator's comment/preprocessor passes (`validators.c._Lexer`) and its bracket
tokens; Markdown destinations from the validator's `_paren_end`, fences as `corpus info` reads them.

Probes (`PROBES`):

* `latex_end` -- every `\\end{NAME}` (outside comments and verbatim) that closes the innermost open
  `\\begin{NAME}`; verbatim-like environments themselves are skipped (their end is found by search,
  not decided). Target: the characters `NAME}` after `\\end{`, teacher-forced; correct when the
  greedy prediction is right at every one of them.
* `latex_closer` -- which closer: at each `}` closing a brace group, `$` closing inline math (or the
  first `$` of a closing `$$`) and `]` of a `\\]` closing display math, is the true character the most
  probable among the candidates `}`, `$`, `]`? (`\\)` is left out: rare in LaTeX sources.)
* `c_closer` -- which of `)`, `]`, `}` closes the innermost open bracket (outside comments, strings,
  character literals, directive lines and the `#if` branches the validator skips).
* `c_comment` -- the `*/` that ends a `/*` comment, teacher-forced.
* `markdown_link` -- the `]` that ends a link text (a `]` closing a `[`, followed by `(` or `[`) and
  the `)` that ends an inline link destination: `]` or `)`? (Outside code fences and code spans.)
* `markdown_fence` -- the closing code fence (its backticks or tildes), teacher-forced.

Distance: offset of the closer's token minus offset of the opener's token (for `latex_end`, `\\end`
minus `\\begin`; for a fence, closing line start minus opening line start, as `corpus info` counts).
Depth: how many structures of the scanner's stack are open, this one included (1 = outermost).
Buckets: 1-10, 11-30, 31-100, 101-300, 301-1000, 1001-3000, >3000 characters.

Scoring: a `Scorer(ids, positions, candidates=None)` returns teacher-forced next-character log2
probabilities for one document, `ids` = SEP + document (fresh state / context at the SEP),
`positions` the indices of the ids being predicted, one row each (all V columns, or only the
`candidates` columns). `scorer_for(model)` gives any row's scorer: `model_scorer` runs a model of the
protocol (gencheck/models/base.py) over the document in chunks with state carried; a model with a sparse
scorer of its own (the n-gram row, gencheck/models/ngram.py) is asked for just the positions scored
(`ngram_scorer`: the `NGram`'s distributions). A prediction is correct only when
the true character's probability is strictly above every competitor's (ties count as wrong).
Outcomes become cells in `stats.py`: per-bucket accuracy with 95 % percentile bootstrap intervals over
documents (events in one document are not independent), reach, and paired differences between rows.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .stats import MIN_EVENTS, Outcome, ProbeResult, aggregate, block_of

Scorer = Callable[..., np.ndarray]



@dataclass(frozen=True)
class Event:
    """One closing decision in a document: `target` is what stands at `pos` (document offset)."""

    pos: int
    target: str
    distance: int
    depth: int


# --- LaTeX ---------------------------------------------------------------------------------------------

def latex_env_events(text: str) -> list[Event]:
    """`\\end{NAME}` closing the innermost open `\\begin{NAME}` (see the module docstring), as
    `structure.env_walk` reads real text: an `\\end` that closes an outer environment pops it and
    everything above it, as `corpus info` reads it; a stray `\\end` changes nothing."""
    from .structure import VERBATIM, env_walk

    out: list[Event] = []
    for s in env_walk(text, "search")[0]:
        if s.kind == "end" and s.closes == s.depth - 1 and s.name not in VERBATIM:
            brace = text.index("{", s.pos) + 1
            close = text.index("}", brace)
            out.append(Event(brace, text[brace:close + 1], s.pos - s.start, s.depth))
    return out


_LATEX_SCANNER = None


def _latex_pair_scanner():
    """The LaTeX validator's scanner, recording each opener it pops with the right closer."""
    global _LATEX_SCANNER
    if _LATEX_SCANNER is None:
        from gencheck.validators import latex as vl

        class PairScanner(vl._Scanner):
            def __init__(self, text: str) -> None:
                super().__init__(text)
                self.pairs: list[tuple[str, int, int, int]] = []

            def close(self, cls, key, closer, pos):
                st = self.stack
                if st and st[-1].key == key and key in ("}", "\\]"):
                    self.pairs.append((key, st[-1].pos, pos, len(st)))
                return super().close(cls, key, closer, pos)

            def dollar(self, tok, pos):
                st = self.stack
                top = st[-1].key if st else None
                if top == "$" or (tok == "$$" and top == "$$"):
                    self.pairs.append(("$", st[-1].pos, pos, len(st)))
                return super().dollar(tok, pos)

        _LATEX_SCANNER = PairScanner
    return _LATEX_SCANNER


def latex_closer_pairs(text: str) -> list[tuple[str, int, int, int]]:
    """(closer `}` | `$` | `\\]`, opener offset, closer offset, depth) for every brace group, inline /
    display math closed by its own closer, as the LaTeX validator's scanner reads the text (raw spans
    such as verbatim, `\\verb`, `\\url`, definitions and column specs hold no pairs)."""
    sc = _latex_pair_scanner()(text)
    sc.run()
    return sc.pairs


def latex_closer_events(text: str) -> list[Event]:
    out = []
    for key, opened, pos, depth in latex_closer_pairs(text):
        if key == "\\]":
            out.append(Event(pos + 1, "]", pos - opened, depth))
        else:
            out.append(Event(pos, key, pos - opened, depth))
    return out


# --- C -------------------------------------------------------------------------------------------------


def c_bracket_pairs(text: str) -> list[tuple[str, int, int, int]]:
    """(closer, opener offset, closer offset, depth) for each `)` `]` `}` that closes the innermost open
    bracket, on the text the C validator's passes 1-2 keep (comments and skipped `#if` branches and
    directive lines blanked), skipping string and character literals with its bracket tokens. After a
    mismatch the stack recovers as `validators.c._Lexer.brackets` does (no pair is recorded)."""
    from gencheck.validators import c as vc

    lx = vc._Lexer(text)
    lx.brackets(lx.preprocess(lx.strip_comments()))
    return lx.pairs


def c_comment_spans(text: str) -> list[tuple[int, int]]:
    """(offset of `/*`, offset of its `*/`) for each closed block comment, found as the C validator's
    pass 1 finds them (string and character literals, `//` comments and `#error` lines skipped)."""
    from gencheck.validators import c as vc

    lx = vc._Lexer(text)
    lx.strip_comments()
    return lx.comments


def c_closer_events(text: str) -> list[Event]:
    return [Event(pos, ch, pos - opened, depth) for ch, opened, pos, depth in c_bracket_pairs(text)]


def c_comment_events(text: str) -> list[Event]:
    return [Event(end, "*/", end - start, 1) for start, end in c_comment_spans(text)]


# --- Markdown ------------------------------------------------------------------------------------------

def markdown_fences(text: str) -> tuple[list[tuple[int, int, int, str]], int | None]:
    """Code fences as `corpus_info.markdown_pairs` reads them: a fence (``` or ~~~, 3+) closed by the
    next fence of the same character, at least as long, with no info string. Returns
    ([(opening line start, closing line start, offset of the closing run, closing run)], start of a
    fence left open or None)."""
    from .corpus_info import _FENCE

    pairs = []
    open_fence: tuple[str, int] | None = None
    for m in _FENCE.finditer(text):
        fence, rest = m.group(1), m.group(2)
        if open_fence is None:
            if fence[0] == "`" and "`" in rest:
                continue
            open_fence = (fence, m.start())
        elif fence[0] == open_fence[0][0] and len(fence) >= len(open_fence[0]) and not rest.strip():
            pairs.append((open_fence[1], m.start(), m.start(1), fence))
            open_fence = None
    return pairs, (open_fence[1] if open_fence else None)


_CODE_SPAN = re.compile(r"(`+)[^`]*\1(?!`)")  # validators.markdown._SPAN: runs that pair up in order
_PARAGRAPH = re.compile(r"\n[ \t]*\n")
_MD_TOKEN = re.compile(r"\\.|[\[\]]|\n[ \t]*\n", re.S)
_NOT_NL = re.compile(r"[^\n]")


def _markdown_masked(text: str) -> str:
    """The text with fenced code blocks and inline code spans blanked (newlines and offsets kept)."""
    spans = []
    pairs, left_open = markdown_fences(text)
    for start, close, _, _ in pairs:
        eol = text.find("\n", close)
        spans.append((start, len(text) if eol == -1 else eol))
    if left_open is not None:
        spans.append((left_open, len(text)))
    a = 0
    for m in list(_PARAGRAPH.finditer(text)) + [None]:
        b = len(text) if m is None else m.start()
        spans.extend(s.span() for s in _CODE_SPAN.finditer(text, a, b))
        a = b if m is None else m.end()
    parts, last = [], 0
    for s, e in sorted(spans):
        if e <= last:
            continue
        s = max(s, last)
        parts.append(text[last:s])
        parts.append(_NOT_NL.sub(" ", text[s:e]))
        last = e
    parts.append(text[last:])
    return "".join(parts)


def markdown_link_pairs(text: str) -> list[tuple[str, int, int, int]]:
    """(closer `]` | `)`, opener offset, closer offset, depth) for link texts (`[` ... `]` followed by
    `(` or `[`) and inline link destinations (`](` ... `)`, matched by the validator's `_paren_end`),
    outside code. A blank line ends every open bracket; backslash escapes are skipped."""
    from gencheck.validators.markdown import _paren_end

    masked = _markdown_masked(text)
    stack: list[int] = []
    out = []
    skip = 0
    for m in _MD_TOKEN.finditer(masked):
        i, g = m.start(), m.group()
        if i < skip or g[0] == "\\":
            continue
        if g[0] == "\n":
            stack.clear()
        elif g == "[":
            stack.append(i)
        elif stack:
            opened = stack.pop()
            depth = len(stack) + 1
            nxt = masked[i + 1:i + 2]
            if nxt in ("(", "["):
                out.append(("]", opened, i, depth))
            if nxt == "(":
                end = _paren_end(masked, i + 1)
                if end > 0:
                    out.append((")", i + 1, end - 1, depth))
                    skip = end
    return out


def markdown_link_events(text: str) -> list[Event]:
    return [Event(pos, ch, pos - opened, depth) for ch, opened, pos, depth in markdown_link_pairs(text)]


def markdown_fence_events(text: str) -> list[Event]:
    return [Event(at, run, close - start, 1) for start, close, at, run in markdown_fences(text)[0]]


# --- the probes ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Probe:
    name: str
    format: str
    kind: str  # "string": target teacher-forced, all greedy predictions right; "choice": among candidates
    extract: Callable[[str], list[Event]]
    candidates: tuple[str, ...] = ()
    description: str = ""

    @property
    def chance(self) -> float | None:
        """1 / number of candidates for a choice probe; None for a string probe (use the majority
        baseline's accuracy)."""
        return 1 / len(self.candidates) if self.kind == "choice" else None


PROBES: dict[str, Probe] = {p.name: p for p in (
    Probe("latex_end", "latex", "string", latex_env_events, (), "\\end{NAME}: the name and } after \\end{"),
    Probe("latex_closer", "latex", "choice", latex_closer_events, ("}", "$", "]"), "which closer: }, $ or \\]"),
    Probe("c_closer", "c", "choice", c_closer_events, (")", "]", "}"), "which closer: ), ] or }"),
    Probe("c_comment", "c", "string", c_comment_events, (), "*/ ending a /* comment"),
    Probe("markdown_link", "markdown", "choice", markdown_link_events, ("]", ")"), "link text ] or destination )"),
    Probe("markdown_fence", "markdown", "string", markdown_fence_events, (), "the closing code fence"),
)}


def probes_for(fmt: str) -> list[Probe]:
    return [p for p in PROBES.values() if p.format == fmt]


def _as_probe(probe: Probe | str) -> Probe:
    return PROBES[probe] if isinstance(probe, str) else probe


# --- scorers -------------------------------------------------------------------------------------------

def model_logprobs(model, ids: np.ndarray, device, chunk: int = 1024,
                   positions: np.ndarray | None = None) -> np.ndarray:
    """Teacher-forced log2 next-character probabilities of a torch `CharRNN` over `ids` (one document:
    SEP + text), fresh state at ids[0], run in chunks of `chunk` ids with the state carried (equal to
    one pass). Row i is the distribution of the id at `positions[i]` given the ids before it
    (1 <= position <= len(ids); default: every position 1..len-1). Shape (len(positions), V), float32."""
    import torch
    import torch.nn.functional as F

    x_np = np.asarray(ids, dtype=np.int64)
    n = len(x_np)
    pos = np.arange(1, n) if positions is None else np.asarray(positions, dtype=np.int64).reshape(-1)
    if len(pos) and (pos.min() < 1 or pos.max() > n):
        raise ValueError("positions must lie in [1, len(ids)]")
    rows = pos - 1  # the output after reading ids[row] predicts ids[row + 1]
    order = np.argsort(rows, kind="stable")
    srows = rows[order]
    out = np.empty((len(pos), model.cfg.vocab_size), np.float32)
    if not len(pos):
        return out
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            x = torch.from_numpy(x_np).to(device).unsqueeze(0)
            state = None
            upto = int(srows[-1]) + 1
            for a in range(0, upto, chunk):
                logits, state = model(x[:, a:a + chunk], state)
                lo, hi = np.searchsorted(srows, [a, a + chunk])
                if hi > lo:
                    sel = torch.from_numpy(srows[lo:hi] - a).to(logits.device)
                    lp = F.log_softmax(logits[0].float().index_select(0, sel), dim=-1) / math.log(2)
                    out[order[lo:hi]] = lp.cpu().numpy()
    finally:
        model.train(was_training)
    return out


def model_scorer(model, device, chunk: int = 1024) -> Scorer:
    def score(ids: np.ndarray, positions: np.ndarray, candidates: np.ndarray | None = None) -> np.ndarray:
        lp = model_logprobs(model, ids, device, chunk, positions)
        return lp if candidates is None else lp[:, np.asarray(candidates, dtype=np.int64)]

    return score


def positions_of(probe: Probe | str, events: Sequence[Event]) -> np.ndarray:
    """The positions of `SEP + text` whose distributions `score_events` asks the scorer for."""
    probe = _as_probe(probe)
    if not events:
        return np.zeros(0, np.int64)
    if probe.kind == "choice":
        return np.array([e.pos + 1 for e in events], dtype=np.int64)
    return np.concatenate([np.arange(e.pos + 1, e.pos + 1 + len(e.target)) for e in events]).astype(np.int64)


def model_logprobs_batched(model, requests: Sequence[tuple[np.ndarray, np.ndarray]], device, batch_size: int = 32,
                           chunk: int = 1024) -> list[np.ndarray]:
    """`model_logprobs(model, ids, device, chunk, positions)` for many `(ids, positions)` at once, in padded
    batches of similar length (padding after a document's end never changes what comes before it). Equal
    to one pass each up to float rounding (batched matrix products sum in another order)."""
    import torch
    import torch.nn.functional as F

    out = [np.empty((len(pos), model.cfg.vocab_size), np.float32) for _, pos in requests]
    order = sorted((i for i, (_, pos) in enumerate(requests) if len(pos)), key=lambda i: -int(requests[i][1].max()))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for a in range(0, len(order), batch_size):
                group = order[a:a + batch_size]
                upto = int(requests[group[0]][1].max())  # inputs ids[0 .. upto-1] predict up to position upto
                x = np.zeros((len(group), upto), np.int64)
                for r, i in enumerate(group):
                    ids = np.asarray(requests[i][0], dtype=np.int64)[:upto]
                    x[r, :len(ids)] = ids
                    x[r, len(ids):] = ids[-1]
                member = np.concatenate([np.full(len(requests[i][1]), r) for r, i in enumerate(group)])
                slot = np.concatenate([np.arange(len(requests[i][1])) for i in group])
                rows = np.concatenate([np.asarray(requests[i][1], dtype=np.int64) - 1 for i in group])
                xt, state = torch.from_numpy(x).to(device), None
                for c in range(0, upto, chunk):
                    logits, state = model(xt[:, c:c + chunk], state)
                    sel = np.flatnonzero((rows >= c) & (rows < c + chunk))
                    if len(sel):
                        m = torch.from_numpy(member[sel]).to(logits.device)
                        t = torch.from_numpy(rows[sel] - c).to(logits.device)
                        lp = (F.log_softmax(logits[m, t].float(), dim=-1) / math.log(2)).cpu().numpy()
                        for k, j in enumerate(sel):
                            out[group[member[j]]][slot[j]] = lp[k]
    finally:
        model.train(was_training)
    return out


def planned_model_scorer(model, device, requests: Sequence[tuple[np.ndarray, np.ndarray]], batch_size: int = 1,
                         chunk: int = 1024) -> Scorer:
    """A model scorer whose answers for known `(ids, positions)` requests are computed up front: one pass
    per document for all the probes that ask about it (a format has two or three, and each would
    otherwise read the whole test split again), several documents per pass with `batch_size` > 1. With
    batch_size 1 the rows are those of `model_logprobs` in the same chunks, so every probe's outcomes are
    what its own pass gives, to the bit (a test checks it). What was not planned gets a pass of its own."""
    merged: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
    for ids, pos in requests:
        key = np.asarray(ids).tobytes()
        merged[key] = (np.asarray(ids), np.union1d(merged[key][1], pos) if key in merged else np.unique(pos))
    keys = [k for k in merged if len(merged[k][1])]
    if batch_size > 1:
        rows = model_logprobs_batched(model, [merged[k] for k in keys], device, batch_size, chunk)
    else:
        rows = [model_logprobs(model, merged[k][0], device, chunk, merged[k][1]) for k in keys]
    planned = {k: (merged[k][1], r) for k, r in zip(keys, rows)}
    own_pass = model_scorer(model, device, chunk)

    def score(ids: np.ndarray, positions: np.ndarray, candidates: np.ndarray | None = None) -> np.ndarray:
        hit = planned.get(np.asarray(ids).tobytes())
        want = np.asarray(positions, dtype=np.int64).reshape(-1)
        if hit is not None and len(want):
            known, lp = hit
            k = np.minimum(np.searchsorted(known, want), len(known) - 1)
            if np.array_equal(known[k], want):
                return lp[k] if candidates is None else lp[k][:, np.asarray(candidates, dtype=np.int64)]
        return own_pass(ids, positions, candidates)

    return score


def probe_requests(probes: Sequence[Probe | str], texts: Sequence[str], vocab) -> list[tuple[np.ndarray, np.ndarray]]:
    """What `probe_outcomes` of each of `probes` on `texts` will ask the model: `(ids, positions)` per
    document and probe, for `planned_model_scorer`."""
    from .corpus import SEP, encode

    index = vocab.index()
    out = []
    for text in texts:
        ids = encode(SEP + text, vocab)
        out += [(ids, positions_of(p, _scorable(_as_probe(p), text, index))) for p in probes]
    return out


def scorer_for(model, device, chunk: int = 1024) -> Scorer:
    """Any row's scorer: the model's own sparse one where it has one (`scorer()`: the n-gram answers only the
    asked positions and columns), else teacher-forced passes of `model(x, state)` (`model_scorer`)."""
    own = getattr(model, "scorer", None)
    return own() if callable(own) else model_scorer(model, device, chunk)


def ngram_scorer(ngram) -> Scorer:
    """The n-gram's distributions as a scorer (its context starts at the document's SEP)."""

    def score(ids: np.ndarray, positions: np.ndarray, candidates: np.ndarray | None = None) -> np.ndarray:
        return np.log2(ngram.distributions(ids, positions, candidates))

    return score


def model_position_bits(model, seqs: Sequence[np.ndarray], device, batch_size: int = 32,
                        chunk: int = 1024) -> list[np.ndarray]:
    """-log2 p(seq[t] | seq[:t]) for t = 1..len-1 of each sequence, fresh state at each sequence's start;
    sequences of similar length run together as one padded batch (padding follows the real ids, so it
    never changes them), chunked with the state carried."""
    import torch
    import torch.nn.functional as F

    out: list[np.ndarray] = [np.zeros(0)] * len(seqs)
    order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for a in range(0, len(order), batch_size):
                group = [i for i in order[a:a + batch_size] if len(seqs[i]) >= 2]
                if not group:
                    continue
                width = len(seqs[group[0]])
                x = np.zeros((len(group), width), np.int64)
                for r, i in enumerate(group):
                    x[r, :len(seqs[i])] = seqs[i]
                xt = torch.from_numpy(x).to(device)
                bits = np.empty((len(group), width - 1), np.float64)
                state = None
                for c in range(0, width - 1, chunk):
                    logits, state = model(xt[:, c:min(c + chunk, width - 1)], state)
                    y = xt[:, c + 1:c + 1 + logits.shape[1]]
                    ce = F.cross_entropy(logits.float().transpose(1, 2), y, reduction="none")
                    bits[:, c:c + logits.shape[1]] = (ce / math.log(2)).cpu().numpy()
                for r, i in enumerate(group):
                    out[i] = bits[r, :len(seqs[i]) - 1]
    finally:
        model.train(was_training)
    return out


# --- outcomes ------------------------------------------------------------------------------------------

def _scorable(probe: Probe, text: str, index: dict[str, int]) -> list[Event]:
    evs = probe.extract(text)
    if probe.kind == "choice":  # a closer outside the vocabulary (UNK) cannot be asked about
        evs = [e for e in evs if e.target in index]
    return evs


def probe_outcomes(probe: Probe | str, texts: Sequence[str], vocab, scorer: Scorer) -> list[Outcome]:
    """Score every event of `probe` in `texts` (one scorer call per document)."""
    probe = _as_probe(probe)
    index = vocab.index()
    out: list[Outcome] = []
    for d, text in enumerate(texts):
        out += score_events(probe, d, text, _scorable(probe, text, index), vocab, scorer)
    return out


def score_events(probe: Probe | str, doc: int, text: str, events: Sequence[Event], vocab,
                 scorer: Scorer) -> list[Outcome]:
    """The outcomes of known `events` of one document (real text, or a controlled document whose event
    is known by construction), in one scorer call; `doc` labels them for the bootstrap."""
    from .corpus import SEP, encode

    probe = _as_probe(probe)
    if not events:
        return []
    index = vocab.index()
    ids = encode(SEP + text, vocab)
    out: list[Outcome] = []
    if probe.kind == "choice":
        cand = np.array([index[c] for c in probe.candidates if c in index], dtype=np.int64)
        lp = np.asarray(scorer(ids, positions_of(probe, events), cand), dtype=np.float64)
        col = {int(c): k for k, c in enumerate(cand)}
        for e, row in zip(events, lp):
            k = col[index[e.target]]
            others = np.delete(row, k)
            right = not len(others) or row[k] > others.max()
            out.append(Outcome(doc, e.distance, e.depth, bool(right), float(-row[k]), block_of(e.pos)))
        return out
    lens = [len(e.target) for e in events]
    pos = positions_of(probe, events)
    lp = np.asarray(scorer(ids, pos, None), dtype=np.float64)
    tgt = ids[pos]
    true = lp[np.arange(len(pos)), tgt]
    lp[np.arange(len(pos)), tgt] = -np.inf
    right = true > lp.max(axis=1)
    a = 0
    for e, k in zip(events, lens):
        out.append(Outcome(doc, e.distance, e.depth, bool(right[a:a + k].all()), float(-true[a:a + k].sum()),
                           block_of(e.pos)))
        a += k
    return out


def majority_answer(probe: Probe | str, train_texts: Sequence[str]) -> str | None:
    """The most frequent target among the probe's events in `train_texts` (ties: the smallest string):
    the most common `NAME}` of correctly closed environments, the most common closer character, ..."""
    probe = _as_probe(probe)
    counts = Counter(e.target for t in train_texts for e in probe.extract(t))
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0] if counts else None


def majority_outcomes(probe: Probe | str, texts: Sequence[str], vocab, answer: str | None) -> list[Outcome]:
    """The majority baseline on the same events `probe_outcomes` scores: right when the event's target
    is the majority answer (no bits)."""
    probe = _as_probe(probe)
    index = vocab.index()
    return [Outcome(d, e.distance, e.depth, e.target == answer, None, block_of(e.pos))
            for d, t in enumerate(texts) for e in _scorable(probe, t, index)]


def null_outcomes(probe: Probe | str, texts: Sequence[str], vocab) -> list[Outcome]:
    """The best constant answer per bucket on the events `probe_outcomes` scores, in the same order (the
    probes' null: `stats.best_constant_outcomes`)."""
    from .stats import best_constant_outcomes

    return best_constant_outcomes(scored_events(probe, texts, vocab))


def scored_events(probe: Probe | str, texts: Sequence[str], vocab) -> list[tuple[int, int, int, str, int]]:
    """(document, distance, depth, target, block) of every event `probe_outcomes` scores, in the same order."""
    probe = _as_probe(probe)
    index = vocab.index()
    return [(d, e.distance, e.depth, e.target, block_of(e.pos))
            for d, t in enumerate(texts) for e in _scorable(probe, t, index)]


def run_probe(probe: Probe | str, texts: Sequence[str], vocab, scorer: Scorer, scorer_name: str = "model",
              train_texts: Sequence[str] | None = None, resamples: int = 1000, seed: int = 0,
              min_events: int = MIN_EVENTS) -> dict[str, ProbeResult]:
    """The probe on `texts` (the test split) for `scorer`, and, given `train_texts`, the majority
    baseline on the same events. Every row is tested against the null, the best constant answer per bucket
    on the same events (at least 1/candidates for a choice probe): its chance is that level per bucket."""
    probe = _as_probe(probe)
    result = aggregate(probe_outcomes(probe, texts, vocab, scorer), probe.name, scorer_name, probe.chance,
                       resamples, seed, min_events)
    out = {scorer_name: result}
    if train_texts is not None:
        answer = majority_answer(probe, train_texts)
        base = aggregate(majority_outcomes(probe, texts, vocab, answer), probe.name, "majority", probe.chance,
                         resamples, seed, min_events)
        base.extra["answer"] = answer
        out["majority"] = base
    null = aggregate(null_outcomes(probe, texts, vocab), probe.name, "null", None, resamples, seed, min_events)
    for row in out.values():
        row.with_null(null, probe.chance or 0.0)
    return out
