"""Grids: every combination of a few settings trained on the same character budget and seed, one run folder
per point keyed by a hash of what determines it, and one scorecard that compares them.

    gencheck run --corpus latex --grid "layers=1,2 hidden=64,128,256" --budget 8M
    gencheck run --corpus latex --grid "layers=1,2 hidden=64,128,256" --minutes 2 --seeds 3

A point's folder is `<out>/grid-<grid hash>/<kind><layers>x<hidden>-<point hash>`; the point hash covers
the whole profile (model, training and sampling settings, seed), the corpus content hash, whether probes
run, and the gencheck version. Re-running a grid skips points whose results.json is there and resumes a
point killed mid-training from its checkpoint (the resume `run --resume` has). Points run one after
another on one device by default; `--jobs N` runs N at once, each in its own process: one per GPU on a
machine with several (cuda:0 … cuda:N−1), or on the CPU with the usable cores shared out (docs/running.md,
"Grids": on two cores, two one-thread points finish a grid sooner than one two-thread point at a time).

`--minutes N` is turned into one character budget for all points: each point's real training step is
timed here for a few seconds, in two rounds over all points (the best of each counts), and the budget is N minutes at the slowest point's speed, so every point
sees the same characters and none trains much longer than N minutes. The measured budget is kept in
`<out>/grid-minutes-<hash>.json`, so a re-run finds the same points (and skips the finished ones).
`--seeds K` repeats every point with seeds seed, seed+1, …; the grid scorecard then shows mean ± spread.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import multiprocessing as mp
import re
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Literal

from rich.markup import escape

from . import __version__
from .config import Profile, shown, unused_settings, with_overrides
from .fsutil import GencheckError, TrainingDiverged, UsageError, atomic_write_json
from .results import RunResult

#: Settings a grid may vary, with their types (the names of the `run` flags).
GRID_KEYS: dict[str, type] = {"model": str, "layers": int, "hidden": int, "embed": int, "dropout": float,
                              "lr": float, "batch_size": int, "seq_len": int, "context": int, "heads": int}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)\s*$")
#: The largest character budget (--budget, --match params=, --warm-start NAME:CHARS): a trillion characters,
#: beyond any run, so that a value of hundreds of digits is refused instead of overflowing a float.
MAX_CHARS = 10**12


def parse_grid(spec: str) -> list[dict]:
    """`"layers=1,2 hidden=64,128"` → every combination, in order, as `run` overrides. Per-family settings
    (`conv.layers=8`, see `family_settings`) are not axes and are left to `with_family_settings`."""
    axes: list[tuple[str, list]] = []
    for part in spec.split():
        key, sep, values = part.partition("=")
        key = key.strip().replace("-", "_")
        if "." in key:
            continue
        if not sep or key not in GRID_KEYS or not values:
            raise UsageError(f"--grid {part!r}: write key=v1,v2 with key one of {', '.join(GRID_KEYS)}")
        if any(k == ("kind" if key == "model" else key) for k, _ in axes):  # the later one silently won
            raise UsageError(f"--grid: {key} is given twice; give its values once, {key}=v1,v2")
        axes.append(("kind" if key == "model" else key, [_grid_value(part, key, v) for v in values.split(",")]))
    if not axes and not family_settings(spec):
        raise UsageError("--grid needs at least one key=v1,v2")
    return [dict(zip([k for k, _ in axes], combo)) for combo in itertools.product(*[v for _, v in axes])]


def _grid_value(part: str, key: str, value: str):
    """One value of a grid key, of the key's type and in its range (config.LIMITS, as for its flag)."""
    from .config import setting_problem

    try:
        parsed = GRID_KEYS[key](value)
    except ValueError:
        raise UsageError(f"--grid {part!r}: {key} takes {GRID_KEYS[key].__name__} values") from None
    why = setting_problem(key, parsed)
    if why is not None:
        raise UsageError(f"--grid {part!r}: {key} {value}: {why}")
    return parsed


