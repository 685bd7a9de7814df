"""What a corpus declaration cannot do: run a source's code, write outside the cache, or exhaust memory.

The PyPI tests run the real pip against a local folder (PIP_NO_INDEX, PIP_FIND_LINKS, no config file):
no network. The hostile sdist's build backend and setup.py append to a marker file whenever pip runs them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from gencheck import sources
from gencheck.corpus import build, load_spec
from gencheck.fsutil import GencheckError
from gencheck.sources import ChecksumError, Source, fetch, iter_members

from conftest import write

BACKEND = '''
import pathlib
def _mark(hook):
    with open({marker!r}, "a") as fh:
        fh.write(hook + "\\n")
_mark("import")
def get_requires_for_build_wheel(config_settings=None): _mark("get_requires_for_build_wheel"); return []
def get_requires_for_build_sdist(config_settings=None): _mark("get_requires_for_build_sdist"); return []
def prepare_metadata_for_build_wheel(directory, config_settings=None):
    _mark("prepare_metadata_for_build_wheel")
    info = pathlib.Path(directory) / "hostile-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\\nName: hostile\\nVersion: 1.0\\n")
    return info.name
def build_wheel(*args, **kwargs): _mark("build_wheel"); raise RuntimeError("no")
def build_sdist(*args, **kwargs): _mark("build_sdist"); raise RuntimeError("no")
'''


def hostile_sdist(folder: Path, marker: Path) -> str:
    """hostile-1.0.tar.gz with an in-tree build backend (backend-path) and a setup.py, both writing `marker`."""
    files = {
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "hostile_backend"\nbackend-path = ["."]\n',
        "hostile_backend.py": BACKEND.format(marker=str(marker)),
        "setup.py": f"open({str(marker)!r}, 'a').write('setup.py\\n')\n",
        "PKG-INFO": "Metadata-Version: 2.1\nName: hostile\nVersion: 1.0\n",
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hostile-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"hostile-1.0/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def local_index(tmp_path, monkeypatch) -> tuple[Path, Path, str]:
    """(links folder, marker path, sha256): pip sees only the folder."""
    links, marker = tmp_path / "links", tmp_path / "marker"
    sha = hostile_sdist(links, marker)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    return links, marker, sha


def sdist_declaration(tmp_path: Path, sha: str) -> Path:
    return write(tmp_path / "hostile.toml", 'format = "text"\ninclude = ["*.toml", "*.py"]\n[[sources]]\n'
                 'kind = "pypi-sdist"\npackage = "hostile"\nversion = "1.0"\nfile = "hostile-1.0.tar.gz"\n'
                 f'sha256 = "{sha}"\nstrip = 1\n')


def test_pypi_sdist_with_a_wrong_sha256_runs_no_code(tmp_path, local_index):
    _, marker, _ = local_index
    spec = load_spec(sdist_declaration(tmp_path, "0" * 64))
    with pytest.raises(ChecksumError, match=r"checksum mismatch for PyPI sdist hostile==1\.0"):
        build(spec, home=tmp_path / "home")
    assert not marker.exists()
    assert not (tmp_path / "home" / "downloads" / "hostile-1.0.tar.gz").exists()


def test_pypi_sdist_with_the_right_sha256_is_fetched_without_running_it(tmp_path, local_index):
    _, marker, sha = local_index
    corpus = build(load_spec(sdist_declaration(tmp_path, sha)), home=tmp_path / "home")
    assert {d.path for d in corpus.documents} == {"pyproject.toml", "hostile_backend.py", "setup.py"}
    assert (tmp_path / "home" / "downloads" / "hostile-1.0.tar.gz").is_file()
    assert not marker.exists()


def test_pypi_sdist_missing_from_the_index_is_named(tmp_path, local_index):
    source = Source(kind="pypi-sdist", package="hostile", version="2.0", file="hostile-2.0.tar.gz", sha256="0" * 64)
    with pytest.raises(GencheckError, match=r"no file hostile-2\.0\.tar\.gz .*hostile-1\.0\.tar\.gz"):
        fetch(source, tmp_path / "cache", [], offline=False)


def test_hash_checked_pip_download_checks_before_any_code(tmp_path, local_index):
    """The fallback for a pip without the finder API: pip's hash-checking mode refuses before building."""
    _, marker, sha = local_index
    source = Source(kind="pypi-sdist", package="hostile", version="1.0", file="hostile-1.0.tar.gz", sha256="0" * 64)
    (tmp_path / "bad").mkdir()
    with pytest.raises(GencheckError, match="pip download"):
        sources._pip_download_hash_checked(source, tmp_path / "bad")
    assert not marker.exists() and not list((tmp_path / "bad").iterdir())
    (tmp_path / "good").mkdir()
    got = sources._pip_download_hash_checked(Source(**{**source.__dict__, "sha256": sha}), tmp_path / "good")
    assert hashlib.sha256(got.read_bytes()).hexdigest() == sha


