"""Confining a toolchain child to a few folders with Landlock, so that host files are not there to read.

A lexical guard that decides which `#include` gcc will open has to re-implement cpplib (a form feed before
`#`, a lone carriage return as a line break, `#line 1 "/path"`, `_Pragma` from a macro...) and trails it.
Landlock (Linux ≥ 5.13, unprivileged) makes the kernel refuse every file outside the folders a child is
given: `restrict_self(rules)` is called between fork and exec (sandbox.run_limited's preexec), after
`PR_SET_NO_NEW_PRIVS`, and holds for the child and everything it starts (gcc's cc1). TCP is refused too
where the kernel's Landlock handles it (ABI ≥ 4), and so are signals and abstract sockets outside the
child (ABI ≥ 6).

Where Landlock is not available (another kernel, disabled, not Linux) nothing is confined and
`unavailable()` says why, so the caller can say so (the judges never degrade silently).
"""

from __future__ import annotations

import ctypes
import functools
import os
import stat
import struct
from dataclasses import dataclass

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # the same number on every architecture
_VERSION = 1  # LANDLOCK_CREATE_RULESET_VERSION
_PATH_BENEATH = 1
_NO_NEW_PRIVS = 38
# filesystem rights: execute, write/read file, read dir, remove dir/file, make char/dir/reg/sock/fifo/block/sym
_FS_V1 = (1 << 13) - 1
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_READ = 1 | 4 | 8  # execute, read file, read dir
_FILE_ONLY = 1 | 2 | 4 | _TRUNCATE | _IOCTL_DEV  # the rights a rule on a file (not a folder) may carry


def _libc():
    """The C library's functions (the process's own symbols: no ldconfig run, safe between fork and exec)."""
    return ctypes.CDLL(None, use_errno=True)


@functools.lru_cache(maxsize=1)
def abi() -> int:
    """The kernel's Landlock ABI version, 0 when there is none (or it is disabled)."""
    try:
        libc = _libc()
        version = libc.syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(0, int(version))


def unavailable() -> str | None:
    """Why toolchain children run unconfined here, or None when Landlock confines them."""
    if os.name != "posix" or not hasattr(os, "O_PATH"):
        return "this system has no Landlock (Linux only)"
    if abi() < 1:
        return "this kernel has no Landlock (Linux >= 5.13 with Landlock enabled)"
    return None


def _handled_fs(version: int) -> int:
    return (_FS_V1 | (_REFER if version >= 2 else 0) | (_TRUNCATE if version >= 3 else 0)
            | (_IOCTL_DEV if version >= 5 else 0))


@dataclass(frozen=True)
class Rules:
    """What a confined child may touch: `read` (and execute) below these paths, anything below `write`."""

    read: tuple[str, ...]
    write: tuple[str, ...]


def restrict_self(rules: Rules) -> None:
    """Confine this process (and what it starts) to `rules`; OSError when the kernel refuses. Paths that do
    not exist are skipped. Meant for a child between fork and exec: it only opens, calls and closes."""
    version = abi()
    libc = _libc()

    def call(*args) -> int:
        r = libc.syscall(*args)
        if r < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return r

    handled = _handled_fs(version)
    attr = struct.pack("=QQQ", handled, 3 if version >= 4 else 0, 3 if version >= 6 else 0)
    size = 8 if version < 4 else 16 if version < 6 else 24
    ruleset = call(_CREATE_RULESET, ctypes.create_string_buffer(attr, 24), ctypes.c_size_t(size), ctypes.c_uint32(0))
    try:
        for paths, rights in ((rules.read, _READ), (rules.write, handled)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    allowed = rights if stat.S_ISDIR(os.fstat(fd).st_mode) else rights & _FILE_ONLY & handled
                    call(_ADD_RULE, ruleset, _PATH_BENEATH, ctypes.create_string_buffer(struct.pack("=Qi", allowed, fd), 12),
                         ctypes.c_uint32(0))
                finally:
                    os.close(fd)
        if libc.prctl(_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        call(_RESTRICT_SELF, ruleset, ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
