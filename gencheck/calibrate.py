"""Calibration: are the validators trustworthy on this corpus?

Two numbers per corpus: the share of real documents accepted (every rejection listed, so a reader can
tell a real error from a validator gap) and, per mutation kind, the share of seeded single-edit
mutations of accepted documents that the validator rejects. Both are shares of *rated* texts
(`base.share`, the rule the scorecard's columns follow too): a document or mutant the checker could not
judge (`unjudged`: timeout, crash, too long) or that has nothing to judge (`trivial`: empty, only comments,
no structure) is neither an acceptance nor a detection -- it is counted and listed on its own, so a limit
set too low cannot inflate the detection rate, nor a corpus of empty files the acceptance rate.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field

from collections import Counter

from gencheck.validators import INVALID, TRIVIAL, VALID, VERDICTS, VIABLE_PREFIX, WARNING, validate_many
from gencheck.validators.base import UNJUDGED, rated, share
from gencheck.validators.mutations import MUTATION_KINDS, mutate

from .corpus import Corpus


@dataclass
class Rejection:
    path: str
    verdict: str
    kind: str
    message: str
    line: int
    col: int


@dataclass
class MutationRow:
    """Mutants of one kind: `detected` counts rated mutants rejected (viable_prefix or invalid); `unjudged`
    and `trivial` ones are in `tried` only."""

    kind: str
    tried: int = 0
    detected: int = 0
    unjudged: int = 0
    trivial: int = 0

    @property
    def judged(self) -> int:
        """Mutants the checker finished on (trivial ones included)."""
        return self.tried - self.unjudged

    @property
    def rated(self) -> int:
        """Mutants the rate is a share of: judged and not trivial (the denominator rule of `base.share`)."""
        return self.judged - self.trivial

    @property
    def rate(self) -> float:
        """detected / rated: NaN when none is rated."""
        return self.detected / self.rated if self.rated else float("nan")


@dataclass
class Calibration:
    """`rejected`: rated real documents not valid; `unjudged`: those the checker could not judge, `trivial`:
    those with nothing to judge (each with why). `counts`: documents per verdict, which the acceptance is
    computed from with `base.share`, as the scorecard's real-text column is."""

    corpus: str
    format: str
    split: str
    documents: int
    accepted: int
    rejected: list[Rejection] = field(default_factory=list)
    mutations: list[MutationRow] = field(default_factory=list)
    unjudged: list[Rejection] = field(default_factory=list)
    trivial: list[Rejection] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def judged(self) -> int:
        """Documents the checker finished on (trivial ones included)."""
        return self.documents - len(self.unjudged)

    @property
    def rated(self) -> int:
        """Documents the acceptance is a share of: judged and not trivial."""
        return rated(self.counts)

    @property
    def acceptance(self) -> float:
        """accepted / rated (`base.share`): NaN when none is rated."""
        return share(self.counts, VALID)

    def to_json(self) -> dict:
        d = asdict(self)
        d["judged"] = self.judged
        d["rated"] = self.rated
        d["acceptance"] = self.acceptance
        for row, m in zip(d["mutations"], self.mutations):
            row["judged"] = m.judged
            row["rated"] = m.rated
            row["rate"] = m.rate
        return d


