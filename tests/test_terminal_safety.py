"""Hardening #31 item 13: control characters from data (file names, results.json) never reach the terminal raw."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from rich.table import Table

from gencheck.fsutil import GencheckError, read_bytes_capped
from gencheck.progress import SafeConsole, show_controls

HOSTILE = "\x1b]0;PWNED\x1b\\ \x9b2J \x07"


def test_show_controls_keeps_newline_and_tab_and_shows_the_rest():
    out = show_controls(f"a\tb\n{HOSTILE}")
    assert "\t" in out and "\n" in out
    assert not any(ord(c) < 0x20 and c not in "\t\n" for c in out)
    assert not any(0x7F <= ord(c) <= 0x9F for c in out)
    assert "PWNED" in out  # shown, not dropped


def test_safe_console_table_cells_lose_control_chars_but_keep_colour():
    buf = io.StringIO()
    t = Table()
    t.add_column("name", style="bold")
    t.add_row(HOSTILE)
    SafeConsole(file=buf, force_terminal=True, width=80).print(t)
    text = buf.getvalue()
    assert "\x1b]" not in text and "\x07" not in text and "\x9b" not in text
    assert "\x1b[1m" in text  # rich's own styling still reaches a terminal


def test_validate_on_a_file_named_with_an_osc_sequence_prints_no_escape(tmp_path: Path):
    name = "\x1b]0;PWNED\x1b\\.tex"
    (tmp_path / name).write_text("\\begin{proof}x\\end{proof}\n")
    env = {**os.environ, "COLUMNS": "200"}
    for extra in ([], ["--json"]):
        r = subprocess.run([sys.executable, "-m", "gencheck.cli", "validate", *extra, name], cwd=tmp_path,
                           capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == 0, r.stderr
        assert "\x1b]" not in r.stdout + r.stderr and "\x07" not in r.stdout + r.stderr


def test_validate_error_naming_a_hostile_path_is_one_line_without_escapes(tmp_path: Path):
    r = subprocess.run([sys.executable, "-m", "gencheck.cli", "validate", f"missing{HOSTILE}.tex"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "\x1b]" not in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_read_bytes_capped_refuses_fifo_device_and_oversize(tmp_path: Path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, why in ((fifo, "not a regular file"), (Path("/dev/zero"), "not a regular file")):
        try:
            read_bytes_capped(path, 1000, "prime file")
        except GencheckError as exc:
            assert why in str(exc) and str(path) in str(exc)
        else:
            raise AssertionError(f"{path} was read")
    sparse = tmp_path / "sparse.json"
    with open(sparse, "wb") as fh:
        fh.truncate(3 << 30)  # 3 GB, no blocks
    try:
        read_bytes_capped(sparse, 1 << 20, "results")
    except GencheckError as exc:
        assert "more than the" in str(exc)
    else:
        raise AssertionError("a 3 GB file was read")
    ok = tmp_path / "ok"
    ok.write_bytes(b"x" * 1000)
    assert read_bytes_capped(ok, 1000, "f") == b"x" * 1000
