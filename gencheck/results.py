"""RunResult <-> results.json. The schema is versioned; every figure a scorecard shows is in here."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from gencheck.validators import VERDICTS, Verdict

from .fsutil import GencheckError, atomic_write_json

SCHEMA_VERSION = 1


@dataclass
class VerdictSummary:
    """Verdict counts and the most frequent findings over a set of texts."""

    count: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    top_errors: list[dict] = field(default_factory=list)  # {"kind", "example", "count"}
    mean_seconds: float = 0.0

    def rate(self, verdict: str) -> float:
        return self.counts.get(verdict, 0) / self.count if self.count else float("nan")

    @classmethod
    def of(cls, verdicts: Sequence[Verdict], top: int = 5) -> "VerdictSummary":
        counts = Counter(v.verdict for v in verdicts)
        kinds: Counter[str] = Counter()
        example: dict[str, str] = {}
        for v in verdicts:
            for f in v.findings:
                key = f"{f.kind}: {f.message}" if f.kind in ("env_mismatch",) else f.kind
                kinds[key] += 1
                example.setdefault(key, f.message)
        return cls(
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
    metrics: dict  # val_bpc, test_bpc, unigram_bpc
    samples: VerdictSummary
    calibration: VerdictSummary
    closers: dict  # {"samples": {...}, "real": {...}}
    wall_seconds: float = 0.0
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "RunResult":
        if d.get("schema_version") != SCHEMA_VERSION:
            raise GencheckError(f"results schema_version {d.get('schema_version')} is not {SCHEMA_VERSION}")
        d = dict(d)
        d["samples"] = VerdictSummary(**d["samples"])
        d["calibration"] = VerdictSummary(**d["calibration"])
        return cls(**d)

    def save(self, path: Path) -> None:
        atomic_write_json(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> "RunResult":
        try:
            return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise GencheckError(f"{path} is not a readable results.json: {exc}") from None


def git_commit() -> str | None:
    """The commit of the gencheck checkout this code runs from, if it is one."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