def calibrate(corpus: Corpus, split: str = "test", per_kind: int = 200, seed: int = 0,
              workers: int = 2, timeout_s: float = 30.0) -> Calibration:
    fmt = corpus.spec.format
    idx = list(range(len(corpus.documents))) if split == "all" else corpus.splits[split]
    docs = [corpus.documents[i] for i in idx]
    verdicts = validate_many([d.text for d in docs], fmt, workers=workers, timeout_s=timeout_s)
    counts = Counter(v.verdict for v in verdicts)
    result = Calibration(corpus.spec.name, fmt, split, len(docs), counts[VALID],
                         counts={k: counts.get(k, 0) for k in VERDICTS})
    for d, v in zip(docs, verdicts):
        if v.verdict != VALID:
            f = next((f for f in v.findings if f.severity != WARNING), v.findings[0])  # why it was rejected
            rows = {UNJUDGED: result.unjudged, TRIVIAL: result.trivial}.get(v.verdict, result.rejected)
            rows.append(Rejection(d.path, v.verdict, f.kind, f.message, f.line, f.col))
    accepted = [d.text for d, v in zip(docs, verdicts) if v.verdict == VALID]
    rng = random.Random(seed)
    for kind in MUTATION_KINDS.get(fmt, ()):
        mutants = []
        for _ in range(per_kind * 3):
            if len(mutants) >= per_kind or not accepted:
                break
            m = mutate(accepted[rng.randrange(len(accepted))], fmt, kind, rng)
            if m is not None:
                mutants.append(m)
        found = validate_many(mutants, fmt, workers=workers, timeout_s=timeout_s) if mutants else []
        got = Counter(v.verdict for v in found)
        result.mutations.append(MutationRow(kind, len(mutants), got[VIABLE_PREFIX] + got[INVALID], got[UNJUDGED],
                                            got[TRIVIAL]))
    return result


# --- the validator against the real toolchain (`calibrate --toolchain`) -----------------------------------

#: Columns of the confusion matrix: what the toolchain said.
TOOL_OUTCOMES = ("ok", "tolerated", "error", "n/a")


def tool_outcome(op) -> str:
    """ok; tolerated (LaTeX: compiles once undefined control sequences are tolerated); error; n/a (no opinion)."""
    if op.ok is None:
        return "n/a"
    if op.ok:
        return "ok"
    return "tolerated" if op.tolerant_ok else "error"


@dataclass
class Disagreement:
    """One class of disagreement: the validator's verdict, the toolchain's outcome and error kind, how often,
    and one example (where, the validator's first finding, the toolchain's message)."""

    set: str  # "real" or "mutants"
    verdict: str
    outcome: str
    tool_kind: str
    count: int
    example: str
    finding: str
    tool_message: str


@dataclass
class Agreement:
    """Confusion matrices {set: {verdict: {outcome: count}}} of the validator against the toolchain."""

    corpus: str
    format: str
    split: str
    judge: str
    version: str | None
    available: bool
    documents: int
    mutants: int
    mutated_from: str  # which documents the mutants were made from
    matrices: dict = field(default_factory=dict)
    disagreements: list[Disagreement] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


def _disagrees(verdict: str, outcome: str) -> bool:
    """The validator accepts and the toolchain rejects, or the other way round (n/a, unjudged and trivial
    never: they are no verdict on the text's structure)."""
    if verdict in (UNJUDGED, TRIVIAL) or outcome == "n/a":
        return False
    return (verdict == VALID) != (outcome in ("ok", "tolerated"))


def _matrix(verdicts, opinions) -> dict:
    m = {v: {o: 0 for o in TOOL_OUTCOMES} for v in VERDICTS}
    for v, op in zip(verdicts, opinions):
        m[v.verdict][tool_outcome(op)] += 1
    return m


def _first_finding(v) -> str:
    f = next((f for f in v.findings if f.severity != WARNING), None)
    return f"{f.line}:{f.col} {f.kind}: {f.message}" if f else ""


