"""Evolution during training: what the model learns first.

At about ten log-spaced steps of a run the model is looked at without changing its training: a short
sample at a fixed seed and temperature, bits/char on a slice of val, valid % of a few short samples, and
the format's headline probe on a slice of the test split. Karpathy's char-rnn post showed this for
LaTeX by eye (spaces and words first, then punctuation, then structure); here it is a table, in
results.json (`train.evolution`) and under `gencheck report RUN --evolution`.

Nothing here touches the training RNG (sampling has its own generator) or the optimiser, so a run with
evolution trains exactly as one without it; the time it takes is counted apart from training speed.
"""

from __future__ import annotations

import math
from collections import Counter
import re
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from gencheck.validators import FORMATS, VALID, validate_many
from gencheck.validators.base import share

from . import probes as pr
from . import stats as st
from .config import SampleConfig
from .corpus import Corpus, Vocab
from .longrange import HEADLINE
from .sample import generate
from .scorecard import si_chars

POINTS = 10
SAMPLE_CHARS = 200  # the sample shown per step
VALID_SAMPLES = 8  # short samples validated per step for valid %
VALID_CHARS = 400
VAL_CHARS = 30_000
PROBE_CHARS = 60_000  # test documents probed per step, whole documents up to about this many characters
#: The training budget at which the slices above are used whole: the default `cpu` run, where ten looks
#: cost about 5 % of training. A shorter run (a `--minutes 2` grid point) looks at proportionally smaller
#: slices, down to MIN_SLICE_CHARS, so that its looks stay within the 10 % the table may cost.
FULL_SLICES_AT = 17_200_000
MIN_SLICE_CHARS = 5_000
#: A drill's looks probe more test characters (about 40 events per bucket instead of 20), so that the step
#: where memory forms is seen beyond noise; its documents are short and its scoring is one batched pass.
DRILL_PROBE_CHARS = 200_000


#: Beyond FULL_SLICES_AT characters a longer run gets more looks, at most this factor apart in characters,
#: so that the characters at which real-text memory leaves the 20-gram are read to within it (issue 33: it
#: formed somewhere between 17 M and 156 M characters, and ten log-spaced looks leave gaps of 2.3×).
DENSE_RATIO = 1.5


def evolution_steps(total: int, points: int = POINTS, first: int = 10, chars_per_step: int = 0) -> list[int]:
    """About `points` log-spaced steps from `first` to `total` (always ending at `total`), each once; with
    `chars_per_step`, also looks at most DENSE_RATIO apart from FULL_SLICES_AT characters on."""
    if total <= 0:
        return []
    if total <= first:
        return [total]
    marks = {int(m) for m in np.round(np.geomspace(first, total, points)).astype(int)}
    dense_from = FULL_SLICES_AT // chars_per_step if chars_per_step else total
    if dense_from > 0 and total / dense_from > DENSE_RATIO:  # the default run, and a drill, keep their ten
        k = math.ceil(math.log(total / dense_from) / math.log(DENSE_RATIO)) + 1
        marks = {m for m in marks if m < dense_from} | {int(m) for m in np.round(np.geomspace(dense_from, total, k))}
    return sorted(marks | {total})


def _probe_slice(texts: Sequence[str], limit: int) -> list[str]:
    """Whole test documents, in split order, until about `limit` characters; when the first is longer than
    that, its first `limit` characters (a prefix holds the opener of every event in it, so no event is cut
    from its opener: the events after the cut are left out)."""
    out, n = [], 0
    for t in texts:
        if n + len(t) > limit:
            if not out:
                out.append(t[:limit])
            break
        out.append(t)
        n += len(t)
    return out


