"""The suite: declared, versioned tasks, one score per task, and the leaderboard built from results files.

A task names its corpus (by the content hash its declaration pins), its headline probe, its training
budget in characters (one for a CPU, one for a GPU), `D_train` (a drill's longest training distance; None
on real text, where every distance occurs in training) and the distance buckets it scores. The suite's
version is a hash of all of that and of the protocol (each family's depth, the learning rates swept, the
selection rule), so two results with the same version were asked the same question; every results file a
suite run writes records its version, task and budget, and a table refuses to mix versions.

This module reads results and declarations only (no torch): the protocol that trains points is
gencheck.suite_cmd. The scores are defined in docs/probes.md ("Suite scores").
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

from . import stats as st
from .fsutil import GencheckError, UsageError

SUITE_NAME = "v1"

#: Raw accuracy beyond D_train at which a task counts as solved (Delétang et al. 2023's threshold).
SOLVED_AT = 0.90

#: The learning rates a sweep tries: four, log-spaced by about half a decade. Zoology's span is 1e-4…1e-2;
#: this one is moved up a decade and a half because at tens of millions of characters the memory measured on
#: latex-drill formed at 5e-3 (the LSTM) and at 1e-2 (minGRU), and not at 1e-3 (minGRU), so both working
#: rates lie inside with one rate above (docs/probes.md, "Suite scores").
LR_SWEEP = (1e-3, 3e-3, 1e-2, 3e-2)

#: Each family's depth in the suite (the width comes from --match params=N). The depths of the family table
#: (docs/results.md): a recurrent cell deep enough at one layer, minGRU and the transformer at two, and the
#: causal convolution at eight (a receptive field of 511 characters).
FAMILY_DEPTH = {"lstm": 1, "gru": 1, "rnn": 1, "mingru": 2, "transformer": 2, "conv": 8, "xlstm": 1}

#: The parameters every family is matched to unless --match says otherwise.
DEFAULT_PARAMS = 150_000

#: The buckets a task scores: a drill from its shortest tested distance out; real text from 31 characters,
#: beyond the 20-gram's sight (the 1-30 buckets are where any n-gram closes).
DRILL_BUCKETS = ("11-30", "31-100", "101-300", "301-1000", "1001-3000", ">3000")
REAL_BUCKETS = ("31-100", "101-300", "301-1000", "1001-3000")

#: Budgets in characters. cpu: a drill at the drill profile's 19.7 M (2,400 steps of 32 × 256), where a
#: 1×128 LSTM forms memory at about 10 M; real text at the cpu profile's 17.2 M (2,100 × 64 × 128). gpu: the
#: drills the same, real text at the gpu profile's 196.6 M (6,000 × 128 × 256).
DRILL_BUDGET = {"cpu": 19_660_800, "gpu": 19_660_800}
REAL_BUDGET = {"cpu": 17_203_200, "gpu": 196_608_000}


@dataclass(frozen=True)
class Task:
    """One task as declared: what `suite list` shows and the version hashes."""

    name: str
    corpus: str
    probe: str
    content_hash: str
    d_train: int | None
    buckets: tuple[str, ...]
    budget: dict[str, int]

    @property
    def kind(self) -> str:
        return "drill" if self.d_train is not None else "real"

    def beyond(self) -> tuple[str, ...]:
        """The scored buckets whose every distance is longer than any training example."""
        if self.d_train is None:
            return ()
        far = set(st.buckets_beyond(self.d_train))
        return tuple(b for b in self.buckets if b in far)

    def in_range(self) -> tuple[str, ...]:
        return tuple(b for b in self.buckets if b not in self.beyond())


#: The tasks of suite v1, by corpus name: the four drills and the real corpora.
TASK_CORPORA = ("latex-drill", "latex-drill-nested", "c-drill", "markdown-drill", "latex-stacks", "latex", "c",
                "markdown")


def declare(corpus: str) -> Task:
    """A task from its corpus's declaration: the pinned content hash, the format's headline probe and a
    drill's D_train are read from there, so that the suite never restates them."""
    from .corpus import resolve_spec
    from .longrange import HEADLINE

    spec = resolve_spec(corpus)
    if not spec.content_sha256:
        raise GencheckError(f"suite task {corpus}: its declaration pins no content_sha256, so the task could not "
                            "name its corpus")
    drill = spec.drill
    return Task(corpus, corpus, HEADLINE[spec.format], spec.content_sha256, drill.d_train if drill else None,
                DRILL_BUCKETS if drill else REAL_BUCKETS, dict(DRILL_BUDGET if drill else REAL_BUDGET))


