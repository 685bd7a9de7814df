"""The supervised pool: hangs, crashes and huge inputs become verdicts; order is kept."""

from __future__ import annotations

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
