"""Run one toolchain child (pdflatex, gcc) so that a hostile input costs at most its limits.

Each child runs in its own session (so a wall-clock kill takes its whole process group: gcc's cc1 too),
with RLIMIT_AS, RLIMIT_CPU and RLIMIT_FSIZE set between fork and exec, no core dumps, stdin closed, in a
folder the caller owns (a fresh temporary directory) and with an environment the caller builds from
nothing. The limits are set in a `preexec_fn`, which CPython documents as unsafe in a process that runs
threads (the child may deadlock before exec): the judges call this only from the single-threaded
worker processes of the supervised validator pool (`toolchains.judge_many`), never from threads.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Mapping, Sequence


@dataclass(frozen=True)
class Limits:
    """What one toolchain child may use: address space, CPU seconds, wall seconds, bytes per file written."""

    memory_mb: int = 1024
    cpu_s: int = 20
    wall_s: float = 20.0
    file_mb: int = 64


@dataclass(frozen=True)
class Completed:
    """How a child ended: `returncode` is None when the wall clock killed it (`timed_out`)."""

    returncode: int | None
    stdout: bytes
    stderr: bytes
    seconds: float
    timed_out: bool

    @property
    def signalled(self) -> bool:
        """Killed by a signal (SIGXCPU/SIGKILL at RLIMIT_CPU, SIGSEGV when RLIMIT_AS starves it)."""
        return self.returncode is not None and self.returncode < 0


def _set_limits(limits: Limits):
    def preexec() -> None:
        import resource

        mb = 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb, limits.file_mb * mb))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return preexec


def run_limited(cmd: Sequence[str], cwd: str, env: Mapping[str, str], limits: Limits) -> Completed:
    """Run `cmd` in `cwd` under `limits`; never raises for the child's behaviour (OSError if it cannot start)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(list(cmd), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=_set_limits(limits))
    try:
        out, err = proc.communicate(timeout=limits.wall_s)
        return Completed(proc.returncode, out, err, time.perf_counter() - t0, False)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        return Completed(None, out, err, time.perf_counter() - t0, True)
    except BaseException:  # the pool's soft time limit, ^C: the child must not outlive us
        _kill_group(proc)
        proc.communicate()
        raise


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the child leads its own session: pid == pgid
    except ProcessLookupError:
        pass
