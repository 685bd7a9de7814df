"""The validator contract: Finding, Verdict, and the format registry.

Every validator is a function `text -> Report`; `validate()` wraps it with the verdict rule and timing.
This module imports no torch: validators are usable alone, on text from any generator.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Mapping

VALID = "valid"
VIABLE_PREFIX = "viable_prefix"
INVALID = "invalid"
#: The checker could not judge the text (timeout, crash, out of memory, too long to check): the one finding
#: says why. It is no statement about the text, so it counts in no rate and as no detection.
UNJUDGED = "unjudged"
VERDICTS = (VALID, VIABLE_PREFIX, INVALID, UNJUDGED)

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One structural problem, located. `fixable_by_append` marks kinds that more text could repair
    (an environment or brace still open at the end of a truncated sample)."""

    kind: str
    message: str
    line: int
    col: int
    opener: str | None = None
    opener_line: int | None = None
    opener_col: int | None = None
    distance: int | None = None  # characters from the opener to the failure point
    fixable_by_append: bool = False
    severity: str = ERROR  # WARNING findings are reported but never change the verdict

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "Finding":
        return cls(**d)


@dataclass(frozen=True)
class Report:
    """What a format checker returns: findings plus named syntax checks (e.g. C: balanced, parses)."""

    findings: tuple[Finding, ...] = ()
    syntax: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    format: str
    verdict: str
    findings: tuple[Finding, ...]
    syntax: dict[str, bool]
    seconds: float
    chars: int = 0

    def to_json(self) -> dict:
        return {
            "format": self.format,
            "verdict": self.verdict,
            "findings": [f.to_json() for f in self.findings],
            "syntax": dict(self.syntax),
            "seconds": self.seconds,
            "chars": self.chars,
        }

    @classmethod
    def from_json(cls, d: dict) -> "Verdict":
        return cls(
            format=d["format"],
            verdict=d["verdict"],
            findings=tuple(Finding.from_json(f) for f in d["findings"]),
            syntax=dict(d.get("syntax", {})),
            seconds=float(d["seconds"]),
            chars=int(d.get("chars", 0)),
        )


def verdict_of(findings: Iterable[Finding]) -> str:
    """valid: no findings; viable_prefix: every finding could be fixed by appending text; else invalid.
    Findings with severity WARNING are ignored here (they are advice, e.g. a Markdown heading jump)."""
    findings = [f for f in findings if f.severity != WARNING]
    if not findings:
        return VALID
    if all(f.fixable_by_append for f in findings):
        return VIABLE_PREFIX
    return INVALID


def cap_findings(findings: list[Finding], limit: int = 100) -> list[Finding]:
    """Keep the first `limit` findings and summarise the rest in one `truncated_findings` finding
    whose fixability and severity are chosen so that the verdict is the same as with all kept."""
    if len(findings) <= limit:
        return list(findings)
    kept, dropped = list(findings[:limit]), findings[limit:]
    errors = [f for f in dropped if f.severity != WARNING]
    last = dropped[-1]
    kept.append(
        Finding(
            "truncated_findings",
            f"{len(dropped)} more findings not listed",
            last.line,
            last.col,
            fixable_by_append=all(f.fixable_by_append for f in errors),
            severity=ERROR if errors else WARNING,
        )
    )
    return kept


Checker = Callable[[str], Report]


@dataclass(frozen=True)
class FormatSpec:
    name: str
    check: Checker
    extensions: tuple[str, ...]
    description: str
    kinds: Mapping[str, str] = field(default_factory=dict)  # the finding taxonomy: kind -> what it means
    fixable: frozenset[str] = frozenset()  # kinds that appending text can repair (viable_prefix)


def line_col(text: str, offset: int, line_starts: list[int] | None = None) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    import bisect

    if line_starts is None:
        line_starts = line_starts_of(text)
    i = bisect.bisect_right(line_starts, offset) - 1
    return i + 1, offset - line_starts[i] + 1


def matching_end(tokens: Iterable[re.Match], opener: str, closer: str, stop: str | None = None) -> int:
    """The end offset of the closer that balances the first opener among `tokens` (a finditer over
    openers, closers, escapes such as `\\.` and an optional `stop` token), or -1 when none does before
    `stop` or the end. Shared by the bracket-matching scans of the format modules."""
    depth = 0
    for m in tokens:
        g = m.group()
        if g == opener:
            depth += 1
        elif g == closer:
            depth -= 1
            if depth == 0:
                return m.end()
        elif g == stop:
            return -1
    return -1


def line_starts_of(text: str) -> list[int]:
    starts = [0]
    find = text.find
    pos = find("\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = find("\n", pos + 1)
    return starts


def timed(fmt: str, check: Checker, text: str) -> Verdict:
    t0 = time.perf_counter()
    report = check(text)
    return Verdict(
        format=fmt,
        verdict=verdict_of(report.findings),
        findings=tuple(report.findings),
        syntax=dict(report.syntax),
        seconds=time.perf_counter() - t0,
        chars=len(text),
    )
