"""Grid points as Ray tasks: `gencheck run --grid … --engine ray [--address auto] [--resources-per-point gpu=1]`.

`--jobs N` fills one machine; a grid too big for one goes to a Ray cluster instead. Each point is one Ray
task that runs the ordinary run (pipeline.grid_point_worker) in the point's hashed folder, so the folder
scheme stays the one truth about a point: the task asks grid.point_state itself on every try, and a try
that died (a worker killed, a node lost) leaves its successor a checkpoint to resume. Ray retries a point
MAX_RETRIES times; a point that still fails is reported with its last line once the others have finished.

OUT must be a folder every node sees at the same path (a shared file system): the tasks write their
results there and the driver reads them back; nothing is copied (docs/running.md, "Grids on Ray").
Ray is an optional dependency (`pip install 'gencheck[ray]'`), imported only here and only when asked for.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rich.markup import escape

from .config import shown
from .fsutil import GencheckError, TrainingDiverged, UsageError
from .grid import DIVERGED, GridPoint, Slot, Todo, Worker, point_state, record_diverged
from .results import RunResult

INSTALL = "pip install 'gencheck[ray]'"
#: Tries of a point after its first, whatever stopped it: its worker died, or it raised an error.
MAX_RETRIES = 2
#: Test hook (tests/test_ray_engine.py), never for real runs: set to a file path that does not exist yet, the
#: first point to save a checkpoint creates that file and ends its own worker process with os._exit, as a
#: node lost mid-point would. Ray then retries the point, which must resume from that checkpoint.
DIE_AFTER_CHECKPOINT = "GENCHECK_TEST_RAY_DIE_AFTER_CHECKPOINT"
_RESOURCE = re.compile(r"^(cpu|gpu)=(\d+(?:\.\d+)?)$")
#: The most a point may reserve: more CPUs or GPUs than any one machine has is a typing mistake.
MAX_POINT_CPUS = 4096
MAX_POINT_GPUS = 64


def import_ray() -> Any:
    """Ray, or a UsageError naming the install command (checked before anything is built or trained).

    Set before Ray is first imported: its log deduplication (on by default) keys a forwarded line on its words
    without digits, so `[lstm1x16] started on node …` and `[lstm1x24] started on node …` within seconds of
    each other would print as one line; and its colour codes only help on a terminal. A user's own
    RAY_DEDUP_LOGS / RAY_COLOR_PREFIX wins."""
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    if not sys.stderr.isatty():
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")
    try:
        import ray
    except ImportError:
        raise UsageError(f"--engine ray needs Ray, which is not installed here: {INSTALL}") from None
    return ray


@dataclass(frozen=True)
class PointResources:
    """What Ray reserves for each point: whole CPUs (the point's torch threads, so one by default: a point
    then trains bit for bit as with `--jobs` on one thread) and GPUs (a fraction shares one)."""

    cpus: int = 1
    gpus: float = 0.0

    @property
    def slot(self) -> Slot:
        """Where the task trains: Ray hides every GPU but the ones it reserved, so `cuda` is the point's own."""
        return Slot("cuda" if self.gpus else "cpu", self.cpus)


def parse_resources(text: str | None) -> PointResources:
    """`"cpu=2"`, `"gpu=1"`, `"cpu=4 gpu=1"` (or comma-separated) → PointResources; None → one CPU."""
    found: dict[str, float] = {}
    for part in (text or "").replace(",", " ").split():
        m = _RESOURCE.match(part.strip().lower())
        if not m or m.group(1) in found:
            raise UsageError(f"--resources-per-point {text!r}: write cpu=N and/or gpu=N, e.g. \"gpu=1\" or \"cpu=2\"")
        found[m.group(1)] = float(m.group(2))
    cpus, gpus = found.get("cpu", 1.0), found.get("gpu", 0.0)
    if not 1 <= cpus <= MAX_POINT_CPUS or cpus != int(cpus):  # the range first: int() of 400 digits' inf fails
        raise UsageError(f"--resources-per-point {shown(text)!r}: cpu is a whole number of cores from 1 to "
                         f"{MAX_POINT_CPUS:,} (the point's torch threads)")
    if gpus > MAX_POINT_GPUS:
        raise UsageError(f"--resources-per-point {shown(text)!r}: gpu is at most {MAX_POINT_GPUS}")
    return PointResources(int(cpus), gpus)


def check_fits(ray: Any, resources: PointResources) -> None:
    """Refuse, before any point is submitted, a reservation no node of the cluster can give: Ray would keep
    such a task queued forever without a word. A point runs on one node, so one node must have it all."""
    nodes = [n.get("Resources") or {} for n in ray.nodes() if n.get("Alive", True)]
    need = {"CPU": float(resources.cpus), "GPU": float(resources.gpus)}
    if any(all(have.get(k, 0.0) >= v for k, v in need.items() if v > 0) for have in nodes):
        return
    total = ray.cluster_resources()
    raise UsageError(f"--resources-per-point cpu={resources.cpus} gpu={resources.gpus:g}: no node of the Ray "
                     f"cluster has that much (it has {len(nodes)} node(s), {total.get('CPU', 0):g} CPUs and "
                     f"{total.get('GPU', 0):g} GPUs in all); ask for less")


@dataclass(frozen=True)
class PointDone:
    """What a finished task sends back: where its results are, and where and how it ran (for the log)."""

    results: str
    node: str
    resumed: bool
    diverged: str = ""  # the message of a point whose training diverged (grid.DIVERGED in its folder)


