"""Robustness: no exception escapes a validator, whatever the input; pathological inputs finish.

The default run is small (~200 examples per format). The slow run (`-m slow`) uses the "ci" profile:
10,000 examples, derandomized, no deadline.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gencheck.validators import VERDICTS, validate, validate_many

settings.register_profile("ci", max_examples=10_000, derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
FORMATS = ("latex", "c", "markdown")

# text biased towards each format's structural characters
ALPHABET = st.sampled_from(list("{}[]()$\\%`'\"#|<>/*!-\n \tabcxyz0123") + ["\\begin{a}", "\\end{a}", "\\end{b}",
                           "\\verb|", "\\left(", "\\right)", "/*", "*/", "```", "\n| a | b |\n|---|---|\n",
                           "#if 0\n", "#endif\n", "<b>", "</b>", "](", "\\[", "\\]", "$$", "\x00", "\udcff"])
TEXTS = st.lists(ALPHABET, max_size=80).map("".join) | st.text(max_size=300)


def _check(text: str, fmt: str) -> None:
    v = validate(text, fmt)
    assert v.verdict in VERDICTS
    for f in v.findings:
        assert f.line >= 1 and f.col >= 1


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS)
def test_fuzz_fast(fmt, text):
    _check(text, fmt)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
@settings(settings.get_profile("ci"))
@given(text=TEXTS)
def test_fuzz_ci(fmt, text):
    _check(text, fmt)


def _pathological() -> dict[str, str]:
    invalid_utf8 = b"\xff\xfe{\x80}\xc3(".decode("utf-8", "surrogateescape")
    return {
        "braces_10k": "{" * 10_000 + "}" * 10_000,
        "open_braces_10k": "{" * 10_000,
        "envs_10k": "\\begin{a}" * 10_000 + "\\end{a}" * 10_000,
        "parens_10k": "(" * 10_000 + ")" * 10_000,
        "brackets_10k": "[" * 10_000,
        "single_line_5mb": "a {b} $c$ (d) [e](f) " * 250_000,
        "nul_bytes": "\x00" * 10_000 + "{\x00}",
        "lone_surrogates": "\ud800\udfff" * 1000 + "{",
        "invalid_utf8": invalid_utf8 * 1000,
        "empty": "",
        "whitespace": " \t\n\r" * 1000,
        "backslashes_1mb": "\\" * 1_000_000,
        "backticks": "`" * 100_000,
        "html_10k": "<b>" * 10_000,
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_pathological_inputs_finish(fmt):
    cases = _pathological()
    got = validate_many(list(cases.values()), fmt, workers=2, timeout_s=10, max_chars=6_000_000)
    assert len(got) == len(cases)
    for name, v in zip(cases, got):
        assert v.verdict in VERDICTS, name
        assert all(f.kind != "crash" for f in v.findings), (name, v.findings[:1])
