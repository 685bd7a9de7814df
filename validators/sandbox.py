"""Run one toolchain child (pdflatex, gcc) so that a hostile input costs at most its limits.

Each child runs in its own session (so a wall-clock kill takes its whole process group: gcc's cc1 too),
with RLIMIT_AS, RLIMIT_CPU and RLIMIT_FSIZE set between fork and exec, no core dumps, stdin closed, in a
folder the caller owns (a fresh temporary directory) and with an environment the caller builds from
nothing. Its stdout and stderr go to files in that folder, so the file-size limit holds for them too; the
folder's total size is watched while it runs (`Limits.folder_mb`: the child is killed when it writes more),
and only a bounded head and tail of each stream is read back (`read_bounded`). The child gets SIGKILL when
the process that started it dies (PR_SET_PDEATHSIG), so a killed worker leaves no compile running; where
that is unavailable, the pool's supervisor still removes the folders (pool.py). With `confine`, the child
is held to those folders by Landlock (confine.py).

The limits are set in a `preexec_fn`, which CPython documents as unsafe in a process that runs threads
(the child may deadlock before exec): the judges call this only from the single-threaded worker
processes of the supervised validator pool (`toolchains.judge_many`), never from threads.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

from .confine import Rules, restrict_self

_PDEATHSIG = 1  # prctl(PR_SET_PDEATHSIG)
#: How often the folder's size is looked at while the child runs.
WATCH_S = 0.005


@dataclass(frozen=True)
class Limits:
    """What one toolchain child may use: address space, CPU seconds, wall seconds, bytes per file written,
    bytes in its whole folder, and how much of each output stream is read back."""

    memory_mb: int = 1024
    cpu_s: int = 20
    wall_s: float = 20.0
    file_mb: int = 64
    folder_mb: int = 128
    read_kb: int = 1024


@dataclass(frozen=True)
class Completed:
    """How a child ended: `returncode` is None when the wall clock killed it (`timed_out`); `over_folder`:
    killed for writing more than `Limits.folder_mb` into its folder."""

    returncode: int | None
    stdout: bytes
    stderr: bytes
    seconds: float
    timed_out: bool
    over_folder: bool = False

    @property
    def signalled(self) -> bool:
        """Killed by a signal (SIGXCPU/SIGKILL at RLIMIT_CPU, SIGSEGV when RLIMIT_AS starves it, SIGXFSZ at
        RLIMIT_FSIZE, SIGKILL for its folder's size)."""
        return self.over_folder or (self.returncode is not None and self.returncode < 0)


def _preexec(limits: Limits, parent: int, confine: Rules | None):
    def preexec() -> None:
        import resource

        mb = 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb, limits.file_mb * mb))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        _die_with_parent(parent)
        if confine is not None:
            restrict_self(confine)

    return preexec


def _die_with_parent(parent: int) -> None:
    """SIGKILL this child when the process that started it dies; a parent already gone ends it now."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)  # no ldconfig run in a forked child
    except (OSError, AttributeError):
        return  # not Linux: the pool's supervisor removes what is left
    if os.getppid() != parent:
        os._exit(1)


def folder_bytes(folder: str) -> int:
    """Bytes in every file below `folder` (apparent sizes: a sparse file counts whole)."""
    total = 0
    stack = [folder]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for e in entries:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            stack.append(e.path)
                        else:
                            total += e.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return total


def read_bounded(path: str, limit: int) -> bytes:
    """A file's bytes, or for a longer one its first 3/4 of `limit` and its last 1/4 with a marker between,
    so that neither a first error nor a last one is lost and memory stays bounded."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size <= limit:
                return f.read(limit)
            head = f.read(limit * 3 // 4)
            f.seek(size - limit // 4)
            return head + f"\n[... {size - limit} bytes left out ...]\n".encode() + f.read(limit // 4)
    except OSError:
        return b""


def run_limited(cmd: Sequence[str], cwd: str, env: Mapping[str, str], limits: Limits,
                confine: Rules | None = None) -> Completed:
    """Run `cmd` in `cwd` under `limits` (and `confine`d where given); never raises for the child's behaviour
    (OSError if it cannot start)."""
    t0 = time.perf_counter()
    names = (os.path.join(cwd, ".gencheck-stdout"), os.path.join(cwd, ".gencheck-stderr"))
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    out_fd, err_fd = (os.open(n, flags, 0o600) for n in names)
    try:
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=out_fd,
                                stderr=err_fd, start_new_session=True,
                                preexec_fn=_preexec(limits, os.getpid(), confine))
    finally:
        os.close(out_fd)
        os.close(err_fd)
    try:
        timed_out, over = _watch(proc, cwd, limits)
    except BaseException:  # the pool's soft time limit, a SIGTERM, ^C: the child must not outlive us
        _kill_group(proc)
        proc.wait()
        raise
    out, err = (read_bounded(n, limits.read_kb * 1024) for n in names)
    for n in names:
        try:
            os.unlink(n)
        except OSError:
            pass
    return Completed(None if timed_out else proc.returncode, out, err, time.perf_counter() - t0, timed_out, over)


def _watch(proc: subprocess.Popen, cwd: str, limits: Limits) -> tuple[bool, bool]:
    """Wait for the child, killing its group at the wall-clock limit or when its folder grows past
    `folder_mb`: (timed out, over the folder's size). A pidfd wakes the wait the moment the child ends."""
    deadline = time.monotonic() + limits.wall_s
    cap = limits.folder_mb * 1024 * 1024
    try:
        pidfd: int | None = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = None
    delay = 0.001
    try:
        while proc.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                _kill_group(proc)
                proc.wait()
                return True, False
            if folder_bytes(cwd) > cap:
                _kill_group(proc)
                proc.wait()
                return False, True
            if pidfd is not None:
                select.select([pidfd], [], [], min(WATCH_S, left))
            else:
                time.sleep(min(delay, WATCH_S, left))
                delay *= 2
        return False, False
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the child leads its own session: pid == pgid
    except ProcessLookupError:
        pass
