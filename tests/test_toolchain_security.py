"""Hostile samples against the toolchain judges: each is contained, recorded as an opinion, and nothing is
read or written outside the compile's own temporary folder. Fast; in CI's default run."""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import pytest

from gencheck.validators import confine, gcc_judge, tex_judge
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


# --- gcc confined: host files are not there to read (#21, item 2) ------------------------------------------

#: Every form the reviewer found that slipped past the lexical #include guard, with {p} the host file.
GUARD_BYPASSES = {
    "form feed before #": '\f#include "{p}"\n',
    "vertical tab after #": '#\vinclude "{p}"\n',
    "lone carriage returns": 'int a;\r#include "{p}"\rint b;\r',
    "/* in an unterminated string": 'char *s = "/*;\n#include "{p}"\n/* */\n',
    "#line naming a host file": '#line 1 "{p}"\nint x = ;\n',
    "a GNU line marker": '# 1 "{p}"\nint x = ;\n',
    "_Pragma GCC dependency": '_Pragma("GCC dependency \\"{p}\\"")\nint x;\n',
    "#line with octal escapes": '#line 1 "{octal}"\nint x = ;\n',
    "a line marker with hex escapes": '# 1 "{hexa}"\nint x = ;\n',
}


def _guard_bypass(form: str, path) -> str:
    """The form's text naming `path`, plainly or with each '/' written as a C escape (gcc decodes them)."""
    p = str(path)
    return GUARD_BYPASSES[form].format(p=p, octal=p.replace("/", "\\057"), hexa=p.replace("/", "\\x2f"))


@pytest.fixture()
def host_file(tmp_path):
    """A file outside gcc's folder whose every line, if gcc read it, would show in its diagnostics."""
    path = tmp_path / "host-secret.h"
    path.write_text("#error HOST-SECRET-LINE-1\nHOST-SECRET-LINE-2 = ;\n")
    return path


@pytest.fixture()
def gcc_stderr(monkeypatch):
    """Everything gcc prints while judging (the folder is gone when the opinion comes back)."""
    seen: list[str] = []
    real = gcc_judge.run_limited

    def spy(*args, **kw):
        done = real(*args, **kw)
        seen.append(done.stderr.decode("utf-8", "replace"))
        return done

    monkeypatch.setattr(gcc_judge, "run_limited", spy)
    return seen


@needs_gcc
@pytest.mark.parametrize("form", GUARD_BYPASSES)
def test_the_include_guard_refuses_each_form_that_bypassed_it(form, host_file):
    assert gcc_judge.refused_include(_guard_bypass(form, host_file)) is not None


@needs_gcc
@pytest.mark.skipif(confine.unavailable() is not None, reason="no Landlock on this kernel")
@pytest.mark.parametrize("form", GUARD_BYPASSES)
def test_confined_gcc_cannot_read_a_host_file_even_past_the_guard(form, host_file, gcc_stderr, monkeypatch,
                                                                   no_leftovers):
    """The guard is only a first line: with it switched off, confined gcc still cannot open the file, and the
    opinion locates no error inside it."""
    monkeypatch.setattr(gcc_judge, "refused_include", lambda text: None)
    op = gcc_judge.opinion(_guard_bypass(form, host_file), limits=SMALL)
    assert gcc_stderr and all("HOST-SECRET" not in err for err in gcc_stderr), gcc_stderr
    assert "HOST-SECRET" not in op.message  # the text may name the file; nothing of it is read
    assert op.line is None or op.line <= 4  # no line of the host file passed off as the text's


@needs_gcc
@pytest.mark.skipif(confine.unavailable() is not None, reason="no Landlock on this kernel")
def test_confined_gcc_still_reads_system_headers_and_the_files_own_folder(tmp_path):
    (tmp_path / "mine.h").write_text("typedef struct { int a; } mine_t;\n")
    text = '#include <stdio.h>\n#include <stdlib.h>\n#include "mine.h"\nint main(void) { mine_t m = {0}; ' \
           'printf("%d", m.a); return EXIT_SUCCESS; }\n'
    assert gcc_judge.opinion(text, include_dir=str(tmp_path)).ok is True


@needs_gcc
def test_without_landlock_gcc_still_judges_and_the_judges_say_it_runs_unconfined(monkeypatch, capsys):
    from gencheck.validators import toolchains

    monkeypatch.setattr(confine, "abi", lambda: 0)
    note = toolchains.confinement_notice("c")
    assert note and "unconfined" in note and "Landlock" in note
    assert toolchains.confinement_notice("markdown") is None
    assert gcc_judge.opinion("int x;\n").ok is True and gcc_judge.opinion('#include "/etc/shadow"\n').kind == "refused"
    toolchains.judge_many(["int x;\n"], "c", workers=1)
    assert f"note: {note}" in capsys.readouterr().err


# --- disk and output caps (#21, item 8) ----------------------------------------------------------------------