def tasks() -> list[Task]:
    return [declare(c) for c in TASK_CORPORA]


def protocol() -> dict[str, Any]:
    """What the version hashes beside the tasks: how every family is trained and how its rate is chosen."""
    return {"families": FAMILY_DEPTH, "lr_sweep": list(LR_SWEEP), "selection": "validation headline, then bits/char",
            "solved_at": SOLVED_AT, "recipe": {"cpu": "drill", "gpu": "gpu"}}


def version(task_list: Sequence[Task]) -> str:
    """`v1-<10 hex>`: the suite's name and a hash of its tasks and protocol."""
    blob = json.dumps({"tasks": [asdict(t) for t in task_list], "protocol": protocol()}, sort_keys=True)
    return f"{SUITE_NAME}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


def select(task_list: Sequence[Task], names: str | None) -> list[Task]:
    """`--tasks latex-drill,c` → those tasks in the suite's order; every task without it."""
    if not names:
        return list(task_list)
    wanted = [n for n in names.split(",") if n]
    known = {t.name for t in task_list}
    bad = [n for n in wanted if n not in known]
    if bad:
        raise UsageError(f"--tasks {','.join(bad)}: not a task of suite {SUITE_NAME}; choose from {', '.join(known)}")
    return [t for t in task_list if t.name in wanted]


def budget_chars(task: Task, budget: str) -> int:
    """A task's characters for `--budget cpu|gpu` (its declared ones) or a number (every task the same)."""
    if budget in task.budget:
        return task.budget[budget]
    from .grid import parse_budget

    return parse_budget(budget)


# --- scores ------------------------------------------------------------------------------------------


def normalised(accuracy: float, chance: float) -> float | None:
    """(accuracy − chance) / (1 − chance): 0 at chance, 1 when always right; None where chance is 1."""
    return None if chance >= 1 else (accuracy - chance) / (1 - chance)


@dataclass(frozen=True)
class TaskScore:
    """One run's scores on one task (docs/probes.md, "Suite scores"); None where it has nothing to say."""

    in_range: float | None
    generalisation: float | None
    beyond_accuracy: float | None  # raw accuracy beyond D_train, for `solved`
    formed_at: int | None  # characters at which the headline left chance (or the 20-gram, on real text)
    looked: bool  # whether the run looked during training (else formation is unknown, not "never")

    @property
    def solved(self) -> bool | None:
        return None if self.beyond_accuracy is None else self.beyond_accuracy >= SOLVED_AT


def _chance(row: dict, bucket: str) -> float | None:
    chance = row.get("chance")
    if isinstance(chance, dict):
        return chance.get(bucket)
    return chance if isinstance(chance, (int, float)) else None


def _bucket_figures(row: dict, buckets: Iterable[str]) -> list[tuple[float, float]]:
    """(accuracy, chance) of each of `buckets` that has enough events and a chance level."""
    cells = {c["bucket"]: c for c in row.get("buckets") or []}
    out = []
    for b in buckets:
        c, chance = cells.get(b), _chance(row, b)
        if c is None or c.get("too_few") or c.get("accuracy") is None or chance is None:
            continue
        out.append((float(c["accuracy"]), float(chance)))
    return out


