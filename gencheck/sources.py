"""Getting a pinned source file (cache → mirror → registry/URL), verifying it, and reading its members.

A source names one file by `file` and `sha256`; several sources in a corpus declaration are alternative
ways to get the same content. The mirror directories ($GENCHECK_MIRROR, `--mirror`) are searched first by
file name, so a machine without the upstream network can be served from a local copy.

A source whose bytes are not stable upstream (a GitHub archive is re-generated on request) says
`verify = "content"`: it carries no sha256 and is verified instead by the corpus's pinned content hash.
`inner` reads an archive that is itself a member of the file (a source tarball inside a .deb), and
`strip` drops leading path components so that differently named top folders give the same documents.

What a declaration cannot do: `file` is a plain file name (it is only ever written inside the cache folder),
a `url` is https or http, a downloaded file's sha256 is checked before anything reads it, no code from a
source ever runs (a PyPI sdist is fetched by pip's own finder, never built), and no member is read past a
size cap.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import re
import subprocess
import tarfile
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterator

from .fsutil import GencheckError, sha256_file

SOURCE_KINDS = ("deb", "pypi-sdist", "url", "mirror", "dir", "drill")
VERIFY_MODES = ("sha256", "content")
URL_SCHEMES = ("https", "http")
MEMBER_CAP = 256 * 2**20  # the most bytes read of one archive member, whatever a declaration says
URL_MAX_BYTES = 2 * 2**30  # the most bytes downloaded from one url source (its sha256 is checked after)


class FetchError(GencheckError):
    pass


class ChecksumError(GencheckError):
    pass


@dataclass(frozen=True)
class Source:
    """One way to get a corpus's raw files.

    deb: `apt-get download package=version`; pypi-sdist: the file found by pip's package finder (never built);
    url: plain HTTP(S); mirror: a file only ever served from a mirror directory (a pinned copy of an
    upstream whose downloads are not byte-stable); dir: a local folder (relative to the declaration),
    not pinned by checksum; drill: generated from another corpus (gencheck.drill, parameters in `[drill]`).
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
    corpus: str = ""  # drill: the base corpus (a built-in name) whose splits give the filler and the openers

    def describe(self) -> str:
        if self.kind == "deb":
            return f"Debian {self.package}={self.version}"
        if self.kind == "pypi-sdist":
            return f"PyPI sdist {self.package}=={self.version}"
        if self.kind == "url":
            return f"{self.url}"
        if self.kind == "mirror":
            return f"mirror file {self.file}"
        if self.kind == "drill":
            return f"a drill on corpus {self.corpus}"
        return f"directory {self.path}"