@dataclass
class Watcher:
    """Looks at the model at the marked steps; `__call__(model, vocab, step, chars_seen)` returns one row
    of the table."""

    fmt: str
    device: torch.device
    seed: int
    temperature: float
    val_texts: list[str]
    probe_texts: list[str]
    headline: str | None
    val_chars: int = VAL_CHARS
    chance: float | None = None  # of the headline probe where it is known (a drill: 1/K), for `memory_formed`
    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @classmethod
    def for_run(cls, corpus: Corpus, device: torch.device, seed: int, temperature: float,
                budget_chars: int = FULL_SLICES_AT) -> "Watcher":
        """Slices scaled to the run's training characters (`FULL_SLICES_AT`: whole). A longer run probes a
        proportionally longer slice of test (its looks cost the same share of training): a run of 156 M characters
        on `latex-stacks` looks at 505 k (its first three test chapters), 759 `\\end{NAME}` events, to tell the
        model from the 20-gram per bucket (`memory_formed` with a reference)."""
        fmt = corpus.spec.format
        headline = HEADLINE.get(fmt) if pr.probes_for(fmt) else None
        scale = min(1.0, budget_chars / FULL_SLICES_AT)
        val_chars = max(MIN_SLICE_CHARS, int(VAL_CHARS * scale))
        probe_chars = max(MIN_SLICE_CHARS, int(PROBE_CHARS * budget_chars / FULL_SLICES_AT))
        chance = None
        if corpus.spec.drill is not None and headline:
            from .controlled import common_openers
            from .longrange import head

            probe_chars = max(probe_chars, DRILL_PROBE_CHARS)
            train = head(corpus.texts("train"), corpus.spec.drill.ngram_chars)
            chance = 1 / len(common_openers(fmt, train, corpus.spec.drill.k or None))
        return cls(fmt, device, seed, temperature, corpus.texts("val"),
                   _probe_slice(corpus.texts("test"), probe_chars) if headline else [], headline, val_chars, chance)

    @torch.no_grad()
    def __call__(self, model, vocab: Vocab, step: int, chars_seen: int) -> dict[str, Any]:
        from .train import bits_per_char

        t0 = time.perf_counter()
        was_training = model.training
        model.eval()
        try:
            cfg = SampleConfig(num_samples=VALID_SAMPLES, max_chars=VALID_CHARS, temperature=self.temperature,
                               seed=self.seed)
            texts = [s.text for s in generate(model, vocab, cfg, self.device, quiet=True)]
            row: dict[str, Any] = {"step": step, "chars_seen": chars_seen, "sample": texts[0][:SAMPLE_CHARS],
                                   "val_bpc": round(bits_per_char(model, self.val_texts, vocab, self.device,
                                                                  max_chars=self.val_chars), 4),
                                   "val_chars": self.val_chars}
            if self.fmt in FORMATS:
                verdicts = validate_many(texts, self.fmt, workers=1, timeout_s=5.0)
                valid = share(Counter(v.verdict for v in verdicts), VALID)  # of the rated samples, as the scorecard
                row["valid"] = None if math.isnan(valid) else round(valid, 4)
            if self.headline:
                outs = pr.probe_outcomes(self.headline, self.probe_texts, vocab, pr.model_scorer(model, self.device))
                row["probe"] = self.headline
                row["probe_events"] = len(outs)
                row["probe_accuracy"] = round(sum(o.correct for o in outs) / len(outs), 4) if outs else None
                row["probe_buckets"] = st.bucket_counts(outs)
                if self.chance is not None:
                    row["probe_chance"] = self.chance
                    row["probe_floor"] = constant_floor(self.headline, self.probe_texts)
        finally:
            model.train(was_training)
        row["seconds"] = round(time.perf_counter() - t0, 2)
        self.seconds += row["seconds"]
        self.rows.append(row)
        return row


def constant_floor(probe: str, texts: Sequence[str]) -> dict[str, float]:
    """Per bucket, how often the best constant answer is right on these texts: a model that always names
    one opener scores this without any memory, and on a slice of ~40 events per bucket it can sit well
    above 1/K."""
    targets: dict[str, Counter] = {}
    for t in texts:
        for e in pr.PROBES[probe].extract(t):
            targets.setdefault(st.BUCKET_LABELS[st.bucket_of(e.distance)], Counter())[e.target] += 1
    return {b: round(max(c.values()) / sum(c.values()), 4) for b, c in targets.items()}


