"""Hostile samples against the toolchain judges: each is contained, recorded as an opinion, and nothing is
read or written outside the compile's own temporary folder. Fast; in CI's default run."""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import pytest

from gencheck.validators import gcc_judge, tex_judge
from gencheck.validators.sandbox import Limits, run_limited

needs_pdflatex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex (TeX Live) here")
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None, reason="no gcc here")
SMALL = Limits(memory_mb=1024, cpu_s=2, wall_s=4.0, file_mb=8)
READ_PASSWD = "\\newread\\r\\openin\\r=/etc/passwd \\read\\r to\\x \\typeout{LEAK[\\x]}\\errmessage{LEAK[\\x]}"


def _passwd_first_line() -> str:
    with open("/etc/passwd") as f:
        return f.readline().strip()


@pytest.fixture()
def logs(monkeypatch):
    """Every TeX log the judge reads (the folder is gone when the opinion comes back)."""
    seen: list[str] = []
    real = tex_judge._compile

    def spy(*args, **kw):
        done, log = real(*args, **kw)
        seen.append(log + done.stdout.decode("latin-1"))
        return done, log

    monkeypatch.setattr(tex_judge, "_compile", spy)
    return seen


@pytest.fixture()
def no_leftovers(tmp_path, monkeypatch):
    """The judges leave no temporary folder behind (their folders made under a private temp dir, so other
    processes' compiles cannot disturb the count)."""
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    yield
    assert list(private.iterdir()) == []


@needs_pdflatex
def test_openin_cannot_read_etc_passwd(logs, no_leftovers):
    op = tex_judge.opinion(READ_PASSWD)
    assert op.ok is False
    secret = _passwd_first_line()
    assert logs and all(secret not in log for log in logs) and secret not in op.message


@needs_pdflatex
def test_the_passwd_check_would_catch_a_leak(logs, monkeypatch):
    """Control: with Debian's default openin_any=a the same sample does print /etc/passwd's first line, so
    the test above can fail."""
    env = tex_judge._env
    monkeypatch.setattr(tex_judge, "_env", lambda tmp: {**env(tmp), "openin_any": "a"})
    op = tex_judge.opinion(READ_PASSWD)
    assert _passwd_first_line() in op.message or any(_passwd_first_line() in log for log in logs)


@needs_pdflatex
def test_input_of_an_absolute_path_is_refused(logs, no_leftovers):
    op = tex_judge.opinion("\\input{/etc/passwd}")
    assert (op.ok, op.kind) == (False, "missing_file")
    assert all(_passwd_first_line() not in log for log in logs)


@needs_pdflatex
def test_write18_and_openout_write_nothing_outside(tmp_path, no_leftovers):
    shell = tmp_path / "shell-escape-ran"
    out_abs, out_rel = tmp_path / "escaped.tex", "../gencheck-escaped.tex"
    text = (f"\\immediate\\write18{{touch {shell}}}\\write18{{touch {shell}}}"
            f"\\newwrite\\w\\immediate\\openout\\w={out_abs}\\immediate\\write\\w{{x}}\\immediate\\closeout\\w "
            f"\\immediate\\openout\\w={out_rel}\\immediate\\write\\w{{x}}\\immediate\\closeout\\w x")
    op = tex_judge.opinion(text)
    assert op.ok is not None  # judged, whatever TeX made of it
    assert not shell.exists() and not out_abs.exists()
    assert not os.path.exists(os.path.join(tempfile.gettempdir(), "gencheck-escaped.tex"))


@needs_pdflatex
def test_an_infinite_loop_costs_at_most_its_limits(no_leftovers):
    t0 = time.monotonic()
    op = tex_judge.opinion("\\def\\a{\\a}\\a", limits=SMALL)  # a tail call forever: no stack grows
    assert op.ok is None and op.kind in ("timeout", "limits") and time.monotonic() - t0 < SMALL.wall_s + 3
    op = tex_judge.opinion("\\loop\\iftrue\\repeat", limits=SMALL)
    assert op.ok is None and op.kind in ("timeout", "limits")