def agreement(corpus: Corpus, split: str = "test", per_kind: int = 200, seed: int = 0, workers: int = 2,
              limit: int = 0, timeout_s: float = 30.0) -> Agreement:
    """The validator's verdict against the toolchain's on the split's real documents (at most `limit`) and
    on seeded mutations of documents both accepted (of those the validator accepted when none is)."""
    import time

    from gencheck.validators import toolchains

    t0 = time.perf_counter()
    fmt = corpus.spec.format
    judge = toolchains.judge_for(fmt)
    if judge is None:
        raise ValueError(f"no toolchain judge for format {fmt!r}")
    idx = list(range(len(corpus.documents))) if split == "all" else list(corpus.splits[split])
    docs = [corpus.documents[i] for i in (idx[:limit] if limit > 0 else idx)]
    ctx = toolchains.JudgeContext.of_corpus(corpus)
    result = Agreement(corpus.spec.name, fmt, split, judge.name, toolchains.version(fmt), toolchains.available(fmt),
                       len(docs), 0, "")
    if not result.available:
        return result
    verdicts = validate_many([d.text for d in docs], fmt, workers=workers, timeout_s=timeout_s)
    opinions = toolchains.judge_many([d.text for d in docs], fmt, ctx, workers=workers)
    result.matrices["real"] = _matrix(verdicts, opinions)
    classes: dict[tuple, Disagreement] = {}

    def note(set_name, where, v, op):
        outcome = tool_outcome(op)
        if not _disagrees(v.verdict, outcome):
            return
        key = (set_name, v.verdict, outcome, op.kind)
        if key in classes:
            classes[key].count += 1
        else:
            classes[key] = Disagreement(set_name, v.verdict, outcome, op.kind, 1, where, _first_finding(v), op.message)

    for d, v, op in zip(docs, verdicts, opinions):
        note("real", d.path, v, op)
    both = [d.text for d, v, op in zip(docs, verdicts, opinions) if v.verdict == VALID and tool_outcome(op) in ("ok", "tolerated")]
    accepted = both or [d.text for d, v in zip(docs, verdicts) if v.verdict == VALID]
    result.mutated_from = (f"{len(both)} documents both accept" if both else
                           f"{len(accepted)} documents the validator accepts (the toolchain accepts none)")
    rng = random.Random(seed)
    mutants, kinds = [], []
    for kind in MUTATION_KINDS.get(fmt, ()):
        made = 0
        for _ in range(per_kind * 3):
            if made >= per_kind or not accepted:
                break
            m = mutate(accepted[rng.randrange(len(accepted))], fmt, kind, rng)
            if m is not None:
                mutants.append(m)
                kinds.append(kind)
                made += 1
    result.mutants = len(mutants)
    if mutants:
        mv = validate_many(mutants, fmt, workers=workers, timeout_s=timeout_s)
        mo = toolchains.judge_many(mutants, fmt, ctx, workers=workers)
        result.matrices["mutants"] = _matrix(mv, mo)
        for kind, v, op in zip(kinds, mv, mo):
            note("mutants", f"mutation {kind}", v, op)
    result.disagreements = sorted(classes.values(), key=lambda c: (c.set, -c.count))
    result.seconds = round(time.perf_counter() - t0, 1)
    return result


def agreement_tables(a: Agreement) -> list:
    """Rich renderables: one confusion matrix per set, then one example of each disagreement class."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    head = Text(f"{a.corpus} ({a.format}, {a.split} split): validator vs {a.judge} ({a.version or 'absent'}); "
                f"{a.documents} real documents, {a.mutants} mutants of {a.mutated_from or '—'}; {a.seconds:.0f} s")
    if not a.available:
        return [head, Text(f"no {a.judge} on this machine: no toolchain opinion (n/a)")]
    out: list = [head]
    cols = [o for o in TOOL_OUTCOMES if o != "tolerated" or a.format == "latex"]
    for name, m in a.matrices.items():
        t = Table(title=f"{name}: rows the validator's verdict, columns {a.judge}", title_justify="left")
        t.add_column("validator")
        for c in cols:
            t.add_column(c, justify="right")
        for verdict, row in m.items():
            if any(row.values()):
                t.add_row(verdict, *[str(row[c]) for c in cols])
        out.append(t)
    if a.disagreements:
        t = Table(title="disagreements: one example of each class", title_justify="left")
        for c in ("set", "validator", a.judge, "count", "example", "validator's finding", f"{a.judge} says"):
            t.add_column(c, overflow="fold")
        for d in a.disagreements:
            t.add_row(d.set, d.verdict, f"{d.outcome} {d.tool_kind}", str(d.count), escape(d.example),
                      escape(d.finding), escape(d.tool_message))
        out.append(t)
    return out
