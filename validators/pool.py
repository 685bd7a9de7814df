"""A supervised worker pool for validating many samples: no sample is lost, none raises.

Why processes: a generated sample can be pathological (deep nesting, catastrophic regex backtracking,
a parser that loops or eats memory). Each sample therefore runs in a worker process with

* a soft time limit (SIGALRM in the worker interrupts Python-level work -> finding `timeout`),
* a hard limit (the parent kills a worker that has not answered `grace` seconds after the soft limit,
  e.g. stuck inside a C call, and starts a fresh one -> finding `timeout`),
* an address-space cap (RLIMIT_AS, `memory_mb`) -> MemoryError -> finding `crash`,
* a raised recursion limit and stack limit (pycparser and pylatexenc recurse),

and anything longer than `max_chars` gets finding `too_long` without being parsed. Every outcome is a
`Verdict`; one the checker could not reach (timeout, crash, too_long) is `unjudged`, not `invalid`: it
says nothing about the text. Results come back in input order.

Processes start from the `forkserver` context (a clean server process that preloads this package; each
worker is forked from it) -- never plain `fork`, which would copy a parent that may hold torch and its
threads. Where forkserver is unavailable, `spawn`. Workers are reused across samples and receive work
in chunks, so start-up is paid once per worker, not per sample.

No code from the working folder runs in a worker: the fork server (and the resource tracker) start with
`python -c`, which puts the working folder first on `sys.path` (Python 3.10 has no `-P`), and a worker
would otherwise import `difflib`, `pylatexenc`, ... from wherever `gencheck validate` was run. So every
start happens from the pool's own empty private folder with the working folder taken off `sys.path`
(`_isolated_start`), and a worker checks at start that its `sys.path` holds no such entry
(`_check_isolated`), before it imports anything.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Callable, Sequence

from .base import UNJUDGED, Finding, Verdict, timed

#: Findings the pool itself gives, in any format, when a sample could not be judged (verdict `unjudged`).
POOL_KINDS: dict[str, str] = {
    "timeout": "unjudged: the check ran past the per-sample time limit (a hung parser is killed and replaced)",
    "crash": "unjudged: the check raised, ran out of memory (RLIMIT_AS) or its worker process died",
    "too_long": "unjudged: longer than max_chars, not parsed",
}
#: Extra seconds after the soft limit before a silent worker is killed.
HARD_GRACE_S = 1.0
#: A worker that dies this many times in a row before finishing any sample ends the run: the
#: remaining samples get `crash` verdicts (e.g. `memory_mb` too small to even import the parsers).
MAX_START_FAILURES = 3
_CHUNK_CHARS = 1_000_000
#: A worker in a slow chunk reports what it has at least this often (progress bars stay live).
REPLY_EVERY_S = 0.2
#: Chunks kept in flight per worker: the next is already in its pipe when it finishes one.
_INFLIGHT = 2
#: Seconds a stopped worker has to finish (an idle one) or unwind its check (a busy one) before SIGKILL.
STOP_GRACE_S = 2.0


class _SoftTimeout(BaseException):
    """Raised by SIGALRM inside a worker; BaseException so checkers' `except Exception` miss it."""


class _Terminated(BaseException):
    """Raised by SIGTERM inside a worker (the supervisor stopping it): the check in progress unwinds, so a
    toolchain child is killed and its temporary folder removed before the worker exits."""