# --- where files may be written, and from where ------------------------------------------------------

@pytest.mark.parametrize("name", ["../../x.tar.gz", "/tmp/x.tar.gz", "sub/x.tar.gz", "sub\\\\x.tar.gz", "..", ".",
                                  "x\\u0000.tar.gz"])
def test_declared_file_must_be_a_plain_name(tmp_path, name):
    body = f'format = "c"\n[[sources]]\nkind = "mirror"\nfile = "{name}"\nsha256 = "{"0" * 64}"\n'
    with pytest.raises(GencheckError, match=r"mine\.toml: source file .* is not a plain file name"):
        load_spec(write(tmp_path / "mine.toml", body))


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.invalid/x.tar.gz", "/srv/x.tar.gz",
                                 "data:,hello", "https:///x.tar.gz"])
def test_declared_url_must_be_http_or_https(tmp_path, url):
    body = f'format = "c"\n[[sources]]\nkind = "url"\nurl = "{url}"\nfile = "x.tar.gz"\nsha256 = "{"0" * 64}"\n'
    with pytest.raises(GencheckError, match=r"mine\.toml: source url .*allowed: https, http"):
        load_spec(write(tmp_path / "mine.toml", body))


def test_fetch_refuses_an_escaping_file_and_a_file_url(tmp_path):
    """Defensive: a Source built without load_spec still cannot write outside the cache or read file://."""
    src = write(tmp_path / "src.txt", "payload\n")
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    cache = tmp_path / "home" / "downloads"
    escaping = Source(kind="url", url="https://example.invalid/x", file="../../escaped.txt", sha256=sha)
    with pytest.raises(GencheckError, match="not a plain file name"):
        fetch(escaping, cache, [], offline=False)
    local = Source(kind="url", url=src.as_uri(), file="x.txt", sha256=sha)
    with pytest.raises(GencheckError, match="allowed: https, http"):
        fetch(local, cache, [], offline=False)
    both = Source(kind="url", url=src.as_uri(), file="../../escaped.txt", sha256=sha)
    with pytest.raises(GencheckError):
        fetch(both, cache, [], offline=False)
    assert not (tmp_path / "escaped.txt").exists() and not (cache / "x.txt").exists()


# --- size caps ---------------------------------------------------------------------------------------

BOMB = 32 * 2**20  # 32 MiB of one letter: compresses to about 140 KB (zeros would read as an empty tar)


