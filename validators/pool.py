"""A supervised worker pool for validating many samples: no sample is lost, none raises.

Why processes: a generated sample can be pathological (deep nesting, catastrophic regex backtracking,
a parser that loops or eats memory). Each sample therefore runs in a worker process with

* a soft time limit (SIGALRM in the worker interrupts Python-level work -> finding `timeout`),
* a hard limit (the parent kills a worker that has not answered `grace` seconds after the soft limit,
  e.g. stuck inside a C call, and starts a fresh one -> finding `timeout`),
* an address-space cap (RLIMIT_AS, `memory_mb`) -> MemoryError -> finding `crash`,
* a raised recursion limit and stack limit (pycparser and pylatexenc recurse),

and anything longer than `max_chars` is judged `too_long` without being parsed. Every outcome is a
`Verdict`; results come back in input order.

Processes start from the `forkserver` context (a clean server process that preloads this package; each
worker is forked from it) -- never plain `fork`, which would copy a parent that may hold torch and its
threads. Where forkserver is unavailable, `spawn`. Workers are reused across samples and receive work
in chunks, so start-up is paid once per worker, not per sample.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Callable, Sequence

from .base import INVALID, Finding, Verdict, timed

#: Extra seconds after the soft limit before a silent worker is killed.
HARD_GRACE_S = 1.0
#: A worker that dies this many times in a row before finishing any sample ends the run: the
#: remaining samples get `crash` verdicts (e.g. `memory_mb` too small to even import the parsers).
MAX_START_FAILURES = 3
_CHUNK_CHARS = 1_000_000


class _SoftTimeout(BaseException):
    """Raised by SIGALRM inside a worker; BaseException so checkers' `except Exception` miss it."""


def failed_verdict(fmt: str, kind: str, message: str, chars: int, seconds: float = 0.0) -> Verdict:
    """An `invalid` verdict carrying one finding that says why the sample was not judged."""
    return Verdict(
        format=fmt,
        verdict=INVALID,
        findings=(Finding(kind, message, 1, 1),),
        syntax={},
        seconds=seconds,
        chars=chars,
    )


# ---------------------------------------------------------------------------------------------
# worker side


