"""RunResult <-> results.json. The schema is versioned; every figure a scorecard shows is in here."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from gencheck.validators import VERDICTS, Verdict
from gencheck.validators.base import RATED, TRIVIAL, UNJUDGED, rated, share

from .fsutil import GencheckError, atomic_write_json, read_text_capped
from .schema import RESULTS, ShapeError

SCHEMA_VERSION = 4  # 2: versions; unjudged verdicts; baselines scored per split; stray \end counted; probes; stages
#                     3: toolchain (the judges' opinions: compiles / renders)
#                     4: suite (the task, suite version and role of a point `gencheck suite run` trained)
#: Older schemas this gencheck still reads: each differs only by fields that have a default here.
READABLE_VERSIONS = (2, 3, SCHEMA_VERSION)

#: The largest results.json any command reads: real ones are tens of kB (a grid's hundreds); a sparse or
#: runaway file is refused by its size before a byte is read.
RESULTS_MAX_BYTES = 64 << 20


@dataclass
class VerdictSummary:
    """Verdict counts and the most frequent findings over a set of texts.

    `count` is every text, `counts` has every verdict including `unjudged` (timeout, crash, too long) and
    `trivial` (nothing to judge): neither says whether the text is right, so the rates of valid,
    viable_prefix and invalid are shares of `rated` (`base.share`, as every rate in gencheck). A summary
    written before `trivial` existed has no such key: its rates counted trivial texts as valid."""

    count: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    top_errors: list[dict] = field(default_factory=list)  # {"kind", "example", "count"}
    mean_seconds: float = 0.0
    #: Rated C texts pycparser parsed (`syntax["parses"]`), a figure beside the verdicts (validators/c.py says
    #: why it is not in them); None for other formats, or for a summary written before it was counted.
    parses: int | None = None

    @property
    def judged(self) -> int:
        """Texts the checker finished on (trivial ones included)."""
        return self.count - self.counts.get(UNJUDGED, 0)

    @property
    def rated(self) -> int:
        """Texts the rates are shares of: judged and not trivial."""
        return rated(self.counts)

    @property
    def trivial(self) -> int | None:
        """Trivial texts, or None for a summary written before the verdict existed."""
        return self.counts.get(TRIVIAL)

    @property
    def parse_rate(self) -> float | None:
        """Share of the rated texts that parse; None without a parse count, NaN with no rated text."""
        if self.parses is None:
            return None
        return self.parses / self.rated if self.rated else float("nan")

    def rate(self, verdict: str) -> float:
        """Share of rated texts with `verdict`; for `unjudged` or `trivial`, its share of all texts. NaN if none."""
        return share(self.counts, verdict)

    @classmethod
    def of(cls, verdicts: Sequence[Verdict], top: int = 5) -> "VerdictSummary":
        counts = Counter(v.verdict for v in verdicts)
        kinds: Counter[str] = Counter()
        example: dict[str, str] = {}
        for v in verdicts:
            for f in v.findings:
                if f.kind == TRIVIAL:  # the trivial row counts them; top findings are about what is wrong
                    continue
                key = f"{f.kind}: {f.message}" if f.kind in ("env_mismatch",) else f.kind
                kinds[key] += 1
                example.setdefault(key, f.message)
        rated_texts = [v for v in verdicts if v.verdict in RATED]
        with_parse = [v for v in rated_texts if v.format == "c" and "parses" in v.syntax]  # the scorecard's C row
        return cls(
            parses=sum(v.syntax["parses"] is True for v in with_parse) if with_parse else None,
            count=len(verdicts),
            counts={k: counts.get(k, 0) for k in VERDICTS},
            top_errors=[{"kind": k.split(":")[0], "example": example[k], "count": n} for k, n in kinds.most_common(top)],
            mean_seconds=sum(v.seconds for v in verdicts) / len(verdicts) if verdicts else 0.0,
        )


@dataclass
class RunResult:
    run_id: str
    gencheck_version: str
    git_commit: str | None
    created: str
    device: str
    seed: int
    profile: str
    corpus: dict
    model: dict
    train: dict
    metrics: dict  # val_bpc, test_bpc, unigram_val_bpc, unigram_test_bpc
    samples: VerdictSummary
    calibration: VerdictSummary
    closers: dict  # {"samples": {...}, "real": {...}}
    wall_seconds: float = 0.0
    versions: dict = field(default_factory=dict)  # gencheck, python, torch, numpy, parsers (provenance.py)
    probes: dict = field(default_factory=dict)  # longrange.LongRange.to_json(): see docs/results-schema.md
    stages: dict = field(default_factory=dict)  # wall seconds per stage: corpus, train, score, probes, ...
    toolchain: dict = field(default_factory=dict)  # pipeline.toolchain_summary(): see docs/results-schema.md
    suite: dict = field(default_factory=dict)  # suite.stamp(): the suite version and task of a suite point
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "RunResult":
        """The result a results.json object holds; ValueError (a ShapeError naming the field) when a field
        the commands read is missing or of another type, GencheckError for a schema from elsewhere."""
        if not isinstance(d, dict):
            raise ShapeError("", "an object", d)
        found = d.get("schema_version")
        if found not in READABLE_VERSIONS:
            newer = isinstance(found, int) and found > SCHEMA_VERSION
            raise GencheckError(
                f"results schema_version {found} is not {SCHEMA_VERSION}: written by "
                + ("a newer gencheck; upgrade gencheck to read it" if newer else "an older gencheck; re-run it"))
        RESULTS(d, "")
        d = dict(d)
        d["samples"] = VerdictSummary(**d["samples"])
        d["calibration"] = VerdictSummary(**d["calibration"])
        return cls(**d)

    def save(self, path: Path) -> None:
        atomic_write_json(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> "RunResult":
        """The run in a results.json; one GencheckError line naming the file (and the field) otherwise."""
        try:
            return cls.from_json(json.loads(read_text_capped(path, RESULTS_MAX_BYTES, "results file")))
        except RecursionError:
            raise GencheckError(f"{path} is not a readable results.json: nested too deeply") from None
        except (OSError, ValueError) as exc:
            raise GencheckError(f"{path} is not a readable results.json: {exc}") from None


def git_commit() -> str | None:
    """The commit of the gencheck checkout this code runs from, if it is one."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


#: The training settings that make two runs the same configuration (what differs between seeds is not here).
CONFIGURATION_TRAIN = ("steps", "batch_size", "seq_len", "lr", "precision", "sample_max_chars", "temperature")


def configuration(r: RunResult) -> dict:
    """What a run was asked to do, less its seeds and what it measured: the seeds of one grid point (an
    initialisation or a data order apart) have the same configuration, and nothing else does."""
    return {"corpus": r.corpus.get("content_hash"), "model": {k: v for k, v in r.model.items() if k != "params"},
            "train": {k: r.train.get(k) for k in CONFIGURATION_TRAIN}}
