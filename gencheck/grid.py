"""Grids: every combination of a few settings trained on the same character budget and seed, one run folder
per point keyed by a hash of what determines it, and one scorecard that compares them.

    gencheck run --corpus latex --grid "layers=1,2 hidden=64,128,256" --budget 8M

A point's folder is `<out>/grid-<grid hash>/<kind><layers>x<hidden>-<point hash>`; the point hash covers
the whole profile (model, training and sampling settings, seed), the corpus content hash, whether probes
run, and the gencheck version. Re-running a grid skips points whose results.json is there and resumes a
point killed mid-training from its checkpoint (the resume `run --resume` has). Points run one after
another on one device.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

from . import __version__
from .config import Profile, with_overrides
from .fsutil import UsageError, atomic_write_json
from .results import RunResult

#: Settings a grid may vary, with their types (the names of the `run` flags).
GRID_KEYS: dict[str, type] = {"model": str, "layers": int, "hidden": int, "embed": int, "dropout": float,
                              "lr": float, "batch_size": int, "seq_len": int}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)\s*$")


def parse_grid(spec: str) -> list[dict]:
    """`"layers=1,2 hidden=64,128"` → every combination, in order, as `run` overrides."""
    axes: list[tuple[str, list]] = []
    for part in spec.split():
        key, sep, values = part.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in GRID_KEYS or not values:
            raise UsageError(f"--grid {part!r}: write key=v1,v2 with key one of {', '.join(GRID_KEYS)}")
        try:
            vals = [GRID_KEYS[key](v) for v in values.split(",")]
        except ValueError:
            raise UsageError(f"--grid {part!r}: {key} takes {GRID_KEYS[key].__name__} values") from None
        axes.append(("kind" if key == "model" else key, vals))
    if not axes:
        raise UsageError("--grid needs at least one key=v1,v2")
    return [dict(zip([k for k, _ in axes], combo)) for combo in itertools.product(*[v for _, v in axes])]


def parse_budget(text: str) -> int:
    """`30M`, `500k`, `2000000` → characters."""
    m = _SIZE.match(text)
    if not m:
        raise UsageError(f"--budget {text!r}: a number of characters, e.g. 30M or 500k")
    scale = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}[m.group(2).lower()]
    chars = int(float(m.group(1)) * scale)
    if chars <= 0:
        raise UsageError("--budget must be positive")
    return chars


@dataclass(frozen=True)
class GridPoint:
    overrides: dict
    profile: Profile
    key: str

    @property
    def label(self) -> str:
        p = self.profile
        return f"{p.kind}{p.layers}x{p.hidden}"


def points(base: Profile, combos: list[dict], budget_chars: int | None, corpus_hash: str,
           probes: bool) -> list[GridPoint]:
    """Each combination as a profile on the same character budget (steps = budget / (batch × seq_len))."""
    out = []
    for ov in combos:
        p = with_overrides(base, **ov)
        if budget_chars:
            per_step = p.train.batch_size * p.train.seq_len
            p = replace(p, train=replace(p.train, steps=max(1, budget_chars // per_step)))
        blob = json.dumps({"profile": asdict(p), "corpus": corpus_hash, "probes": probes, "gencheck": __version__},
                          sort_keys=True)
        out.append(GridPoint(ov, p, hashlib.sha256(blob.encode()).hexdigest()[:10]))
    return out


def grid_folder(out: Path, corpus_hash: str, pts: list[GridPoint]) -> Path:
    digest = hashlib.sha256((corpus_hash + "".join(p.key for p in pts)).encode()).hexdigest()[:10]
    return out / f"grid-{digest}"


def run_grid(pts: list[GridPoint], folder: Path, run_point: Callable[[GridPoint, Path, bool], RunResult],
             log: Callable[[str], None]) -> list[RunResult]:
    """Run every point not finished yet (`run_point(point, run_dir, resume)`); finished ones are loaded."""
    results = []
    for i, pt in enumerate(pts, 1):
        run_dir = folder / f"{pt.label}-{pt.key}"
        done = run_dir / "results.json"
        if done.is_file():
            log(f"grid point {i}/{len(pts)} {pt.label} {pt.overrides}: finished before, {done}")
            results.append(RunResult.load(done))
            continue
        resume = (run_dir / "checkpoint.pt").is_file()  # a point killed before it has none: run starts it anew
        log(f"grid point {i}/{len(pts)} {pt.label} {pt.overrides}: {'resuming' if resume else 'training'} in {run_dir}")
        results.append(run_point(pt, run_dir, resume))
    atomic_write_json(folder / "grid.json", [{"overrides": p.overrides, "key": p.key, "folder": f"{p.label}-{p.key}"}
                                             for p in pts])
    return results
