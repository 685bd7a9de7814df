"""The supervised pool: hangs, crashes and huge inputs become verdicts; order is kept."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gencheck.validators import INVALID, VALID, VIABLE_PREFIX, validate, validate_many

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


def test_too_long_is_invalid_without_parsing():
    (v,) = validate_many(["x" * 101], "latex", max_chars=100)
    assert v.verdict == INVALID and kinds(v) == ["too_long"]


def test_hung_samples_time_out_and_others_still_judged(test_formats):
    texts = ["fine", "PYHANG", "fine too", "CHANG", "BOOM", "last"]
    seen = []
    t0 = time.monotonic()
    got = validate_many(texts, "test-pathological", workers=2, timeout_s=0.5, setup_module=test_formats,
                        progress=seen.append)
    assert time.monotonic() - t0 < 20
    assert [v.verdict for v in got] == [VALID, INVALID, VALID, INVALID, INVALID, VALID]
    assert kinds(got[1]) == ["timeout"] and "0.5" in got[1].findings[0].message
    assert kinds(got[3]) == ["timeout"]  # stuck in C: the worker was killed and replaced
    assert kinds(got[4]) == ["crash"] and "ValueError: boom" in got[4].findings[0].message
    assert sorted(seen) == list(range(1, len(texts) + 1))


def test_worker_death_and_memory_cap_are_crashes(test_formats):
    texts = ["a", "SEGV", "b", "MEMORY", "c"]
    got = validate_many(texts, "test-pathological", workers=1, timeout_s=5, memory_mb=512,
                        setup_module=test_formats)
    assert [v.verdict for v in got] == [VALID, INVALID, VALID, INVALID, VALID]
    assert kinds(got[1]) == ["crash"] and "SIGKILL" in got[1].findings[0].message
    assert kinds(got[3]) == ["crash"] and "MemoryError" in got[3].findings[0].message


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