def test_child_output_is_capped_by_the_file_limit_and_read_back_bounded(tmp_path):
    """stderr goes to a file in the child's folder: RLIMIT_FSIZE stops it, and the judge reads a bounded part."""
    lim = Limits(file_mb=2, folder_mb=64, wall_s=10, read_kb=64)
    done = run_limited(["/bin/sh", "-c", "echo first >&2; yes x | head -c 30000000 >&2; echo last >&2"],
                       str(tmp_path), {"PATH": os.environ["PATH"]}, lim)
    assert len(done.stderr) < 70 * 1024 and done.stderr.startswith(b"first")
    assert list(tmp_path.iterdir()) == []  # the capture files are gone


def test_a_child_filling_its_folder_with_many_files_is_killed(tmp_path):
    lim = Limits(file_mb=4, folder_mb=8, wall_s=20)
    t0 = time.monotonic()
    writes = "for i in $(seq 1 30); do head -c 1000000 /dev/zero > f$i; sleep 0.02; done; sleep 30"
    done = run_limited(["/bin/sh", "-c", writes], str(tmp_path), {"PATH": os.environ["PATH"]}, lim)
    assert done.over_folder and done.signalled and not done.timed_out and time.monotonic() - t0 < 10
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) < 12 * 2**20  # 8 MB and a poll's worth, not 30


@needs_pdflatex
def test_pdflatex_writing_many_large_files_stops_at_its_folder_limit(no_leftovers):
    lim = Limits(memory_mb=1536, cpu_s=20, wall_s=20.0, file_mb=4, folder_mb=8)
    text = ("\\newwrite\\w\\count1=0 \\loop\\immediate\\openout\\w=f\\the\\count1.txt "
            "{\\count2=0 \\loop\\immediate\\write\\w{" + "x" * 200 + "}\\advance\\count2 1 \\ifnum\\count2<15000 \\repeat}"
            "\\immediate\\closeout\\w\\advance\\count1 1 \\ifnum\\count1<12 \\repeat")
    op = tex_judge.opinion(text, limits=lim)
    assert op.ok is None and op.kind == "limits"


@needs_gcc
def test_gcc_printing_without_end_stops_at_its_limits_and_is_read_back_bounded(gcc_stderr, no_leftovers):
    text = ('#define P0 _Pragma("message \\"' + "m" * 200 + '\\"")\n'
            + "".join(f"#define P{i} P{i - 1} P{i - 1}\n" for i in range(1, 30)) + "P29\n")
    lim = Limits(memory_mb=1024, cpu_s=10, wall_s=10.0, file_mb=4, folder_mb=8, read_kb=256)
    op = gcc_judge.opinion(text, limits=lim, rounds=0)
    assert op.ok is None and op.kind in ("limits", "timeout")
    assert gcc_stderr and all(len(err) < 300 * 1024 for err in gcc_stderr)


# --- an interrupted judge leaves nothing behind (#21, item 9) -------------------------------------------------

needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc to see processes")


def processes_in(folder) -> list[int]:
    """Pids whose working folder lies under `folder`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/cwd").startswith(str(folder)):
                    found.append(int(entry))
            except OSError:
                continue
    return found


def wait_until(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@needs_proc
def test_a_child_dies_with_the_process_that_started_it(tmp_path):
    import subprocess
    import sys

    code = ("import sys\nfrom gencheck.validators.sandbox import Limits, run_limited\n"
            "run_limited(['sleep', '60'], sys.argv[1], {'PATH': '/usr/bin:/bin'}, Limits(wall_s=60))\n")
    parent = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)])
    try:
        assert wait_until(lambda: [p for p in processes_in(tmp_path) if p != parent.pid], 20)
        parent.kill()  # SIGKILL: no cleanup of its own runs
        parent.wait()
        assert wait_until(lambda: not processes_in(tmp_path), 5), "the child outlived its parent"
    finally:
        parent.kill()


@needs_pdflatex
@needs_proc
def test_ctrl_c_during_judging_stops_pdflatex_and_removes_its_folders(tmp_path):
    """^C reaches the command and its workers (one process group): each worker ends its compile, and the
    pool's own temporary folder is gone, with the compiles' folders inside it."""
    import signal
    import subprocess
    import sys

    # ^C as a terminal delivers it: a test run started in the background of a non-interactive shell (as a CI
    # job may be) inherits SIGINT ignored, and Python keeps an ignored SIGINT ignored
    code = ("import signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "from gencheck.validators.toolchains import judge_many\n"
            "judge_many(['\\\\loop\\\\iftrue\\\\repeat'] * 4, 'latex', workers=2, timeout_s=60)\n")
    cmd = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "TMPDIR": str(tmp_path)},
                           start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: len([p for p in processes_in(tmp_path)
                                       if open(f"/proc/{p}/comm").read().strip() in ("pdflatex", "pdftex")]) == 2, 60)
        os.killpg(cmd.pid, signal.SIGINT)
        cmd.wait(timeout=30)
        assert wait_until(lambda: not processes_in(tmp_path), 3), "pdflatex outlived the interrupted command"
        assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("gencheck-")]
    finally:
        if cmd.poll() is None:
            os.killpg(cmd.pid, signal.SIGKILL)
