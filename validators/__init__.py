"""gencheck.validators: structure checks for LaTeX, C and Markdown, usable without torch.

    from gencheck.validators import validate
    v = validate(text, "latex")      # Verdict(verdict="valid" | "viable_prefix" | "invalid" | "trivial", ...)

`validate` also says "trivial": nothing to judge (no structure of the format's kinds, or fewer than
`base.MIN_CONTENT_CHARS` non-space characters outside comments). `validate_many` (the supervised pool)
adds "unjudged": the checker timed out, crashed or the text was too long to check, so there is no verdict
on the text. Neither counts in a rate (`base.share`); `base`'s docstring says what each verdict means.

Each format module registers itself with one `register_format(...)` declaration.
"""

from __future__ import annotations

from gencheck.registry import Registry

from .base import (
    ERROR,
    INVALID,
    TRIVIAL,
    UNJUDGED,
    VALID,
    VERDICTS,
    VIABLE_PREFIX,
    WARNING,
    Checker,
    Finding,
    FormatSpec,
    Report,
    Verdict,
    timed,
)

FORMATS: Registry[FormatSpec] = Registry("format")


def register_format(name: str, extensions: tuple[str, ...], description: str,
                    kinds: dict[str, str] | None = None, fixable: frozenset[str] = frozenset()):
    """Decorator: register `check(text) -> Report` as the validator for `name`, with its finding
    taxonomy (`gencheck validate --kinds` prints it)."""

    def deco(check: Checker) -> Checker:
        FORMATS.add(name, FormatSpec(name, check, extensions, description, dict(kinds or {}), frozenset(fixable)))
        return check

    return deco


def validate(text: str, format: str) -> Verdict:
    """Validate one text in this process (no time limit; see `validate_many` for the supervised pool)."""
    spec = FORMATS.get(format)
    return timed(format, spec.check, text)


def format_for_path(path: str) -> str | None:
    low = path.lower()
    for name in FORMATS.names():
        if any(low.endswith(ext) for ext in FORMATS.get(name).extensions):
            return name
    return None


from . import c, latex, markdown  # noqa: E402,F401  (each registers its format)
from .pool import validate_many  # noqa: E402

__all__ = [
    "ERROR",
    "WARNING",
    "FORMATS",
    "INVALID",
    "TRIVIAL",
    "UNJUDGED",
    "VALID",
    "VERDICTS",
    "VIABLE_PREFIX",
    "Finding",
    "Report",
    "Verdict",
    "format_for_path",
    "register_format",
    "validate",
    "validate_many",
]
