"""Getting a pinned source file (cache → mirror → registry/URL), verifying it, and reading its members.

A source names one file by `file` and `sha256`; several sources in a corpus declaration are alternative
ways to get the same content. The mirror directories ($GENCHECK_MIRROR, `--mirror`) are searched first by
file name, so a machine without the upstream network can be served from a local copy.

A source whose bytes are not stable upstream (a GitHub archive is re-generated on request) says
`verify = "content"`: it carries no sha256 and is verified instead by the corpus's pinned content hash.
`inner` reads an archive that is itself a member of the file (a source tarball inside a .deb), and
`strip` drops leading path components so that differently named top folders give the same documents.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterator

from .fsutil import GencheckError, sha256_file

SOURCE_KINDS = ("deb", "pypi-sdist", "url", "mirror", "dir")
VERIFY_MODES = ("sha256", "content")


class FetchError(GencheckError):
    pass


class ChecksumError(GencheckError):
    pass


@dataclass(frozen=True)
class Source:
    """One way to get a corpus's raw files.

    deb: `apt-get download package=version`; pypi-sdist: `pip download --no-binary :all:`;
    url: plain HTTP(S); mirror: a file only ever served from a mirror directory (a pinned copy of an
    upstream whose downloads are not byte-stable); dir: a local folder (relative to the declaration),
    not pinned by checksum.
    """

    kind: str
    file: str = ""
    sha256: str = ""
    package: str = ""
    version: str = ""
    url: str = ""
    path: str = ""
    verify: str = "sha256"  # "content": no file checksum; the corpus's content_sha256 verifies it
    inner: str = ""  # path of an archive inside the file whose members are read instead
    strip: int = 0  # leading path components removed from member paths (a top folder)

    def describe(self) -> str:
        if self.kind == "deb":
            return f"Debian {self.package}={self.version}"
        if self.kind == "pypi-sdist":
            return f"PyPI sdist {self.package}=={self.version}"
        if self.kind == "url":
            return f"{self.url}"
        if self.kind == "mirror":
            return f"mirror file {self.file}"
        return f"directory {self.path}"


def mirror_dirs(extra: list[Path] | None = None) -> list[Path]:
    dirs = list(extra or [])
    env = os.environ.get("GENCHECK_MIRROR", "")
    dirs += [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return dirs


def fetch(source: Source, cache_dir: Path, mirrors: list[Path], offline: bool) -> Path:
    """Return a verified local copy of `source.file`, downloading it into `cache_dir` if needed."""
    cached = cache_dir / source.file
    if cached.exists() and (source.verify == "content" or sha256_file(cached) == source.sha256):
        return cached
    for d in mirrors:
        candidate = d / source.file
        if candidate.is_file():
            _verify(candidate, source, f"mirror file {candidate}")
            return candidate
    if source.kind == "mirror":
        where = ", ".join(str(d) for d in mirrors) or "none given"
        raise FetchError(f"{source.file} is served only from a mirror directory and is not in one ({where})")
    if offline:
        raise FetchError(f"offline and {source.file} is neither in the cache nor in a mirror")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download-") as tmp:
        got = _download(source, Path(tmp))
        _verify(got, source, source.describe())
        os.replace(got, cached)
    return cached


def _verify(path: Path, source: Source, where: str) -> None:
    if source.verify == "content":
        return  # the corpus's content hash is checked after the build
    actual = sha256_file(path)
    if actual != source.sha256:
        raise ChecksumError(
            f"checksum mismatch for {where}: expected sha256 {source.sha256}, got {actual}; "
            f"the file is not the pinned one (delete it or fix the mirror)"
        )


def _download(source: Source, dest: Path) -> Path:
    if source.kind == "deb":
        cmd = ["apt-get", "download", f"{source.package}={source.version}"]
        if _run(cmd, dest) != 0 and os.geteuid() == 0:
            # A fresh Debian machine has no package lists yet.
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=600)
            _run(cmd, dest, check=True)
        elif not list(dest.glob("*.deb")):
            raise FetchError(f"apt-get download {source.package}={source.version} failed")
    elif source.kind == "pypi-sdist":
        cmd = ["python", "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q",
               "-d", str(dest), f"{source.package}=={source.version}"]
        import sys

        cmd[0] = sys.executable
        _run(cmd, dest, check=True)
    elif source.kind == "url":
        with urllib.request.urlopen(source.url, timeout=60) as resp, open(dest / source.file, "wb") as fh:
            shutil.copyfileobj(resp, fh)
    else:
        raise FetchError(f"source kind {source.kind!r} cannot be downloaded")
    files = [p for p in dest.iterdir() if p.is_file()]
    named = dest / source.file
    if named.exists():
        return named
    if len(files) == 1:
        return files[0]
    raise FetchError(f"{source.describe()}: expected one file {source.file}, got {[p.name for p in files]}")


def _run(cmd: list[str], cwd: Path, check: bool = False) -> int:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800)
    except FileNotFoundError:
        raise FetchError(f"{cmd[0]} is not on this machine") from None
    if check and proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        raise FetchError(f"{' '.join(cmd)} failed: {last[0]}")
    return proc.returncode


# --- reading members -------------------------------------------------------------------------------

Want = Callable[[str], bool]
_Opener = Callable[[], IO[bytes]]
_COMPRESSED = ((".gz", gzip.decompress), (".xz", lzma.decompress), (".bz2", bz2.decompress))


def iter_members(path: Path, *, inner: str = "", strip: int = 0,
                 want: Want | None = None) -> Iterator[tuple[str, bytes | None]]:
    """Yield (member path, bytes) of an archive (.deb, tar.*, .zip), or of a folder, or of a single file.

    Members compressed on their own (`x.tex.gz`) are decompressed and lose the suffix. `inner` names an
    archive member whose own members are read instead (streamed, never unpacked to disk); `strip` removes
    that many leading path components (members with no more components are skipped). With `want`, the
    bytes of a member whose final path it rejects are not read: it is yielded as (path, None). A corrupt
    or truncated archive raises a GencheckError naming the file.
    """
    try:
        entries = _entries(path)
        if inner:
            entries = _inner_entries(path, entries, inner)
        for name, open_member in entries:
            while name.startswith("./"):
                name = name[2:]
            if strip:
                parts = name.split("/", strip)
                if len(parts) <= strip or not parts[strip]:
                    continue
                name = parts[strip]
            name, decompress = _unwrap_name(name)
            if want is not None and not want(name):
                yield name, None
                continue
            with open_member() as fh:
                data = fh.read()
            yield name, decompress(data) if decompress else data
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, lzma.LZMAError, OSError, ValueError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, (gzip.BadGzipFile,)) and exc.errno:
            raise
        raise GencheckError(f"corrupt or truncated archive {path}: {exc}") from exc


def _entries(path: Path) -> Iterator[tuple[str, _Opener]]:
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file():
                yield p.relative_to(path).as_posix(), (lambda p=p: open(p, "rb"))
    elif path.name.endswith(".deb"):
        yield from _deb_entries(path)
    elif tarfile.is_tarfile(path):
        with tarfile.open(path) as tar:
            yield from _tar_entries(tar)
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    yield info.filename, (lambda info=info: zf.open(info))
    else:
        yield path.name, (lambda: open(path, "rb"))


def _inner_entries(path: Path, entries: Iterator[tuple[str, _Opener]], inner: str) -> Iterator[tuple[str, _Opener]]:
    """The members of the archive `inner`, itself a member of `path` (read as a stream)."""
    want = inner.removeprefix("./")
    for name, open_member in entries:
        if name.removeprefix("./") == want:
            with open_member() as fh, tarfile.open(fileobj=fh, mode="r|*") as tar:
                yield from _tar_entries(tar)
            return
    raise ValueError(f"no member {inner!r} (declared as `inner`)")


def _tar_entries(tar: tarfile.TarFile) -> Iterator[tuple[str, _Opener]]:
    for m in tar:
        if m.isfile():
            yield m.name, (lambda m=m: tar.extractfile(m) or io.BytesIO(b""))


def _deb_entries(path: Path) -> Iterator[tuple[str, _Opener]]:
    """A .deb is an `ar` archive; its files are in the data.tar.* member."""
    with open(path, "rb") as fh:
        if fh.read(8) != b"!<arch>\n":
            raise ValueError("not an ar archive")
        while True:
            header = fh.read(60)
            if len(header) < 60:
                break
            name = header[:16].decode().strip().rstrip("/")
            size = int(header[48:58].decode().strip())
            if not name.startswith("data.tar"):
                fh.seek(size + size % 2, os.SEEK_CUR)
                continue
            data = fh.read(size)
            if len(data) < size:
                raise EOFError("truncated .deb member")
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                yield from _tar_entries(tar)
            return
    raise ValueError("no data.tar member in .deb")


def _unwrap_name(name: str) -> tuple[str, Callable[[bytes], bytes] | None]:
    for suffix, opener in _COMPRESSED:
        if name.endswith(suffix):
            return name[: -len(suffix)], opener
    return name, None

