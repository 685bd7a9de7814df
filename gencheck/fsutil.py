"""Files written so that a crash or a full disk never leaves a partial file in place of a good one."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, IO, Iterator

try:
    import fcntl
except ImportError:  # not POSIX: run folders are not locked
    fcntl = None  # type: ignore[assignment]


class GencheckError(Exception):
    """An error for a human: the CLI prints its message on one line and exits non-zero."""

    exit_code = 1


class UsageError(GencheckError):
    exit_code = 2


class TrainingDiverged(GencheckError):
    """The loss became non-finite: a finding about the settings (a learning rate too high), which a grid
    records for its point and goes on past (gencheck.grid), where one run stops with it."""


def gencheck_home() -> Path:
    """Data dir for downloads and built corpora: $GENCHECK_HOME, default ~/.cache/gencheck."""
    env = os.environ.get("GENCHECK_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gencheck"


def current_umask() -> int:
    """The process umask, read from /proc where it can be (os.umask can only read it by setting it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o077)  # racy with other threads for an instant; only where /proc has no Umask line
    os.umask(old)
    return old


def file_mode_for(path: Path) -> int:
    """The mode a rewrite of `path` gets: the mode it has, or 0o666 less the umask for a new file.

    mkstemp makes 0600 files, and a rename would carry that onto a shared results.json or checkpoint;
    keeping an existing file's mode is what rewriting it in place would have done."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~current_umask()


def os_error_behind(exc: BaseException) -> OSError | None:
    """The OSError itself, or one a RuntimeError wraps (torch.save reports a failed write that way)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, OSError):
            return cur
        if not isinstance(cur, RuntimeError):
            return None
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write via a temp file in the same folder, fsync, then rename over `path`.

    On any failure the temp file is removed and `path` is left as it was; a failed write (an OSError,
    also one wrapped in a RuntimeError) becomes one GencheckError naming `path`, anything else propagates."""
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), file_mode_for(path))
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        os_exc = os_error_behind(exc)
        if os_exc is not None:
            raise GencheckError(f"could not write {path}: {os_exc.strerror or os_exc}") from exc
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


#: Bytes of the pid record at the start of a lock file: written over, never truncated.
_PID_RECORD = 20


@contextmanager
def locked_dir(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on folder/.lock, so that two gencheck processes never write one run folder.

    flock is released by the kernel when the holder exits, however it dies; the file keeps the holder's
    pid for the error message and is never deleted (deleting a lock file races with its next holder).
    The lock is opened without following a symlink and must be a regular file with one link, and it is
    never truncated: a .lock planted as a link to another file cannot make gencheck write that file."""
    folder = Path(folder)
    if fcntl is None:
        yield
        return
    fd = _open_lock(folder)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode("ascii", "replace").split("\n")[0].strip() or "unknown"
            raise GencheckError(f"run folder {folder} is in use by another gencheck (pid {pid})") from None
        except OSError as exc:
            raise GencheckError(f"could not lock run folder {folder}: {exc.strerror or exc}") from None
        os.pwrite(fd, f"{os.getpid():<{_PID_RECORD}}\n".encode("ascii"), 0)
        try:
            yield
        finally:
            os.pwrite(fd, f"{'':<{_PID_RECORD}}\n".encode("ascii"), 0)
    finally:
        os.close(fd)


def _open_lock(folder: Path) -> int:
    """folder/.lock opened for writing: created if absent; a symlink, a hard link or anything but a regular
    file is a GencheckError naming it."""
    lock = folder / ".lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        why = {errno.ELOOP: "it is a symbolic link", errno.EISDIR: "not a regular file"}.get(
            exc.errno or 0, exc.strerror or str(exc))
        raise GencheckError(f"could not lock run folder {folder}: {lock}: {why}") from None
    st = os.fstat(fd)
    why = ("not a regular file" if not stat.S_ISREG(st.st_mode)
           else f"it has {st.st_nlink} hard links (another file's)" if st.st_nlink != 1 else None)
    if why is not None:
        os.close(fd)
        raise GencheckError(f"could not lock run folder {folder}: {lock}: {why}")
    return fd


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_bytes_capped(path: Path | str, cap: int, what: str) -> bytes:
    """The bytes of a regular file of at most `cap` bytes, or a GencheckError naming `what` and the path.

    Every file the CLI reads from a user goes through here: a FIFO would hang a plain open (it is opened
    non-blocking and refused), /dev/zero or a sparse multi-GB file would fill memory (refused by kind or by
    size before anything is read), and a file that grows while read is cut at cap + 1 bytes and refused."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise GencheckError(f"{what} {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise GencheckError(f"{what} {path}: not a regular file")
        if st.st_size > cap:
            raise GencheckError(f"{what} {path}: {st.st_size:,} bytes, more than the {cap:,} allowed")
        chunks, total = [], 0
        while total <= cap:
            block = os.read(fd, min(1 << 20, cap + 1 - total))
            if not block:
                break
            chunks.append(block)
            total += len(block)
        if total > cap:
            raise GencheckError(f"{what} {path}: more than the {cap:,} bytes allowed")
        return b"".join(chunks)
    except OSError as exc:
        raise GencheckError(f"{what} {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_text_capped(path: Path | str, cap: int, what: str) -> str:
    """read_bytes_capped decoded as UTF-8; invalid UTF-8 is a GencheckError naming the byte offset."""
    data = read_bytes_capped(path, cap, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GencheckError(f"{what} {path}: not UTF-8 text (byte {exc.start})") from None