@needs_pdflatex
def test_a_10000_deep_group_is_a_capacity_error():
    op = tex_judge.opinion("{" * 10_000 + "x" + "}" * 10_000, limits=SMALL)
    assert (op.ok, op.kind) == (False, "capacity") and "grouping levels" in op.message


@needs_gcc
@pytest.mark.parametrize("text", ['#include "/dev/zero"\n', '#include "/etc/shadow"\n',
                                  '#define F "/etc/shadow"\n#include F\n'])
def test_c_includes_outside_the_folder_are_refused(text, monkeypatch):
    ran = []
    monkeypatch.setattr(gcc_judge, "run_limited", lambda *a, **k: ran.append(a))
    op = gcc_judge.opinion(text)
    assert (op.ok, op.kind) == (False, "refused") and not ran  # gcc never saw it


@needs_gcc
def test_c_including_itself_is_contained(no_leftovers):
    op = gcc_judge.opinion('#include "sample.c"\nint x;\n', limits=SMALL)
    assert op.ok is False and "nested depth" in op.message


@needs_gcc
def test_c_exponential_macro_costs_at_most_its_limits(no_leftovers):
    text = "#define A0 x\n" + "".join(f"#define A{i} A{i - 1} A{i - 1}\n" for i in range(1, 40)) + "int y = A39;\n"
    t0 = time.monotonic()
    op = gcc_judge.opinion(text, limits=SMALL, rounds=0)
    assert op.ok is None and op.kind in ("timeout", "limits") and time.monotonic() - t0 < SMALL.wall_s + 3


def test_the_wall_clock_kills_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "grandchild"
    done = run_limited(["/bin/sh", "-c", f"sleep 30 & echo $! > {pidfile}; wait"], str(tmp_path),
                       {"PATH": os.environ["PATH"]}, Limits(wall_s=0.5))
    assert done.timed_out and done.returncode is None
    pid = int(pidfile.read_text())
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the grandchild outlived the wall-clock kill")


def test_cpu_and_memory_limits_reach_the_child(tmp_path):
    done = run_limited(["/bin/sh", "-c", "while :; do :; done"], str(tmp_path), {"PATH": os.environ["PATH"]},
                       Limits(cpu_s=1, wall_s=10))
    assert done.signalled and not done.timed_out and done.seconds < 5
    py = shutil.which("python3") or shutil.which("python")
    done = run_limited([py, "-c", "b = bytearray(600 * 1024 * 1024)"], str(tmp_path), {"PATH": os.environ["PATH"]},
                       Limits(memory_mb=300, wall_s=10))
    assert done.returncode != 0 and b"MemoryError" in done.stderr


@needs_pdflatex
def test_a_declared_latex_preamble_may_load_packages_and_obeys_the_same_sandbox(tmp_path, logs, no_leftovers):
    """`[toolchain] latex_preamble` is TeX source from the declaration: it reaches pdflatex in the sample's own
    sandbox, so it can load a package but cannot run a shell, write outside or read /etc/passwd."""
    import json

    from gencheck.corpus import load_spec
    from gencheck.validators.toolchains import JudgeContext, judge

    shell = tmp_path / "shell-escape-ran"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.tex").write_text("\\section{A}\nText.\n")

    def declared(preamble: str) -> JudgeContext:
        toml = tmp_path / "their.toml"
        toml.write_text('format = "latex"\n[[sources]]\nkind = "dir"\npath = "docs"\n[toolchain]\n'
                        f"latex_preamble = {json.dumps(preamble)}\n")
        return JudgeContext(load_spec(toml).toolchain.latex_preamble)

    align = "\\begin{align}a &= b\\end{align}\n"
    assert judge(align, "latex", declared("\\documentclass{article}\\usepackage{amsmath}")).ok is True
    hostile = f"\\documentclass{{article}}\\immediate\\write18{{touch {shell}}}{READ_PASSWD}"
    op = judge(align, "latex", declared(hostile))
    assert op.ok is not None and not shell.exists()
    assert all(_passwd_first_line() not in log for log in logs) and _passwd_first_line() not in op.message