def _point_task(worker: Worker, pt: GridPoint, run_dir: Path, slot: Slot, die_marker: str | None) -> PointDone:
    """One try of one point, in a Ray worker. It asks the point's folder what to do (a retry after a death
    resumes), labels its lines with the point, and says on which node it started."""
    from .progress import label_output, log

    label_output(pt.label)
    state = point_state(run_dir)
    node = socket.gethostname()
    if state == "finished":  # an earlier try finished but died before it could answer
        return PointDone(str(run_dir / "results.json"), node, False)
    if state == "diverged":
        return PointDone("", node, False, diverged=f"diverged before ({run_dir / DIVERGED})")
    log(f"started on node {escape(node)}: {'resuming' if state == 'resume' else 'training'} in "
        f"{escape(str(run_dir))} ({slot.threads} thread{'s' * (slot.threads != 1)} on {slot.device})")
    if die_marker:
        _die_after_first_checkpoint(Path(die_marker))
    try:
        return PointDone(str(worker(pt, run_dir, state == "resume", slot)), node, state == "resume")
    except TrainingDiverged as exc:  # a finding about the point, not a failure to retry
        record_diverged(pt, run_dir, exc)
        return PointDone("", node, state == "resume", diverged=str(exc))


def _die_after_first_checkpoint(marker: Path) -> None:
    """The DIE_AFTER_CHECKPOINT test hook: the first checkpoint saved after this (by any point) creates
    `marker` and ends this process at once, with no cleanup, as a killed worker would."""
    from . import train

    save = train.Checkpoint.save

    def save_then_die(self, path: Path) -> None:
        save(self, path)
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # one death in all, whoever saves first
        except FileExistsError:
            return
        os.write(fd, f"{path} at step {self.step}\n".encode())
        os.close(fd)
        os._exit(17)

    train.Checkpoint.save = save_then_die


def last_line(exc: BaseException) -> str:
    """A failed task's error as one line: the point's own exception where Ray kept it, else Ray's reason."""
    cause = getattr(exc, "cause", None)
    err = cause if isinstance(cause, BaseException) else exc
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[-1] if lines else ""
    if isinstance(cause, BaseException) and not isinstance(cause, GencheckError):
        return f"{type(cause).__name__}: {text}"  # a bug's type says more than its message
    return text or type(err).__name__


@dataclass(frozen=True)
class RayEngine:
    """A grid.Engine that runs every point as a Ray task on the cluster at `address` (None: $RAY_ADDRESS's,
    else a local Ray started here on the usable cores and stopped at the end; one already initialised in
    this process is used as it is)."""

    address: str | None = None
    resources: PointResources = PointResources()
    max_retries: int = MAX_RETRIES

    def __call__(self, todo: list[Todo], total: int, worker: Worker,
                 log: Callable[[str], None]) -> dict[int, RunResult | None]:
        ray = import_ray()
        started_here = self._connect(ray)
        try:
            check_fits(ray, self.resources)
            return self._run(ray, todo, total, worker, log)
        finally:
            if started_here:
                ray.shutdown()

    def _connect(self, ray: Any) -> bool:
        """Join the cluster (or start a local Ray); True when this call started it, so it is ours to stop."""
        import logging

        from .train import usable_cores

        if ray.is_initialized():
            return False
        address = self.address or os.environ.get("RAY_ADDRESS")  # Ray's own way to name a cluster, honoured
        local = {"num_cpus": usable_cores(), "include_dashboard": False} if not address else {}
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True, **local)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"Ray at {address}" if address else "a local Ray"
            raise GencheckError(f"{where}: Ray did not start or connect: {str(exc).strip().splitlines()[-1]}") from None
        return True

    def _run(self, ray: Any, todo: list[Todo], total: int, worker: Worker,
             log: Callable[[str], None]) -> dict[int, RunResult | None]:
        from .progress import progress

        task = ray.remote(_point_task).options(num_cpus=self.resources.cpus, num_gpus=self.resources.gpus,
                                               max_retries=self.max_retries, retry_exceptions=True)
        worker_ref = ray.put(worker)  # the corpus travels once, not once per point
        die_marker = os.environ.get(DIE_AFTER_CHECKPOINT)
        pending = {}
        for i, pt, run_dir, resume in todo:
            log(f"grid point {i + 1}/{total} {pt.label} {pt.overrides}: queued on Ray "
                f"({'to resume' if resume else 'new'}) in {escape(str(run_dir))}")
            pending[task.remote(worker_ref, pt, run_dir.absolute(), self.resources.slot, die_marker)] = (i, pt)
        results: dict[int, RunResult | None] = {}
        failed: list[str] = []
        with progress(f"grid on Ray ({len(todo)} points)", len(todo)) as bar:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    i, pt = pending.pop(ref)
                    try:
                        done: PointDone = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - any failure of a task is the point's, reported below
                        why = last_line(exc)
                        failed.append(f"{pt.label}: {why}")
                        log(f"grid point {i + 1}/{total} {pt.label}: [red]failed[/] after {self.max_retries + 1} "
                            f"tries: {escape(why)}")
                    else:
                        if done.diverged:
                            results[i] = None
                            log(f"[yellow]grid point {i + 1}/{total} {pt.label}: diverged, left out of the grid "
                                f"({escape(done.diverged)})[/]")
                            bar.update(len(todo) - len(pending), failed=len(failed))
                            continue
                        results[i] = RunResult.load(Path(done.results))
                        log(f"grid point {i + 1}/{total} {pt.label}: finished on node {escape(done.node)}"
                            + (" (resumed from its checkpoint)" if done.resumed else ""))
                    bar.update(len(todo) - len(pending), failed=len(failed))
        if failed:
            raise GencheckError(f"{len(failed)} grid point(s) failed on Ray after {self.max_retries + 1} tries each "
                                f"({'; '.join(failed)}); re-running the same command resumes them")
        return results
