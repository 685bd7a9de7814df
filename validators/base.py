"""The validator contract: Finding, Verdict, and the format registry.

Every validator is a function `text -> Report`; `validate()` wraps it with the verdict rule and timing.
This module imports no torch: validators are usable alone, on text from any generator.

What a verdict means, for every format (each format module states what it checks and what it counts as
structure):

- `valid`: the checks found no error, and the text has structure for them to be right about;
- `viable_prefix`: every error is something still open at the end (a truncated sample could be finished);
- `invalid`: an error that appending text cannot repair -- at any length, a defect is a defect;
- `trivial`: no error, but nothing to judge: the text has none of the structure its format's checks are
  about, or fewer than `MIN_CONTENT_CHARS` non-space characters outside comments (an empty file, 2,000
  characters of `%` comments). "Valid" would be vacuous there, so a trivial text counts beside the rates
  and outside them, like `unjudged`;
- `unjudged`: the checker could not finish (timeout, crash, too long): no statement about the text.

Rates (`share`) are of the *rated* texts: valid, viable_prefix and invalid ones. Every rate in gencheck --
the scorecard's samples and real-text columns, `calibrate`'s acceptance, the evolution's valid share --
goes through `share`, so they are computed alike.
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
#: No error, and nothing to judge (see the module docstring): its one finding, kind `trivial` (a warning),
#: says why. Like UNJUDGED it counts in no rate; unlike it, the checks did run.
TRIVIAL = "trivial"
VERDICTS = (VALID, VIABLE_PREFIX, INVALID, TRIVIAL, UNJUDGED)
#: The verdicts rates are shares of: what the checks had something to say about.
RATED = (VALID, VIABLE_PREFIX, INVALID)
#: Fewer non-space characters than this outside comments make a text trivial, whatever it holds: a check
#: of a dozen characters says nothing about a model (a bare `{}` or `$x$` is no evidence of structure).
MIN_CONTENT_CHARS = 20

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
    """What a format checker returns: findings plus named syntax checks (e.g. C: balanced, parses), and
    `trivial`: why the text has nothing to judge (`trivial_reason`), or "" when it has."""

    findings: tuple[Finding, ...] = ()
    syntax: dict[str, bool] = field(default_factory=dict)
    trivial: str = ""


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


def nonspace(text: str) -> int:
    """Characters of `text` that are not whitespace."""
    return len("".join(text.split()))


def trivial_reason(text: str, content_chars: int, missing: str, where: str = "outside comments") -> str:
    """Why a text has nothing to judge, or "" when it has something: the rule every format applies.

    `content_chars`: non-space characters the checks read (`where`: outside comments, say); `missing`:
    what structure the text lacks ("" when it has some), e.g. "no \\begin, {...} group or math"."""
    if not text.strip():
        return "empty text" if not text else "only whitespace"
    if content_chars == 0:
        return f"nothing {where}"
    if content_chars < MIN_CONTENT_CHARS:
        return f"only {content_chars} non-space characters {where} (fewer than {MIN_CONTENT_CHARS})"
    return f"no structure: {missing} {where}" if missing else ""


def rated(counts: Mapping[str, int]) -> int:
    """How many texts rates are shares of: the valid, viable_prefix and invalid ones."""
    return sum(counts.get(v, 0) for v in RATED)


def share(counts: Mapping[str, int], verdict: str) -> float:
    """The share of `verdict` among the rated texts (NaN when none is); for a verdict outside the rates
    (trivial, unjudged), its share of every text. The one rate rule of gencheck."""
    whole = rated(counts) if verdict in RATED else sum(counts.values())
    return counts.get(verdict, 0) / whole if whole else float("nan")


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


def verdict_of_report(report: Report) -> tuple[str, tuple[Finding, ...]]:
    """The verdict and findings of a report: `verdict_of`, except that a valid text with nothing to judge
    is trivial, with one `trivial` warning saying why. Errors come first: a short invalid text stays
    invalid, since the defect is a fact about it."""
    verdict = verdict_of(report.findings)
    if verdict != VALID or not report.trivial:
        return verdict, tuple(report.findings)
    return TRIVIAL, (Finding("trivial", report.trivial, 1, 1, severity=WARNING), *report.findings)


def timed(fmt: str, check: Checker, text: str) -> Verdict:
    t0 = time.perf_counter()
    report = check(text)
    verdict, findings = verdict_of_report(report)
    return Verdict(
        format=fmt,
        verdict=verdict,
        findings=findings,
        syntax=dict(report.syntax),
        seconds=time.perf_counter() - t0,
        chars=len(text),
    )