def mirror_dirs(extra: list[Path] | None = None) -> list[Path]:
    dirs = list(extra or [])
    env = os.environ.get("GENCHECK_MIRROR", "")
    dirs += [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return dirs


def check_file_name(name: object) -> None:
    """A declared `file` is joined to the cache and mirror folders, so it must not be able to leave them."""
    if (not isinstance(name, str) or not name or name in (".", "..")
            or any(c in name for c in "/\\\0") or Path(name).is_absolute()):
        raise GencheckError(f"source file {name!r} is not a plain file name (no folders, no '..', not empty)")


def check_url(url: object) -> None:
    """Only web downloads: a file:// or other scheme would read the local machine or another protocol."""
    parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme.lower() not in URL_SCHEMES or not parts.netloc:
        raise GencheckError(f"source url {url!r} is not a web address (allowed: {', '.join(URL_SCHEMES)})")


#: What `package` and `version` may be, by source kind: they become arguments of apt-get and pip (and a
#: line of a pip requirements file), so a leading '-', a space or a line break would be an option or a line.
_NAMES = {
    "deb": (re.compile(r"[a-z0-9][a-z0-9+.-]*"), re.compile(r"(?:[0-9]+:)?[0-9][A-Za-z0-9.+~-]*")),
    "pypi-sdist": (re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"), re.compile(r"[0-9][A-Za-z0-9.+!_-]*")),
}


def check_package(source: Source) -> None:
    """A Debian or PyPI package name and version, each in its registry's own form."""
    forms = _NAMES.get(source.kind)
    if forms is None:
        return
    for field, value, rx in (("package", source.package, forms[0]), ("version", source.version, forms[1])):
        if not isinstance(value, str) or not rx.fullmatch(value):
            raise GencheckError(f"source {field} {value!r} is not a {source.kind} {field} "
                                f"(letters, digits and . + - ~ : _ !, starting with a letter or digit)")


def check_source(source: Source) -> None:
    """The checks `load_spec` makes, made again before anything is fetched or written."""
    if source.kind == "drill" and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", source.corpus or ""):
        raise GencheckError(f"a drill source names its base corpus by a built-in name, not {source.corpus!r}")
    if source.kind not in ("dir", "drill") or source.file:
        check_file_name(source.file)
    if source.kind == "url" or source.url:
        check_url(source.url)
    check_package(source)


def fetch(source: Source, cache_dir: Path, mirrors: list[Path], offline: bool) -> Path:
    """Return a verified local copy of `source.file`, downloading it into `cache_dir` if needed."""
    check_source(source)
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
        _pip_fetch_sdist(source, dest)
    elif source.kind == "url":
        download_url(source.url, dest / source.file)
    else:
        raise FetchError(f"source kind {source.kind!r} cannot be downloaded")
    files = [p for p in dest.iterdir() if p.is_file()]
    named = dest / source.file
    if named.exists():
        return named
    if len(files) == 1:
        return files[0]
    raise FetchError(f"{source.describe()}: expected one file {source.file}, got {[p.name for p in files]}")


class _SameSchemeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to http(s) and never from https down to http (urllib alone follows ftp)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old, new = urllib.parse.urlsplit(req.full_url).scheme.lower(), urllib.parse.urlsplit(newurl).scheme.lower()
        if new not in URL_SCHEMES or (old == "https" and new != "https"):
            raise FetchError(f"{req.full_url}: refused a redirect from {old} to {newurl} (a url source stays on "
                             f"{'https' if old == 'https' else 'http or https'})")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


MB = 1 << 20


def download_url(url: str, dest: Path, cap: int | None = None) -> None:
    """`url` into `dest`, streamed, at most `cap` bytes (URL_MAX_BYTES); a network failure, a refused
    redirect, an over-long body or a full disk is one FetchError naming the url. The caller removes `dest`
    (it is written in a temporary folder) and checks the sha256."""
    import http.client

    from .progress import progress

    cap = URL_MAX_BYTES if cap is None else cap
    opener = urllib.request.build_opener(_SameSchemeRedirects)
    try:
        with opener.open(url, timeout=60) as resp, open(dest, "wb") as fh:
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > cap:
                raise FetchError(f"{url}: the server announces {int(declared):,} bytes, over the {cap:,} a url source "
                                 "may download")
            total_mb = max(1, -(-int(declared) // MB)) if declared and declared.isdigit() else 0
            got = 0
            with progress(f"downloading {dest.name} (MB)", total_mb, quiet=total_mb < 5) as bar:
                while block := resp.read(1 << 20):
                    got += len(block)
                    if got > cap:
                        raise FetchError(f"{url}: more than {cap:,} bytes, the most a url source may download")
                    fh.write(block)
                    bar.update(min(total_mb, got // MB))
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url}: the server answered {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason if isinstance(exc.reason, str) else getattr(exc.reason, "strerror", None) or exc.reason
        raise FetchError(f"{url}: {reason}") from None
    except (http.client.HTTPException, TimeoutError, ValueError) as exc:
        raise FetchError(f"{url}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    except OSError as exc:
        raise FetchError(f"{url}: {exc.strerror or exc} (writing {dest})") from None


# Run by this interpreter's pip: find the declared sdist with pip's own finder (so pip's configuration --
# index, extra indexes, find-links, certificates, proxies -- applies) and download it with pip's session.
# `pip download` would prepare the sdist's metadata, i.e. run its build backend; this runs nothing of it.
_PIP_FETCH_SDIST = r"""
import sys
package, filename, dest = sys.argv[1:4]
try:
    from pip._internal.commands import create_command
    from pip._internal.network.utils import HEADERS, raise_for_status
    command = create_command("download")
    options, _ = command.parse_args(["--no-cache-dir", "--no-input"])
    session = command._build_session(options)
    finder = command._build_package_finder(options, session, ignore_requires_python=True)
    candidates = finder.find_all_candidates(package)
except (ImportError, AttributeError, TypeError) as exc:
    print(f"pip's package finder is not as gencheck knows it ({type(exc).__name__}: {exc})", file=sys.stderr)
    sys.exit(3)
try:
    links = [c.link for c in candidates if c.link.filename == filename]
    if not links:
        seen = sorted({c.link.filename for c in candidates if not c.link.is_wheel})[-5:]
        print(f"no file {filename} among the files pip finds for {package} "
              f"({', '.join(seen) if seen else 'none found: is the index reachable?'})", file=sys.stderr)
        sys.exit(2)
    resp = session.get(links[0].url.split("#", 1)[0], headers=HEADERS, stream=True)
    raise_for_status(resp)
    with open(dest, "wb") as fh:
        for block in resp.iter_content(1 << 16):
            fh.write(block)
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
    sys.exit(1)
"""
_NO_FINDER = 3


def _pip_fetch_sdist(source: Source, dest: Path) -> Path:
    """Download the declared sdist without running any of it (its sha256 is checked by the caller)."""
    cmd = [sys.executable, "-c", _PIP_FETCH_SDIST, source.package, source.file, str(dest / source.file)]
    rc, last = _run_tail(cmd, dest)
    if rc == _NO_FINDER:
        from rich.markup import escape

        from .progress import log

        log(f"[yellow]{escape(last)}; falling back to `pip download --require-hashes`, which checks {source.file} "
            "before it runs anything, but then runs the sdist's metadata hook[/]")
        return _pip_download_hash_checked(source, dest)
    if rc != 0:
        raise FetchError(f"pip could not fetch {source.file}: {last}")
    return dest / source.file


def _pip_download_hash_checked(source: Source, dest: Path) -> Path:
    """Fallback for a pip whose finder differs: `pip download` in hash-checking mode.

    pip checks the archive against the pin before it unpacks it, so no code runs from a wrong file; a right
    one still has its metadata hook run (no build isolation: no unpinned build tools are fetched).
    """
    if not source.sha256:
        raise FetchError(f"{source.describe()}: this pip can fetch an sdist only against a pinned sha256")
    with tempfile.TemporaryDirectory(prefix="gencheck-pin-") as tmp:
        pin = Path(tmp) / "requirements.txt"
        pin.write_text(f"{source.package}=={source.version} --hash=sha256:{source.sha256}\n")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--no-build-isolation",
               "--require-hashes", "--no-input", "-q", "-d", str(dest), "-r", str(pin)]
        _run(cmd, dest, check=True)
    got = dest / source.file
    if not got.is_file():
        raise FetchError(f"pip download {source.package}=={source.version} gave no file {source.file}")
    return got


def _run(cmd: list[str], cwd: Path, check: bool = False) -> int:
    rc, last = _run_tail(cmd, cwd)
    if check and rc != 0:
        raise FetchError(f"{' '.join(cmd)} failed: {last}")
    return rc


def _run_tail(cmd: list[str], cwd: Path) -> tuple[int, str]:
    """Exit status and the last line printed (the error, for a failed command); never waits for input."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise FetchError(f"{cmd[0]} is not on this machine") from None
    return proc.returncode, ((proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""])[0]


# --- reading members -------------------------------------------------------------------------------

Want = Callable[[str], bool]
_Opener = Callable[[], IO[bytes]]
_Unwrap = Callable[[IO[bytes]], IO[bytes]]
_COMPRESSED: tuple[tuple[str, _Unwrap], ...] = (
    (".gz", lambda fh: gzip.GzipFile(fileobj=fh)), (".xz", lambda fh: lzma.LZMAFile(fh)),
    (".bz2", lambda fh: bz2.BZ2File(fh)))


def iter_members(path: Path, *, inner: str = "", strip: int = 0, want: Want | None = None,
                 max_bytes: Callable[[str], int] | None = None) -> Iterator[tuple[str, bytes | None]]:
    """Yield (member path, bytes) of an archive (.deb, tar.*, .zip), or of a folder, or of a single file.

    Members compressed on their own (`x.tex.gz`) are decompressed and lose the suffix. `inner` names an
    archive member whose own members are read instead (streamed, never unpacked to disk); `strip` removes
    that many leading path components (members with no more components are skipped). With `want`, the
    bytes of a member whose final path it rejects are not read: it is yielded as (path, None). A corrupt
    or truncated archive raises a GencheckError naming the file.

    Every member is read as a stream and never past a cap, so a small compression bomb cannot fill memory:
    a member longer than `max_bytes(path)` is yielded cut to its first max_bytes + 1 bytes (over the cap:
    the caller drops it); one longer than MEMBER_CAP is an error naming the archive and the member.
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
            name, unwrap = _unwrap_name(name)
            if want is not None and not want(name):
                yield name, None
                continue
            hard = MEMBER_CAP
            cap = min(max_bytes(name), hard) if max_bytes else hard
            with open_member() as raw, (unwrap(raw) if unwrap else raw) as fh:
                data = read_capped(fh, cap)
            if len(data) > hard:
                raise GencheckError(f"{path}: member {name} is larger than {hard} bytes, the most gencheck "
                                    f"reads of one member; exclude it from the corpus")
            yield name, data
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, lzma.LZMAError, OSError, ValueError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, (gzip.BadGzipFile,)) and exc.errno:
            raise
        raise GencheckError(f"corrupt or truncated archive {path}: {exc}") from exc


def read_capped(fh: IO[bytes], cap: int) -> bytes:
    """At most cap + 1 bytes of `fh`: enough to tell that it is over `cap` without holding any more."""
    chunks, got = [], 0
    while got <= cap:
        block = fh.read(min(1 << 20, cap + 1 - got))
        if not block:
            break
        chunks.append(block)
        got += len(block)
    return b"".join(chunks)


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


def _unwrap_name(name: str) -> tuple[str, _Unwrap | None]:
    for suffix, opener in _COMPRESSED:
        if name.endswith(suffix):
            return name[: -len(suffix)], opener
    return name, None

