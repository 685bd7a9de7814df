"""The supervised pool: hangs, crashes and huge inputs become verdicts; order is kept."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from gencheck.validators import VALID, VERDICTS, VIABLE_PREFIX, validate, validate_many
from gencheck.validators.base import UNJUDGED

HERE = str(Path(__file__).parent)


@pytest.fixture()
def test_formats(monkeypatch):
    monkeypatch.syspath_prepend(HERE)
    return "_pool_test_formats"


def kinds(v):
    return [f.kind for f in v.findings]


def test_order_and_agreement_with_validate():
    texts = [r"\begin{a}x\end{b}", "a{", "ok $x$", "}" * 3, ""] * 7
    got = validate_many(texts, "latex", workers=2)
    assert [v.verdict for v in got] == [validate(t, "latex").verdict for t in texts]
    assert [v.findings for v in got] == [validate(t, "latex").findings for t in texts]


def test_too_long_is_unjudged_without_parsing():
    (v,) = validate_many(["x" * 101], "latex", max_chars=100)
    assert v.verdict == UNJUDGED and kinds(v) == ["too_long"] and "max_chars=100" in v.findings[0].message


def test_hung_samples_time_out_and_others_still_judged(test_formats):
    texts = ["fine", "PYHANG", "fine too", "CHANG", "BOOM", "last"]
    seen = []
    t0 = time.monotonic()
    got = validate_many(texts, "test-pathological", workers=2, timeout_s=0.5, setup_module=test_formats,
                        progress=seen.append)
    assert time.monotonic() - t0 < 20
    assert [v.verdict for v in got] == [VALID, UNJUDGED, VALID, UNJUDGED, UNJUDGED, VALID]
    assert kinds(got[1]) == ["timeout"] and "0.5" in got[1].findings[0].message
    assert kinds(got[3]) == ["timeout"]  # stuck in C: the worker was killed and replaced
    assert kinds(got[4]) == ["crash"] and "ValueError: boom" in got[4].findings[0].message
    assert sorted(seen) == list(range(1, len(texts) + 1))


def test_worker_death_and_memory_cap_are_crashes(test_formats):
    texts = ["a", "SEGV", "b", "MEMORY", "c"]
    got = validate_many(texts, "test-pathological", workers=1, timeout_s=5, memory_mb=512,
                        setup_module=test_formats)
    assert [v.verdict for v in got] == [VALID, UNJUDGED, VALID, UNJUDGED, VALID]
    assert kinds(got[1]) == ["crash"] and "SIGKILL" in got[1].findings[0].message
    assert kinds(got[3]) == ["crash"] and "MemoryError" in got[3].findings[0].message


def test_unjudged_is_a_verdict():
    assert UNJUDGED == "unjudged" and UNJUDGED in VERDICTS


def test_valid_documents_that_time_out_are_unjudged_not_invalid(monkeypatch):
    """A checker too slow for the limit says nothing about the document: unjudged, with the reason kept."""
    monkeypatch.syspath_prepend(HERE)
    texts = ["one", "two", "three"]
    fast = validate_many(texts, "test-slow", timeout_s=5, setup_module="_slow_test_format")
    assert [v.verdict for v in fast] == [VALID] * 3  # given time, every one is valid
    got = validate_many(texts, "test-slow", timeout_s=0.01, setup_module="_slow_test_format")
    assert [v.verdict for v in got] == [UNJUDGED] * 3
    assert all(kinds(v) == ["timeout"] and "0.01 s" in v.findings[0].message for v in got)


def test_tiny_time_limit_on_real_latex_is_unjudged():
    """The reviewer's case: valid LaTeX under a 0.1 ms limit (far below any check of 100 kB) is not `invalid`."""
    doc = "\\begin{document}\n" + "\\begin{proof}$x+y$ and {z}.\\end{proof}\n" * 3000 + "\\end{document}\n"
    assert validate(doc, "latex").verdict == VALID
    got = validate_many([doc] * 3, "latex", timeout_s=1e-4)
    assert [v.verdict for v in got] == [UNJUDGED] * 3 and all(kinds(v) == ["timeout"] for v in got)


def test_unknown_format_is_a_usage_error():
    with pytest.raises(KeyError):
        validate_many(["x"], "no-such-format")


def test_empty_input():
    assert validate_many([], "latex") == []


def test_deep_nesting_through_pool():
    texts = ["{" * 10_000, "\\begin{a}" * 10_000, "$" * 10_001]
    got = validate_many(texts, "latex", timeout_s=10)
    assert [v.verdict for v in got] == [VIABLE_PREFIX, VIABLE_PREFIX, VIABLE_PREFIX]


def test_fork_server_warm_up_builds_the_parsers():
    import importlib

    from gencheck.validators import markdown

    importlib.import_module("gencheck.validators.warm")  # what the fork server preloads
    assert markdown._FAST is not None  # built once there, inherited by every forked worker
    assert markdown._FAST is not False  # and the fast block parser passed its start-up check


#: Modules a fork server or a worker imports after it starts (multiprocessing's own, the parsers, the
#: standard library the validators use): planted in the working folder, none of them may run.
_PLANTED = ("socket", "selectors", "difflib", "tempfile", "ctypes", "resource", "pylatexenc", "pycparser",
            "markdown_it", "mistune")


def test_no_python_file_of_the_working_folder_runs_in_the_pool(tmp_path):
    """`gencheck validate` run in a folder holding a `difflib.py` (or `probe` putting that folder on
    sys.path) must not run it in the fork server or a worker. A fresh interpreter, so the fork server
    starts here and not in an earlier test."""
    import subprocess
    import sys

    work, marks = tmp_path / "work", tmp_path / "marks"
    work.mkdir()
    for name in _PLANTED:
        (work / f"{name}.py").write_text(f"import os\nopen({str(marks)!r}, 'a').write('{name} %d\\n' % os.getpid())\n")
    script = tmp_path / "driver" / "run.py"
    script.parent.mkdir()
    script.write_text(
        "import os, sys\n"
        "import ctypes, multiprocessing.sharedctypes, tempfile, socket, selectors  # the parent's own, before\n"
        "from gencheck.validators import validate_many\n"
        "sys.path.insert(0, os.getcwd())  # as `python -m` does, and `probe` did\n"
        "sys.path.insert(0, '')\n"
        "print(os.getpid(), [v.verdict for v in validate_many(['ok $x$', 'a{'], 'latex', workers=2)])\n")
    done = subprocess.run([sys.executable, str(script)], cwd=work, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    parent = done.stdout.split()[0]
    ran = [line for line in (marks.read_text().splitlines() if marks.exists() else []) if line.split()[1] != parent]
    assert ran == [], f"modules of the working folder ran in the pool: {ran}"
    assert "crash" not in done.stdout, done.stdout


def test_a_worker_refuses_to_start_with_the_working_folder_on_its_path(monkeypatch, tmp_path):
    from gencheck.validators import pool

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    with pytest.raises(RuntimeError, match="working folder"):
        pool._check_isolated(None)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
    pool._check_isolated(None)