def bomb_stream(n: int):
    block = b"x" * 2**20
    for _ in range(n // len(block)):
        yield block


def gz_bomb(path: Path) -> Path:
    with gzip.open(path, "wb", compresslevel=1) as fh:
        for block in bomb_stream(BOMB):
            fh.write(block)
    return path


def tar_bomb(path: Path) -> Path:
    bomb = gz_bomb(path.with_name("inner.gz"))
    with tarfile.open(path, "w:gz", compresslevel=1) as tar, gzip.open(bomb) as data:
        info = tarfile.TarInfo("top/bomb.tex")
        info.size = BOMB
        tar.addfile(info, data)
    return path


def zip_bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf, zf.open("top/bomb.tex", "w") as fh:
        for block in bomb_stream(BOMB):
            fh.write(block)
    return path


@pytest.mark.parametrize("make,name,member", [(gz_bomb, "bomb.tex.gz", "bomb.tex"),
                                              (tar_bomb, "bomb.tar.gz", "top/bomb.tex"),
                                              (zip_bomb, "bomb.zip", "top/bomb.tex")])
def test_a_member_is_read_only_up_to_its_cap(tmp_path, make, name, member):
    archive = make(tmp_path / name)
    tracemalloc.start()
    try:
        members = list(iter_members(archive, max_bytes=lambda path: 4000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [(path, len(data)) for path, data in members] == [(member, 4001)]
    assert peak < 8 * 2**20


def test_member_over_max_chars_is_counted_as_filtered(tmp_path):
    folder = tmp_path / "docs"
    write(folder / "small.tex", "x" * 500)
    gz_bomb(folder / "bomb.tex.gz")
    body = 'format = "latex"\ninclude = ["*.tex"]\n[[sources]]\nkind = "dir"\npath = "docs"\n[filters]\nmax_chars = 1000\n'
    spec = load_spec(write(tmp_path / "mine.toml", body))
    tracemalloc.start()
    try:
        corpus = build(spec, home=tmp_path / "home")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [d.path for d in corpus.documents] == ["small.tex"]
    assert (corpus.stats.selected, corpus.stats.filtered) == (2, 1)
    assert peak < 8 * 2**20


def test_member_over_the_global_cap_is_an_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "MEMBER_CAP", 10_000)
    archive = tar_bomb(tmp_path / "bomb.tar.gz")
    with pytest.raises(GencheckError, match=r"bomb\.tar\.gz: member top/bomb\.tex is larger than 10000 bytes"):
        list(iter_members(archive))
    assert [len(d) for _, d in iter_members(archive, max_bytes=lambda path: 100)] == [101]


def test_many_members_each_under_their_cap_stop_at_the_builds_total(tmp_path, monkeypatch):
    """An archive of 300 distinct members, each under the per-member cap, is refused once the documents
    pass the build's total, before it holds them all (the audit's bomb: 300 × 10 MB reached 2.3 GB)."""
    from gencheck import corpus as corpus_mod

    monkeypatch.setattr(corpus_mod, "BUILD_MAX_CHARS", 1_000_000)
    archive = tmp_path / "mirror" / "many.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        for i in range(300):
            data = (f"% member {i}\n" + "x" * 50_000).encode()
            info = tarfile.TarInfo(f"top/m{i:03}.tex")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    body = (f'format = "latex"\ninclude = ["*.tex"]\n[[sources]]\nkind = "mirror"\nfile = "many.tar.gz"\n'
            f'sha256 = "{sha}"\n[filters]\nmax_chars = 100000\nmin_english = 0\n')
    spec = load_spec(write(tmp_path / "mine.toml", body))
    tracemalloc.start()
    try:
        with pytest.raises(GencheckError, match=r"many\.tar\.gz: the documents pass 1,000,000 characters at member top/m"):
            build(spec, home=tmp_path / "home", mirrors=[archive.parent])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20  # 15 MB of text in the archive: it stopped near the cap


# --- url downloads -----------------------------------------------------------------------------------

@pytest.fixture
def web(monkeypatch):
    """A loopback HTTP server: /zeros streams without end, /small is 10 bytes, /404 is missing, /to-ftp,
    /to-file and /to-small redirect there; yields its base address."""
    import http.server
    import threading

    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            redirects = {"/to-ftp": "ftp://127.0.0.1/x", "/to-file": "file:///etc/hostname", "/to-small": "/small"}
            if self.path in redirects:
                self.send_response(302)
                self.send_header("Location", redirects[self.path])
                self.end_headers()
            elif self.path == "/small":
                self.send_response(200)
                self.send_header("Content-Length", "10")
                self.end_headers()
                self.wfile.write(b"0123456789")
            elif self.path == "/zeros":
                self.send_response(200)
                self.end_headers()
                try:
                    for _ in range(64):  # 64 MiB at most, in case the client never stops
                        self.wfile.write(b"\0" * 2**20)
                except (BrokenPipeError, ConnectionResetError):
                    pass
            else:
                self.send_error(404)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _url_fetch(tmp_path, url: str, sha: str = "0" * 64):
    return fetch(Source(kind="url", url=url, file="x.bin", sha256=sha), tmp_path / "cache", [], offline=False)


@pytest.mark.parametrize("path,message", [("/zeros", "more than 1,048,576 bytes"), ("/404", "answered 404"),
                                          ("/to-ftp", "refused a redirect from http to ftp://"),
                                          ("/to-file", "'file:///etc/hostname' is not allowed")])
def test_a_url_download_is_capped_and_every_failure_is_one_line(tmp_path, monkeypatch, web, path, message):
    monkeypatch.setattr(sources, "URL_MAX_BYTES", 2**20)
    with pytest.raises(sources.FetchError) as info:
        _url_fetch(tmp_path, web + path)
    text = str(info.value)
    assert message in text and "\n" not in text and web + path in text
    assert not list((tmp_path / "cache").iterdir())  # nothing left behind: no partial download


def test_a_refused_connection_is_one_line_and_a_same_scheme_redirect_is_followed(tmp_path, web):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(sources.FetchError, match=rf"127\.0\.0\.1:{port}/x: Connection refused"):
        _url_fetch(tmp_path, f"http://127.0.0.1:{port}/x")
    got = _url_fetch(tmp_path, web + "/to-small", hashlib.sha256(b"0123456789").hexdigest())
    assert got.read_bytes() == b"0123456789"