def _mean_normalised(figures: list[tuple[float, float]]) -> float | None:
    vals = [v for a, ch in figures if (v := normalised(a, ch)) is not None]
    return sum(vals) / len(vals) if vals else None


def task_score(result, task: Task) -> TaskScore:
    """The scores of a finished run (a RunResult) on `task`: the model row of the headline probe."""
    from .evolution import formation_chars

    row = (((result.probes or {}).get("real") or {}).get(task.probe) or {}).get("model") or {}
    inside = _bucket_figures(row, task.in_range())
    beyond = _bucket_figures(row, task.beyond())
    formed = result.train.get("memory_formed")
    return TaskScore(_mean_normalised(inside), _mean_normalised(beyond),
                     sum(a for a, _ in beyond) / len(beyond) if beyond else None,
                     formation_chars(formed), bool(result.train.get("evolution")))


def validation_score(buckets: dict[str, Sequence[int]], chance: dict[str, float], task: Task) -> float | None:
    """The in-range score on the validation split (`buckets`: {bucket: [events, right]}, `chance` per
    bucket): what a sweep chooses a learning rate by. Buckets under MIN_EVENTS are left out, as in test."""
    figures = [(c[1] / c[0], chance[b]) for b in task.in_range()
               if (c := buckets.get(b)) is not None and c[0] >= st.MIN_EVENTS and b in chance]
    return _mean_normalised(figures)


@dataclass(frozen=True)
class Candidate:
    """One swept learning rate: its validation figures, or diverged (no figures)."""

    lr: float
    validation: float | None  # the in-range headline score on validation
    val_bpc: float | None
    diverged: bool = False


def candidate(result, lr: float) -> Candidate:
    """The validation figures a sweep point's results hold (and nothing from its test split)."""
    if result is None:
        return Candidate(lr, None, None, diverged=True)
    v = (result.suite or {}).get("validation") or {}
    bpc = (result.metrics or {}).get("val_bpc")
    return Candidate(lr, v.get("score"), bpc if isinstance(bpc, (int, float)) and math.isfinite(bpc) else None)


def choose_lr(cands: Sequence[Candidate]) -> Candidate:
    """The rate with the best validation headline score; ties (and rows without one) by the lower validation
    bits/char, then the smaller rate. A GencheckError where every rate diverged."""
    alive = [c for c in cands if not c.diverged and (c.validation is not None or c.val_bpc is not None)]
    if not alive:
        raise GencheckError("every learning rate of the sweep diverged: the task has no point to go on with")

    def key(c: Candidate):
        score = round(c.validation, 6) if c.validation is not None else -math.inf
        return (-score, c.val_bpc if c.val_bpc is not None else math.inf, c.lr)

    return min(alive, key=key)