def failed_verdict(fmt: str, kind: str, message: str, chars: int, seconds: float = 0.0) -> Verdict:
    """An `unjudged` verdict carrying one finding that says why the sample was not judged."""
    return Verdict(
        format=fmt,
        verdict=UNJUDGED,
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


def _on_term(signum, frame):  # noqa: ARG001
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the unwinding itself is not interrupted again
    raise _Terminated()


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


def _is_working_folder(entry: str, cwd: str | None) -> bool:
    """True for a sys.path entry that names the working folder: '' and '.' (the folder at import time,
    whatever it is then) or a path that resolves to `cwd`."""
    if entry in ("", "."):
        return True
    try:
        return cwd is not None and os.path.realpath(entry) == cwd
    except (OSError, ValueError):
        return False


def _without_working_folder(path: list[str], cwd: str | None) -> list[str]:
    return [p for p in path if not _is_working_folder(p, cwd)]


def _current_folder() -> str | None:
    try:
        return os.path.realpath(os.getcwd())
    except OSError:  # a removed folder: nothing can be imported from it
        return None


def _check_isolated(user_cwd: str | None) -> None:
    """Refuse to run (the worker dies at start, every sample gets `crash`) when `sys.path` still names the
    working folder -- this one, or the user's (`user_cwd`, where the pool was started from)."""
    here = _current_folder()
    bad = [p for p in sys.path if _is_working_folder(p, here) or _is_working_folder(p, user_cwd)]
    if bad:
        raise RuntimeError(f"validator worker: sys.path names the working folder ({bad[0]!r}); not starting")


@contextmanager
def _isolated_start(folder: str):
    """Start processes from `folder` (the pool's own, empty and private) and without the working folder on
    `sys.path`: a `python -c` child (the fork server, the resource tracker, a spawned worker) puts its
    working folder first on its path, and a started worker receives the parent's path and folder. Both are
    restored as soon as the process has started."""
    saved_path, saved_cwd = list(sys.path), os.getcwd()
    sys.path[:] = _without_working_folder(saved_path, _current_folder())
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        sys.path[:] = saved_path


def _worker_main(conn: Connection, slot, sys_path: list[str], memory_mb: int, setup_module: str | None,
                 tmp: str | None = None, user_cwd: str | None = None) -> None:
    """Worker loop (see `_serve`); SIGTERM ends it cleanly. Temporary files of the checks (a toolchain's
    folders) go in `tmp`, the pool's own folder, which the supervisor removes whatever happens to us."""
    _check_isolated(user_cwd)
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles ^C and stops us
    if tmp is not None:
        import tempfile

        tempfile.tempdir = tmp
    try:
        _serve(conn, slot, sys_path, memory_mb, setup_module)
    except _Terminated:
        pass


def _serve(conn: Connection, slot, sys_path: list[str], memory_mb: int, setup_module: str | None) -> None:
    """Receive chunks [(index, fmt, text)]; answer with lists of (index, Verdict), one list per chunk (or
    every REPLY_EVERY_S on a slow chunk). Before each sample, `slot` (shared memory) is set to (index, start
    time), so the parent can tell which sample hung without a message per sample."""
    for p in reversed(_without_working_folder(sys_path, _current_folder())):
        if p not in sys.path:
            sys.path.insert(0, p)
    _limit_resources(memory_mb)
    signal.signal(signal.SIGALRM, _on_alarm)
    import gencheck.validators  # noqa: F401  (registers the formats)

    if setup_module:
        import importlib

        importlib.import_module(setup_module)
    conn.send(None)  # ready: later deaths are the samples' fault, not start-up failures
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        timeout_s, chunk = msg
        out: list[tuple[int, Verdict]] = []
        last_reply = time.monotonic()
        for index, fmt, text in chunk:
            slot[1] = time.monotonic()  # the start time first: the parent never pairs an index with an old one
            slot[0] = index
            out.append((index, _check_one(fmt, text, timeout_s)))
            if time.monotonic() - last_reply > REPLY_EVERY_S:
                if not _reply(conn, out):
                    return
                out, last_reply = [], time.monotonic()
        slot[0] = -1
        if out and not _reply(conn, out):
            return


def _reply(conn: Connection, out: list) -> bool:
    try:
        conn.send(out)
        return True
    except (BrokenPipeError, OSError):
        return False


# ---------------------------------------------------------------------------------------------
# parent side


def _context():
    """forkserver where available (safe with torch loaded in the parent, fast per worker), else spawn."""
    methods = mp.get_all_start_methods()
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        try:
            ctx.set_forkserver_preload(["gencheck.validators", "gencheck.validators.warm"])
        except Exception:  # noqa: BLE001
            pass
        return ctx
    return mp.get_context("spawn")


@contextmanager
def _main_hidden():
    """Start workers without the parent's `__main__`: spawn/forkserver children re-import it (as
    `__mp_main__`), which runs an unguarded script a second time and kills a `python - <<EOF` child at
    start (its main is `<stdin>`). Workers run only this module's code, so they never need it."""
    main = sys.modules.get("__main__")
    saved = {k: getattr(main, k) for k in ("__file__", "__spec__") if hasattr(main, k)}
    for k in saved:
        setattr(main, k, None) if k == "__spec__" else delattr(main, k)
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(main, k, v)


@dataclass
class _Worker:
    proc: mp.process.BaseProcess
    conn: Connection
    slot: object  # shared (index of the sample being checked or -1, when it started)
    pending: deque = field(default_factory=deque)  # indices sent, not yet answered (in order)
    chunks: deque = field(default_factory=deque)  # last index of each chunk in flight
    ready: bool = False  # the worker finished its imports

    def current(self) -> tuple[int, float]:
        """(index, start time) of the sample the worker is checking now; index -1 when idle."""
        index, started = self.slot[0], self.slot[1]
        return int(index), started


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
        self.tmp: str | None = None  # the pool's temporary folder, made by run() and removed by shutdown()

    def start_worker(self) -> _Worker:
        user_cwd = _current_folder()
        assert self.tmp is not None, "run() makes the pool's folder before any worker starts"
        with _main_hidden(), _isolated_start(self.tmp):
            parent, child = self.ctx.Pipe(duplex=True)
            slot = self.ctx.RawArray("d", [-1.0, 0.0])
            proc = self.ctx.Process(
                target=_worker_main,
                args=(child, slot, list(sys.path), self.memory_mb, self.setup_module, self.tmp, user_cwd),
                daemon=True,
                name="gencheck-validate",
            )
            proc.start()
        child.close()
        return _Worker(proc, parent, slot)

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
        """Enough samples to amortise a round trip, few enough to spread the work over workers: with two
        chunks in flight per worker, at most a quarter of what is left is committed to workers, so they
        run out of work at nearly the same time (32 and /8 measured best of 16-64 and /4-/16)."""
        remaining = len(self.queue)
        size = max(1, min(32, remaining // (self.nworkers * 8) or 1))
        chunk, chars = [], 0
        while self.queue and len(chunk) < size and (not chunk or chars < _CHUNK_CHARS):
            i = self.queue.popleft()
            chunk.append(i)
            chars += len(self.texts[i])
        return chunk

    def dispatch(self, w: _Worker) -> bool:
        """Send `w` the next chunk; False when there is none or the pipe is broken."""
        chunk = self.next_chunk()
        if not chunk:
            return False
        try:
            w.conn.send((self.timeout_s, [(i, self.fmt, self.texts[i]) for i in chunk]))
        except (BrokenPipeError, OSError):
            self.queue.extendleft(reversed(chunk))
            return False  # the dead worker is noticed through its sentinel
        w.pending.extend(chunk)
        w.chunks.append(chunk[-1])
        return True

    def retire(self, w: _Worker, kind: str, why: str) -> None:
        """Kill `w`; the sample it was checking gets a `kind` verdict, the rest of its work is requeued."""
        try:
            w.proc.kill()
        except Exception:  # noqa: BLE001
            pass
        w.proc.join(timeout=5)
        w.conn.close()
        why = why.replace("{exit}", _describe_exit(w.proc.exitcode))
        index, started = w.current()
        if index < 0 or self.results[index] is not None:  # died between samples: blame the next one, so
            index = next((i for i in w.pending if self.results[i] is None), -1)  # a repeat cannot loop
            started = time.monotonic()
        if index >= 0:
            seconds = max(0.0, time.monotonic() - started)
            self.finish(index, failed_verdict(self.fmt, kind, why, len(self.texts[index]), seconds))
        self.queue.extendleft(reversed([i for i in w.pending if self.results[i] is None]))
        self.start_failures = 0 if w.ready else self.start_failures + 1
        self.workers.remove(w)

    def drain(self, w: _Worker) -> bool:
        """Read every answer waiting on `w`'s pipe; False when the pipe is broken."""
        try:
            while w.conn.poll():
                batch = w.conn.recv()
                if batch is None:
                    w.ready = True
                    continue
                for index, v in batch:  # a worker answers in the order it was sent
                    self.finish(index, v)
                    while w.pending and self.results[w.pending[0]] is not None:
                        w.pending.popleft()
                    if w.chunks and w.chunks[0] == index:
                        w.chunks.popleft()
        except (EOFError, OSError):
            return False
        return True

    def run(self) -> list[Verdict]:
        import tempfile

        self.tmp = tempfile.mkdtemp(prefix="gencheck-pool-")
        self.queue.extend(i for i in range(len(self.texts)) if self.results[i] is None)
        hard_s = self.timeout_s + max(HARD_GRACE_S, 0.5 * self.timeout_s)
        try:
            while self.done < len(self.texts):
                if self.start_failures >= MAX_START_FAILURES:
                    self.give_up("worker process failed to start or died repeatedly")
                    break
                if not self.queue and not self.busy():  # nothing queued or in flight, yet not done
                    self.queue.extend(i for i in range(len(self.texts)) if self.results[i] is None)
                while len(self.workers) < min(self.nworkers, len(self.queue) + self.busy()):
                    self.workers.append(self.start_worker())
                for w in self.workers:
                    while len(w.chunks) < _INFLIGHT and self.dispatch(w):
                        pass
                now = time.monotonic()
                busy = [w.current() for w in self.workers if w.pending]
                deadlines = [started + hard_s for index, started in busy if index >= 0]
                wait_s = max(0.0, min(deadlines) - now) if deadlines else 1.0
                objs = [w.conn for w in self.workers] + [w.proc.sentinel for w in self.workers]
                ready = wait(objs, timeout=min(wait_s, 1.0))
                sentinels = {w.proc.sentinel for w in self.workers}
                died = any(o in sentinels for o in ready)
                for w in list(self.workers):
                    ok = self.drain(w)
                    if ok and died and not w.proc.is_alive():
                        self.drain(w)  # answers sent just before it died still count
                        ok = False
                    if not ok:
                        self.retire(w, "crash", "worker process died ({exit})")
                        continue
                    index, started = w.current()
                    if w.pending and index >= 0 and time.monotonic() - started > hard_s:
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
        """Stop every worker: an idle one is told to finish, a busy one (an error or ^C here) gets SIGTERM and
        unwinds its check; one still alive after STOP_GRACE_S is killed. Then the pool's folder is removed,
        with whatever a killed worker's check left in it."""
        for w in self.workers:
            try:
                w.proc.terminate() if w.pending else w.conn.send(None)
            except Exception:  # noqa: BLE001
                pass
        deadline = time.monotonic() + STOP_GRACE_S
        for w in self.workers:
            w.proc.join(timeout=max(0.0, deadline - time.monotonic()))
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(timeout=5)
            w.conn.close()
        self.workers.clear()
        if self.tmp is not None:
            import shutil

            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


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
    max_chars: longer texts get an `unjudged` verdict with finding `too_long`, unparsed.
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


__all__ = ["validate_many", "failed_verdict", "HARD_GRACE_S", "POOL_KINDS"]