def family_settings(spec: str) -> dict[str, dict]:
    """`"model=lstm,conv conv.layers=8"` → {"conv": {"layers": 8}}: a setting for one family's points only.
    Families differ in what depth means (a causal convolution of 2 layers sees 7 characters, an LSTM of 2
    layers is deep), so a family grid gives each family its own depth or window without making it an axis."""
    from .config import MODEL_KINDS

    out: dict[str, dict] = {}
    for part in spec.split():
        key, sep, value = part.partition("=")
        family, dot, name = key.strip().replace("-", "_").partition(".")
        if not dot:
            continue
        if family not in MODEL_KINDS or name not in GRID_KEYS or name == "model" or not sep or not value:
            raise UsageError(f"--grid {part!r}: a per-family setting is FAMILY.key=value, FAMILY one of "
                             f"{', '.join(MODEL_KINDS)} and key one of {', '.join(k for k in GRID_KEYS if k != 'model')}")
        if "," in value:
            raise UsageError(f"--grid {part!r}: a per-family setting takes one value (make {name} an axis instead)")
        out.setdefault(family, {})[name] = _grid_value(part, name, value)
    return out


def with_family_settings(combos: list[dict], settings: dict[str, dict], base_kind: str) -> list[dict]:
    """Each combination with its family's own settings (`family_settings`) added; a setting that is also an
    axis is refused (which would win is not obvious)."""
    out = []
    for c in combos:
        own = settings.get(c.get("kind", base_kind), {})
        both = sorted(set(own) & set(c))
        if both:
            raise UsageError(f"--grid: {', '.join(both)} is both an axis and a per-family setting")
        out.append({**c, **own})
    return out


def parse_budget(text: str, flag: str = "--budget") -> int:
    """`30M`, `500k`, `2000000` → characters."""
    m = _SIZE.match(text)
    if not m:
        raise UsageError(f"{flag} {shown(text)!r}: a number of characters, e.g. 30M or 500k")
    from decimal import Decimal

    scale = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}[m.group(2).lower()]
    chars = int(Decimal(m.group(1)) * scale)  # exact for any number of digits (a float overflowed at 309)
    if chars <= 0:
        raise UsageError(f"{flag} {shown(text)!r}: must be positive")
    if chars > MAX_CHARS:
        raise UsageError(f"{flag} {shown(text)!r}: more than {MAX_CHARS:,}, the most allowed")
    return chars


@dataclass(frozen=True)
class GridPoint:
    overrides: dict
    profile: Profile
    key: str

    @property
    def label(self) -> str:
        p = self.profile
        return (f"{p.kind}{p.layers}x{p.hidden}" + (f"-s{p.train.seed}" if "seed" in self.overrides else "")
                + (f"-d{p.train.data_seed}" if "data_seed" in self.overrides else ""))


def with_seeds(combos: list[dict], seeds: int, base_seed: int, data_seeds: int = 1,
               base_data_seed: int | None = None) -> list[dict]:
    """Each combination with `seeds` initialisations (seed base, base+1, …) and `data_seeds` orders of the
    training data (data seed base, base+1, …), every pair; what is not varied is held: with --seeds alone
    the data's order is the base seed's, so the spread is the initialisation's. Unchanged when both are 1,
    so the points' keys and folders stay those of a grid run before --seeds."""
    for flag, k in (("--seeds", seeds), ("--data-seeds", data_seeds)):
        if k < 1:
            raise UsageError(f"{flag} {k}: give at least 1")
    if seeds == 1 and data_seeds == 1:
        return combos
    data_base = base_seed if base_data_seed is None else base_data_seed
    out = []
    for ov in combos:
        for k in range(seeds):
            for j in range(data_seeds):
                point = {**ov, "data_seed": data_base + j}
                out.append({**point, "seed": base_seed + k} if seeds > 1 else point)
    return out