def wilson_low(right: int, n: int, z: float = 1.96) -> float:
    """The lower end of the Wilson 95 % interval of a proportion: above chance means beyond noise."""
    if n == 0:
        return 0.0
    p = right / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - margin) / (1 + z * z / n)


def reference_rates(reference: dict[str, Any] | None) -> dict[str, float]:
    """Per bucket, the reference row's accuracy on the looks' slice ({} without one)."""
    buckets = (reference or {}).get("probe_buckets") or {}
    return {b: c[1] / c[0] for b, c in buckets.items() if c[0]}


def memory_formed(rows: Sequence[dict[str, Any]], min_events: int = st.MIN_EVENTS,
                  reference: dict[str, Any] | None = None) -> dict[str, int | None]:
    """Per distance bucket, the characters seen at the first look where the headline probe's accuracy rose
    above chance beyond noise and stayed there at every later look; None where it never did. Chance on a
    drill: the Wilson lower bound above 1/K and above the best constant answer's rate on the same events.
    On real text there is no 1/K, and the level to leave is a `reference` row scored on the looks' slice
    (`train.formed_against`: the 20-gram, whose memory ends 20 characters back), with the same Wilson rule:
    the characters at which the model's memory left the n-gram's. Empty where the looks know neither."""
    rates = reference_rates(reference)
    looks = [r for r in rows if r.get("probe_buckets") and (reference is not None or r.get("probe_chance"))]
    if not looks:
        return {}

    def level(r: dict[str, Any], label: str) -> float:  # what the look must beat in this bucket
        if reference is not None:
            return rates[label]
        return max(r["probe_chance"], (r.get("probe_floor") or {}).get(label, 0.0))

    out: dict[str, int | None] = {}
    for label in [b for b in st.BUCKET_LABELS if reference is None or b in rates]:
        above = [(r["chars_seen"], (c := r["probe_buckets"].get(label)) is not None and c[0] >= min_events
                  and wilson_low(c[1], c[0]) > level(r, label)) for r in looks]
        if not any(label in r["probe_buckets"] for r in looks):
            continue
        formed = None
        for chars, ok in reversed(above):  # the start of the final run of looks above chance
            if not ok:
                break
            formed = chars
        out[label] = formed
    return out


#: The buckets whose memory "formed" means memory beyond the n-grams' reach: 31 to 1,000 characters.
FORMATION_BUCKETS = ("31-100", "101-300", "301-1000")


def formation_chars(formed: dict[str, int | None] | None) -> int | None:
    """Characters seen by which memory had formed in every bucket from 31 to 1,000 characters that was looked
    at (the grid's "memory formed" column); None where one never did, or where nothing was looked at."""
    cells = [formed[b] for b in FORMATION_BUCKETS if formed and b in formed]
    if not cells or any(c is None for c in cells):
        return None
    return max(cells)


def table_rows(rows: Sequence[dict[str, Any]], sample_width: int = 38) -> list[list[str]]:
    """The evolution table's cells: step, characters seen, val bpc, valid %, headline probe %, the start
    of the sample with line breaks shown as ⏎ and long runs of one character as `c×N`."""
    out = []
    for r in rows:
        acc = r.get("probe_accuracy")
        valid = r.get("valid")
        text = _collapse_runs(r.get("sample", "")).replace("\n", "⏎")[:sample_width]
        out.append([f"{r['step']:,}", si_chars(r.get("chars_seen", 0)),
                    "—" if r.get("val_bpc") is None or math.isnan(r["val_bpc"]) else f"{r['val_bpc']:.2f}",
                    "—" if valid is None else f"{100 * valid:.0f}%",
                    "—" if acc is None else f"{100 * acc:.0f}%", text])
    return out


def _collapse_runs(text: str, longest: int = 5) -> str:
    """A run of more than `longest` equal visible characters as `c×N` (a `%%%%…` banner would fill the
    column; runs of spaces stay as they are)."""
    return re.sub(r"(\S)\1{%d,}" % longest, lambda m: f"{m.group(1)}×{len(m.group(0))}", text)