# --- spreads over seeds and the leaderboard ----------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """A figure over seeds: mean, sample standard deviation (0 for one seed), the range, and the count."""

    mean: float
    sd: float
    lo: float
    hi: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float | None]) -> "Spread | None":
        vals = [float(v) for v in values if v is not None]
        if not vals:
            return None
        return cls(sum(vals) / len(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0, min(vals), max(vals),
                   len(vals))

    def text(self, scale: float = 100.0) -> str:
        if self.n == 1:
            return f"{self.mean * scale:.0f}"
        return f"{self.mean * scale:.0f} ± {self.sd * scale:.0f}"


@dataclass
class Entry:
    """One family on one task: its seeds' scores at the chosen rate and what they cost."""

    task: str
    family: str
    lr: float
    swept: bool
    budget: str
    chars: int
    params: int
    flops_per_char: int | None
    seconds: list[float] = field(default_factory=list)
    scores: list[TaskScore] = field(default_factory=list)

    @property
    def in_range(self) -> Spread | None:
        return Spread.of([s.in_range for s in self.scores])

    @property
    def best(self) -> float | None:
        vals = [s.in_range for s in self.scores if s.in_range is not None]
        return max(vals) if vals else None

    @property
    def generalisation(self) -> Spread | None:
        return Spread.of([s.generalisation for s in self.scores])

    @property
    def solved(self) -> str:
        flags = [s.solved for s in self.scores if s.solved is not None]
        return f"{sum(flags)}/{len(flags)}" if flags else "—"

    def formed(self) -> str:
        """The median characters to formation over the seeds that formed, and how many did."""
        looked = [s for s in self.scores if s.looked]
        if not looked:
            return "not looked"
        got = sorted(s.formed_at for s in looked if s.formed_at is not None)
        if not got:
            return f"— (0/{len(looked)})"
        return f"{_chars(statistics.median(got))} ({len(got)}/{len(looked)})"


def _chars(n: float) -> str:
    return f"{n / 1e6:.1f} M" if n >= 1e6 else f"{n / 1e3:.0f} k"


def stamp(task: Task, suite_version: str, budget: str, role: str, lr: float, family: str, swept: bool,
          validation: dict | None = None) -> dict:
    """What a suite run records in a point's results.json (`suite`): `role` is `sweep` for a rate that was
    not chosen and `seed` for every seed at the chosen one; `swept` says whether a sweep chose it."""
    out = {"version": suite_version, "task": task.name, "budget": budget, "role": role, "lr": lr,
           "family": family, "swept": swept}
    if validation is not None:
        out["validation"] = validation
    return out


def entries(results: Sequence[Any], task_list: Sequence[Task]) -> tuple[str, list[Entry]]:
    """The leaderboard's entries from results files alone: each family × task at its chosen rate, every seed
    there. Refuses results of different suite versions, results without a suite record, and a family whose
    task was trained on two budgets. A sweep point counts as a seed only at the rate that was chosen (its
    `role` is `seed`); the others are the sweep's."""
    stamped = [r for r in results if (r.suite or {}).get("version")]
    if not stamped:
        raise GencheckError("none of these results was written by `gencheck suite run` (no suite record in them)")
    versions = sorted({r.suite["version"] for r in stamped})
    if len(versions) > 1:
        raise GencheckError(f"these results come from different suite versions ({', '.join(versions)}): "
                            "a table compares one version; report each on its own")
    by_name = {t.name: t for t in task_list}
    groups: dict[tuple[str, str], Entry] = {}
    for r in stamped:
        s = r.suite
        if s.get("role") != "seed" or s.get("task") not in by_name:
            continue
        key = (s["task"], s["family"])
        e = groups.get(key)
        if e is None:
            e = groups[key] = Entry(s["task"], s["family"], s["lr"], bool(s.get("swept", True)), s["budget"],
                                    int(r.train.get("steps", 0)) * int(r.train.get("batch_size", 0))
                                    * int(r.train.get("seq_len", 0)),
                                    int(r.model.get("params", 0)), r.model.get("flops_per_char"))
        elif e.budget != s["budget"] or e.lr != s["lr"]:
            raise GencheckError(f"{s['family']} on {s['task']}: results at two budgets or rates "
                                f"({e.budget} at {e.lr:g}, {s['budget']} at {s['lr']:g}); report one")
        e.scores.append(task_score(r, by_name[s["task"]]))
        e.seconds.append(float(r.train.get("seconds", 0.0)))
    order = {t.name: i for i, t in enumerate(task_list)}
    return versions[0], sorted(groups.values(), key=lambda e: (order[e.task], e.family))


def aggregate(ents: Sequence[Entry], task_names: Sequence[str]) -> dict[str, float | None]:
    """Per family, the suite's score: the mean over `task_names` of each task's mean in-range score, every
    task weighted equally; None for a family missing a task (an aggregate over fewer tasks is another
    number)."""
    out: dict[str, float | None] = {}
    for fam in sorted({e.family for e in ents}):
        means = {e.task: e.in_range.mean for e in ents if e.family == fam and e.in_range is not None}
        out[fam] = sum(means[t] for t in task_names) / len(task_names) if all(t in means for t in task_names) else None
    return out