def points(base: Profile, combos: list[dict], budget_chars: int | None, corpus_hash: str,
           probes: bool) -> list[GridPoint]:
    """Each combination as a profile on the same character budget (steps = budget / (batch × seq_len))."""
    out = []
    for ov in combos:
        p = with_overrides(base, **ov)
        if budget_chars:
            per_step = p.train.batch_size * p.train.seq_len
            p = replace(p, train=replace(p.train, steps=max(1, budget_chars // per_step)))
        identity = {k: v for k, v in asdict(p).items() if k != "note"}  # the note explains, it is not a setting
        # settings added later count only when used, so older grids keep their folders
        later = (("warm_start", "warm_chars") if not p.train.warm_start else ()) + (
            ("data_seed",) if p.train.data_seed is None else ())
        identity["train"] = {k: v for k, v in identity["train"].items() if k not in later}
        for k in unused_settings(p.kind):  # likewise the settings of other model families
            identity.pop(k)
        blob = json.dumps({"profile": identity, "corpus": corpus_hash, "probes": probes, "gencheck": __version__},
                          sort_keys=True)
        key = hashlib.sha256(blob.encode()).hexdigest()[:10]
        if key not in {q.key for q in out}:  # "model=lstm,transformer context=64,128": the LSTM once
            out.append(GridPoint(ov, p, key))
    return out


def grid_folder(out: Path, corpus_hash: str, pts: list[GridPoint]) -> Path:
    digest = hashlib.sha256((corpus_hash + "".join(p.key for p in pts)).encode()).hexdigest()[:10]
    return out / f"grid-{digest}"


@dataclass(frozen=True)
class Slot:
    """Where one parallel grid point runs: a device, and for the CPU the torch threads it may use."""

    device: str
    threads: int | None = None


def job_slots(jobs: int, device: str, cuda_devices: int, cores: int) -> list[Slot]:
    """`--jobs N` as N slots: one GPU each on CUDA (N at most the GPUs there are), or the usable cores
    shared out on the CPU (at least one each: more processes than cores only slows every one of them)."""
    if jobs < 1:
        raise UsageError(f"--jobs {jobs}: give at least 1")
    if jobs == 1:
        return [Slot(device)]
    if device.startswith("cuda"):
        if ":" in device:
            raise UsageError(f"--jobs {jobs} puts one point on each GPU: leave --device as cuda or auto, not {device}")
        if jobs > cuda_devices:
            raise UsageError(f"--jobs {jobs}: this machine has {cuda_devices} CUDA device(s), and a grid puts one "
                             f"point on each; give --jobs {cuda_devices} or fewer")
        return [Slot(f"cuda:{i}") for i in range(jobs)]
    if device != "cpu":
        raise UsageError(f"--jobs {jobs} runs points in parallel on CUDA devices or the CPU, not on {device}")
    if jobs > cores:
        raise UsageError(f"--jobs {jobs}: this process may use {cores} core(s), and each parallel point needs one; "
                         f"give --jobs {cores} or fewer")
    return [Slot("cpu", cores // jobs) for _ in range(jobs)]


#: `worker(point, run_dir, resume, slot) -> path of results.json`, run in a process of its own; it must be
#: picklable (a module-level function, or a functools.partial of one).
Worker = Callable[[GridPoint, Path, bool, Slot], Path]


#: One point still to run: its index in the grid, the point, its folder, and whether it resumes a checkpoint.
Todo = tuple[int, GridPoint, Path, bool]
#: `engine(todo, total, worker, log) -> {index: result}`: runs the points elsewhere (gencheck.ray_engine),
#: each with `worker`; it raises a GencheckError naming the points that failed, after the others finished.
Engine = Callable[[list[Todo], int, Worker, Callable[[str], None]], dict[int, RunResult | None]]


#: The file a point whose training diverged leaves in its folder (its message), so that a re-run skips it.
DIVERGED = "diverged.json"


def point_state(run_dir: Path) -> Literal["finished", "diverged", "resume", "new"]:
    """Whether a point's folder holds a finished run (skip it), a diverged one (skip it: its loss became
    non-finite, a finding about its settings), a killed one (resume its checkpoint) or none yet. One answer
    for every engine, asked again by a retried Ray task: a try that died after a checkpoint leaves its
    successor a run to resume, and one that died before its first leaves nothing to keep."""
    if (run_dir / "results.json").is_file():
        return "finished"
    if (run_dir / DIVERGED).is_file():
        return "diverged"
    return "resume" if (run_dir / "checkpoint.pt").is_file() else "new"


def record_diverged(pt: GridPoint, run_dir: Path, exc: TrainingDiverged) -> None:
    """Leave DIVERGED in a point's folder (its settings and message), where every engine's re-run finds it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / DIVERGED, {"overrides": pt.overrides, "message": str(exc)})


def _diverged(i: int, total: int, pt: GridPoint, run_dir: Path, exc: TrainingDiverged,
              log: Callable[[str], None]) -> None:
    """Record a diverged point in its folder and say so; the grid goes on with the others."""
    record_diverged(pt, run_dir, exc)
    log(f"[yellow]grid point {i + 1}/{total} {pt.label} {pt.overrides}: diverged, left out of the grid "
        f"({escape(str(exc))})[/]")


def run_grid(pts: list[GridPoint], folder: Path, run_point: Callable[[GridPoint, Path, bool], RunResult],
             log: Callable[[str], None], slots: list[Slot] | None = None,
             worker: Worker | None = None, engine: Engine | None = None) -> list[RunResult | None]:
    """Run every point not finished yet (`run_point(point, run_dir, resume)` here, with several `slots`
    `worker` in a process per slot, or with an `engine` `worker` wherever it puts them); finished ones are
    loaded. Results come back in the points' order, None for a point whose training diverged (a learning
    rate too high is a finding of the grid, not the end of it)."""
    results: dict[int, RunResult | None] = {}
    todo: list[Todo] = []
    for i, pt in enumerate(pts):
        run_dir = folder / f"{pt.label}-{pt.key}"
        state = point_state(run_dir)
        if state == "finished":
            done = run_dir / "results.json"
            log(f"grid point {i + 1}/{len(pts)} {pt.label} {pt.overrides}: finished before, {escape(str(done))}")
            results[i] = RunResult.load(done)
        elif state == "diverged":
            log(f"grid point {i + 1}/{len(pts)} {pt.label} {pt.overrides}: diverged before "
                f"({escape(str(run_dir / DIVERGED))}), left out")
            results[i] = None
        else:
            todo.append((i, pt, run_dir, state == "resume"))
    if engine is not None and worker is not None and todo:
        results.update(engine(todo, len(pts), worker, log))
    elif slots and len(slots) > 1 and worker is not None and len(todo) > 1:
        results.update(_run_parallel(todo, len(pts), slots, worker, log))
    else:
        for i, pt, run_dir, resume in todo:
            log(f"grid point {i + 1}/{len(pts)} {pt.label} {pt.overrides}: "
                f"{'resuming' if resume else 'training'} in {escape(str(run_dir))}")
            try:
                results[i] = run_point(pt, run_dir, resume)
            except TrainingDiverged as exc:
                _diverged(i, len(pts), pt, run_dir, exc, log)
                results[i] = None
    atomic_write_json(folder / "grid.json", [{"overrides": p.overrides, "key": p.key, "folder": f"{p.label}-{p.key}"}
                                             for p in pts])
    return [results[i] for i in range(len(pts))]


def _run_parallel(todo: list[Todo], total: int, slots: list[Slot], worker: Worker,
                  log: Callable[[str], None]) -> dict[int, RunResult | None]:
    """Each slot has one worker process (spawned: a forked CUDA or torch thread pool is not safe), fed the
    next point as soon as its last one finishes. A point that fails stops the grid with its error, after the
    points running beside it finish (their folders stay resumable either way)."""
    ctx = mp.get_context("spawn")
    pools = [ProcessPoolExecutor(max_workers=1, mp_context=ctx) for _ in slots]
    free = list(range(len(slots)))
    queue = list(todo)
    running: dict[Future, tuple[int, int, GridPoint, Path]] = {}
    results: dict[int, RunResult | None] = {}
    failure: BaseException | None = None
    try:
        while queue or running:
            while queue and free and failure is None:
                i, pt, run_dir, resume = queue.pop(0)
                k = free.pop(0)
                log(f"grid point {i + 1}/{total} {pt.label} {pt.overrides}: {'resuming' if resume else 'training'} "
                    f"in {escape(str(run_dir))} on {slots[k].device}" + (f" ({slots[k].threads} thread{'s' * (slots[k].threads != 1)})"
                                                       if slots[k].threads else ""))
                running[pools[k].submit(worker, pt, run_dir, resume, slots[k])] = (k, i, pt, run_dir)
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                k, i, pt, run_dir = running.pop(fut)
                free.append(k)
                try:
                    results[i] = RunResult.load(fut.result())
                    log(f"grid point {i + 1}/{total} {pt.label}: finished")
                except TrainingDiverged as exc:
                    _diverged(i, total, pt, run_dir, exc, log)
                    results[i] = None
                except BrokenProcessPool:  # its process died (killed, out of memory): not a Python error
                    failure = failure or GencheckError(
                        f"grid point {i + 1}/{total} {pt.label}: its worker process died before it finished; "
                        "re-running the same command resumes it from its last checkpoint")
                except BaseException as exc:  # noqa: BLE001 - re-raised below, once the others are done
                    failure = failure or exc
    finally:
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)
    if failure is not None:
        raise failure
    return results


TIMING_ROUNDS = 2
#: The most minutes --minutes may ask of each point (about two years): the budget stays a finite number.
MAX_MINUTES = 1_000_000.0


def check_minutes(minutes: float) -> None:
    """--minutes must be a positive, finite number (NaN and infinity crashed after timing; 0 was ignored)."""
    if not (math.isfinite(minutes) and 0 < minutes <= MAX_MINUTES):
        raise UsageError(f"--minutes {minutes:g}: give a positive number of minutes (at most {MAX_MINUTES:,.0f})")


def saved_budget(path: Path) -> int:
    """The budget a grid-minutes file keeps; a UsageError naming the file when it is damaged (the budget
    decides every point's folder, so a wrong one is never used, nor silently measured anew)."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        why = "no budget in it"
    except (OSError, ValueError, RecursionError) as exc:
        saved, why = None, f"{type(exc).__name__}: {exc}".splitlines()[0][:120]
    budget = saved.get("budget") if isinstance(saved, dict) else None
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
        if budget is not None:
            why = f"budget {budget!r} is not a positive whole number of characters"
        raise UsageError(f"{path} is damaged ({why}): delete it to measure the budget again")
    return budget


def minutes_budget(minutes: float, pts: list[GridPoint], corpus_hash: str, device_label: str, out: Path,
                   rate_of: Callable[[GridPoint], float], log: Callable[[str], None]) -> int:
    """`--minutes N` as characters: N minutes at the slowest point's measured chars/s (`rate_of`), kept in
    `out/grid-minutes-<hash>.json` so that re-running the grid reuses it instead of measuring again."""
    check_minutes(minutes)
    blob = json.dumps({"minutes": minutes, "corpus": corpus_hash, "device": device_label, "gencheck": __version__,
                       "points": [p.key for p in pts]}, sort_keys=True)
    path = out / f"grid-minutes-{hashlib.sha256(blob.encode()).hexdigest()[:10]}.json"
    if path.is_file():
        budget = saved_budget(path)
        log(f"--minutes {minutes:g}: the budget measured before, {budget:,} characters ({escape(str(path))})")
        return budget
    rates: dict[str, float] = {}
    for rnd in range(TIMING_ROUNDS):  # rounds over all points, the best of each: a busy moment on a shared
        for i, p in enumerate(pts, 1):  # machine slows one round, not the budget
            rates[p.label] = max(rates.get(p.label, 0.0), rate_of(p))
            log(f"timing grid point {i}/{len(pts)} {p.label}, round {rnd + 1}/{TIMING_ROUNDS}: "
                f"{rates[p.label]:,.0f} chars/s (best so far)")
    slowest = min(rates, key=rates.get)
    budget = max(1, int(minutes * 60 * rates[slowest]))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"minutes": minutes, "device": device_label, "rates": rates, "slowest": slowest,
                             "budget": budget})
    log(f"--minutes {minutes:g}: {budget:,} characters for every point ({slowest}, the slowest, at "
        f"{rates[slowest]:,.0f} chars/s)")
    return budget