def _limit_resources(memory_mb: int) -> None:
    """Cap the address space and give recursive parsers room; failures to set limits are ignored."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))
    try:
        import resource

        if memory_mb and memory_mb > 0:
            cap = memory_mb * 1024 * 1024
            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            if hard != resource.RLIM_INFINITY:
                cap = min(cap, hard)
            resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
        soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
        want = 512 * 1024 * 1024 if hard == resource.RLIM_INFINITY else hard
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_STACK, (want, hard))
    except (ImportError, ValueError, OSError):
        pass


def _on_alarm(signum, frame):  # noqa: ARG001
    raise _SoftTimeout()


def _check_one(fmt: str, text: str, timeout_s: float) -> Verdict:
    """Run one check under the soft time limit; turn every failure into a Verdict."""
    from . import FORMATS

    t0 = time.perf_counter()
    try:
        spec = FORMATS.get(fmt)
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
        try:
            return timed(fmt, spec.check, text)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _SoftTimeout:
        return failed_verdict(fmt, "timeout", f"check exceeded the {timeout_s:g} s time limit", len(text),
                              time.perf_counter() - t0)
    except MemoryError:
        return failed_verdict(fmt, "crash", "MemoryError: check exceeded the worker memory limit", len(text),
                              time.perf_counter() - t0)
    except RecursionError as e:
        return failed_verdict(fmt, "crash", f"RecursionError: {e}", len(text), time.perf_counter() - t0)
    except Exception as e:  # noqa: BLE001 -- a checker bug must not lose the sample
        return failed_verdict(fmt, "crash", f"{type(e).__name__}: {e}"[:500], len(text), time.perf_counter() - t0)


def _worker_main(conn: Connection, sys_path: list[str], memory_mb: int, setup_module: str | None) -> None:
    """Worker loop: receive chunks [(index, fmt, text)], answer (index, Verdict) one by one."""
    for p in reversed(sys_path):
        if p not in sys.path:
            sys.path.insert(0, p)
    _limit_resources(memory_mb)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles ^C and kills us
    import gencheck.validators  # noqa: F401  (registers the formats)

    if setup_module:
        import importlib

        importlib.import_module(setup_module)
    conn.send((-1, None))  # ready: later deaths are the samples' fault, not start-up failures
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        timeout_s, chunk = msg
        for index, fmt, text in chunk:
            v = _check_one(fmt, text, timeout_s)
            try:
                conn.send((index, v))
            except (BrokenPipeError, OSError):
                return


# ---------------------------------------------------------------------------------------------
# parent side


def _context():
    """forkserver where available (safe with torch loaded in the parent, fast per worker), else spawn."""
    methods = mp.get_all_start_methods()
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        try:
            ctx.set_forkserver_preload(["gencheck.validators"])
        except Exception:  # noqa: BLE001
            pass
        return ctx
    return mp.get_context("spawn")


@dataclass
class _Worker:
    proc: mp.process.BaseProcess
    conn: Connection
    pending: deque = field(default_factory=deque)  # indices sent, not yet answered (in order)
    started: float = 0.0  # when the sample now at pending[0] began
    ready: bool = False  # the worker finished its imports
    last_chunk: int = 0  # size of the chunk sent last (a new one is sent when half of it is left)


class _Pool:
    """The supervision loop of one `validate_many` call."""

    def __init__(self, texts, fmt, workers, timeout_s, memory_mb, setup_module, progress):
        self.texts = texts
        self.fmt = fmt
        self.nworkers = workers
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.setup_module = setup_module
        self.progress = progress
        self.results: list[Verdict | None] = [None] * len(texts)
        self.done = 0
        self.queue: deque[int] = deque()
        self.ctx = _context()
        self.workers: list[_Worker] = []
        self.start_failures = 0

    def start_worker(self) -> _Worker:
        parent, child = self.ctx.Pipe(duplex=True)
        proc = self.ctx.Process(
            target=_worker_main,
            args=(child, list(sys.path), self.memory_mb, self.setup_module),
            daemon=True,
            name="gencheck-validate",
        )
        proc.start()
        child.close()
        return _Worker(proc, parent)

    def finish(self, index: int, v: Verdict) -> None:
        if self.results[index] is None:
            self.results[index] = v
            self.done += 1
            if self.progress is not None:
                try:
                    self.progress(self.done)
                except Exception:  # noqa: BLE001 -- a progress bar must not break validation
                    pass

    def next_chunk(self) -> list[int]:
        """Enough samples to amortise a round trip, few enough to spread the work over workers."""
        remaining = len(self.queue)
        size = max(1, min(64, remaining // (self.nworkers * 4) or 1))
        chunk, chars = [], 0
        while self.queue and len(chunk) < size and (not chunk or chars < _CHUNK_CHARS):
            i = self.queue.popleft()
            chunk.append(i)
            chars += len(self.texts[i])
        return chunk

    def dispatch(self, w: _Worker) -> None:
        chunk = self.next_chunk()
        if not chunk:
            return
        try:
            w.conn.send((self.timeout_s, [(i, self.fmt, self.texts[i]) for i in chunk]))
        except (BrokenPipeError, OSError):
            self.queue.extendleft(reversed(chunk))
            return  # the dead worker is noticed through its sentinel
        if not w.pending:
            w.started = time.monotonic()
        w.pending.extend(chunk)
        w.last_chunk = len(chunk)

    def retire(self, w: _Worker, kind: str, why: str) -> None:
        """Kill `w`; its current sample gets a `kind` verdict, the rest of its chunk is requeued."""
        try:
            w.proc.kill()
        except Exception:  # noqa: BLE001
            pass
        w.proc.join(timeout=5)
        w.conn.close()
        why = why.replace("{exit}", _describe_exit(w.proc.exitcode))
        if w.pending:
            i = w.pending.popleft()
            seconds = time.monotonic() - w.started
            self.finish(i, failed_verdict(self.fmt, kind, why, len(self.texts[i]), seconds))
            self.queue.extendleft(reversed(w.pending))
        self.start_failures = 0 if w.ready else self.start_failures + 1
        self.workers.remove(w)

    def drain(self, w: _Worker) -> bool:
        """Read every answer waiting on `w`'s pipe; False when the pipe is broken."""
        try:
            while w.conn.poll():
                index, v = w.conn.recv()
                if index < 0:
                    w.ready = True
                    continue
                if w.pending and w.pending[0] == index:
                    w.pending.popleft()
                self.finish(index, v)
                w.started = time.monotonic()
        except (EOFError, OSError):
            return False
        return True

    def run(self) -> list[Verdict]:
        self.queue.extend(i for i in range(len(self.texts)) if self.results[i] is None)
        hard_s = self.timeout_s + max(HARD_GRACE_S, 0.5 * self.timeout_s)
        try:
            while self.done < len(self.texts):
                if self.start_failures >= MAX_START_FAILURES:
                    self.give_up("worker process failed to start or died repeatedly")
                    break
                while len(self.workers) < min(self.nworkers, len(self.queue) + self.busy()):
                    self.workers.append(self.start_worker())
                for w in self.workers:
                    # Keep a second chunk queued behind the one in progress, so a worker never idles
                    # waiting for the supervisor between chunks.
                    if len(w.pending) <= w.last_chunk // 2:
                        self.dispatch(w)
                now = time.monotonic()
                deadlines = [w.started + hard_s for w in self.workers if w.pending]
                wait_s = max(0.0, min(deadlines) - now) if deadlines else 0.05
                objs = [w.conn for w in self.workers] + [w.proc.sentinel for w in self.workers]
                wait(objs, timeout=min(wait_s, 1.0))
                for w in list(self.workers):
                    ok = self.drain(w)
                    if ok and not w.proc.is_alive():
                        ok = self.drain(w) and False  # answers sent just before it died still count
                    if not ok:
                        self.retire(w, "crash", "worker process died ({exit})")
                    elif w.pending and time.monotonic() - w.started > hard_s:
                        self.retire(w, "timeout", f"check exceeded the {self.timeout_s:g} s time limit "
                                                   f"and was killed after {hard_s:g} s")
        finally:
            self.shutdown()
        return [r for r in self.results]  # type: ignore[misc]

    def busy(self) -> int:
        return sum(1 for w in self.workers if w.pending)

    def give_up(self, why: str) -> None:
        for i in range(len(self.texts)):
            if self.results[i] is None:
                self.finish(i, failed_verdict(self.fmt, "crash", why, len(self.texts[i])))

    def shutdown(self) -> None:
        for w in self.workers:
            try:
                w.conn.send(None)
            except Exception:  # noqa: BLE001
                pass
        deadline = time.monotonic() + 1.0
        for w in self.workers:
            w.proc.join(timeout=max(0.0, deadline - time.monotonic()))
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(timeout=5)
            w.conn.close()
        self.workers.clear()


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def validate_many(
    texts: Sequence[str],
    fmt: str,
    *,
    workers: int = 1,
    timeout_s: float = 5.0,
    max_chars: int = 2_000_000,
    memory_mb: int = 1024,
    progress: Callable[[int], None] | None = None,
    setup_module: str | None = None,
) -> list[Verdict]:
    """Validate `texts` as `fmt` in supervised worker processes; one Verdict per text, in order.

    workers: processes to use (0 or 1 both mean one worker process: the time limit needs one).
    timeout_s: per-sample soft limit; a worker silent for max(1 s, timeout_s/2) longer is killed.
    max_chars: longer texts get an `invalid` verdict with finding `too_long`, unparsed.
    memory_mb: RLIMIT_AS per worker (0 disables the cap).
    progress: called with the number of samples finished so far, after each one.
    setup_module: a module each worker imports first (e.g. one that registers an extra format).
    Raises only for an unknown `fmt` (a usage error); sample failures are verdicts.
    """
    from . import FORMATS

    if setup_module:
        import importlib

        importlib.import_module(setup_module)
    FORMATS.get(fmt)  # unknown format: UnknownNameError before any work starts
    texts = list(texts)
    pool = _Pool(texts, fmt, max(1, int(workers)), float(timeout_s), int(memory_mb), setup_module, progress)
    for i, text in enumerate(texts):
        if len(text) > max_chars:
            pool.finish(i, failed_verdict(fmt, "too_long", f"{len(text)} characters > max_chars={max_chars}", len(text)))
    if pool.done == len(texts):
        return pool.results  # type: ignore[return-value]
    return pool.run()


__all__ = ["validate_many", "failed_verdict", "HARD_GRACE_S"]
