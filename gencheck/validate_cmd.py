"""`gencheck validate`: judge the structure of LaTeX, C or Markdown files from the command line.

Wiring (in gencheck/cli.py):  `validate_cmd.add_parser(subparsers)`; the parser's `func` is `run`.
Exit status: 0 when every input is valid, 1 when any judged input is not, 3 when none is wrong but some
could not be judged (verdict unjudged: timeout, crash, too long), 2 on a usage error (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass

EXAMPLES = """examples:
  gencheck validate paper.tex notes.md src/         # format from each file's extension
  gencheck validate --format c --json - < sample.txt  # one JSON object per input on stdout
  gencheck validate --workers 2 --timeout 2 samples/
  gencheck validate --compile paper.tex src/ notes.md  # + pdflatex / gcc / mistune's opinion per file
  gencheck validate --kinds --format markdown        # the finding taxonomy: what makes a document invalid
"""


from .fsutil import UsageError  # a problem with the command line: one line on stderr, exit 2


@dataclass
class _Input:
    path: str
    format: str
    text: str


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `validate` subcommand to an argparse subparsers object; returns its parser."""
    p = subparsers.add_parser(
        "validate",
        help="check the structure of LaTeX, C or Markdown files",
        description="Check the structure of LaTeX, C or Markdown documents (environments, brackets, "
        "math, fences, tables, ...) and print a verdict per input: valid, viable_prefix (only "
        "things still open at the end, as in a truncated sample), invalid, or unjudged (the check could "
        "not finish: timeout, crash, or longer than --max-chars). Exit status: 0 when every input is valid, "
        "1 when any judged input is not, 3 when none is wrong but some are unjudged, 2 on a usage error.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files, directories (walked) or - for stdin")
    p.add_argument("-f", "--format", default=None, help="latex, c or markdown (default: from the file extension)")
    p.add_argument("--json", action="store_true", help="print one JSON object per input instead of a table")
    p.add_argument("-j", "--workers", type=int, default=min(2, os.cpu_count() or 1), help="worker processes (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per input before it is judged 'timeout' (default: %(default)s)")
    p.add_argument("--max-chars", type=int, default=2_000_000, help="longer inputs are judged 'too_long' (default: %(default)s)")
    p.add_argument("--kinds", action="store_true", help="print the finding taxonomy (of --format, or of every "
                   "format): each kind, whether appending text can fix it, and what it means; then exit")
    p.add_argument("--compile", action="store_true", help="also ask the real toolchain about each input: "
                   "pdflatex compiles LaTeX, gcc -fsyntax-only C (missing headers stubbed), mistune and markdown-it "
                   "render Markdown; a column (and \"toolchain\" in --json) beside the verdict, which it never "
                   "changes, nor the exit status; n/a where the tool is not installed")
    p.add_argument("--gcc", action="store_true", help="the same as --compile (kept for scripts; --json rows of C "
                   "inputs also keep their \"gcc\" object)")
    p.set_defaults(func=run)
    return p


def _read(path: str) -> str:
    with open(path, "rb") as f:
        return f.read().decode("utf-8", errors="surrogateescape")


def collect_inputs(paths: list[str], fmt: str | None) -> list[_Input]:
    """Expand paths (stdin, files, directories) into inputs with a format each; UsageError on problems."""
    from gencheck.validators import FORMATS, format_for_path

    if fmt is not None and fmt not in FORMATS:
        raise UsageError(FORMATS.unknown_message(fmt))
    out: list[_Input] = []
    for path in paths:
        if path == "-":
            if fmt is None:
                raise UsageError("reading stdin needs --format (latex, c or markdown)")
            out.append(_Input("-", fmt, sys.stdin.read()))
        elif os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    full = os.path.join(root, name)
                    f = format_for_path(full)
                    if f is not None and (fmt is None or f == fmt):
                        out.append(_Input(full, f, _read(full)))
        elif os.path.isfile(path):
            f = fmt or format_for_path(path)
            if f is None:
                raise UsageError(f"cannot tell the format of {path}; use --format (latex, c or markdown)")
            out.append(_Input(path, f, _read(path)))
        else:
            raise UsageError(f"no such file or directory: {path}")
    return out


def _finding_json(f) -> dict:
    return {"kind": f.kind, "message": f.message, "line": f.line, "col": f.col, "opener": f.opener, "distance": f.distance}


def run(args: argparse.Namespace) -> int:
    """Validate every input; print a table (or JSON lines); return the exit status."""
    from gencheck.validators import WARNING, validate_many

    try:
        if args.kinds:
            return _print_kinds(args.format)
        if not args.paths:
            raise UsageError("give at least one PATH (a file, a directory, or - for stdin), or --kinds")
        inputs = collect_inputs(args.paths, args.format)
        if args.workers < 0 or args.timeout <= 0:
            raise UsageError("--workers must be >= 0 and --timeout > 0")
    except UsageError as e:
        print(f"gencheck validate: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"gencheck validate: error: {e}", file=sys.stderr)
        return 2
    verdicts = [None] * len(inputs)
    for fmt in sorted({i.format for i in inputs}):
        idx = [k for k, i in enumerate(inputs) if i.format == fmt]
        got = validate_many([inputs[k].text for k in idx], fmt, workers=args.workers, timeout_s=args.timeout,
                            max_chars=args.max_chars)
        for k, v in zip(idx, got):
            verdicts[k] = v
    judged = judge_inputs(inputs, args.workers) if args.compile or args.gcc else None
    if args.json:
        from .provenance import FORMAT_PACKAGES, versions

        made_by = {f: versions(FORMAT_PACKAGES.get(f, ()), judges=("gcc",) if judged is not None and f == "c" else ())
                   for f in {i.format for i in inputs}}
        for k, (inp, v) in enumerate(zip(inputs, verdicts)):
            row = {"path": inp.path, "format": inp.format, "verdict": v.verdict, "syntax": v.syntax,
                   "findings": [_finding_json(f) for f in v.findings], "seconds": round(v.seconds, 6),
                   "versions": made_by[inp.format]}
            op = judged[k] if judged is not None else None
            if op is not None:
                row["toolchain"] = {key: getattr(op, key) for key in ("name", "version", "ok", "kind", "message",
                                                                      "seconds", "line", "tolerant_ok")}
                if args.gcc and inp.format == "c":  # the --gcc row of earlier versions
                    row["gcc"] = {"ok": op.ok, "message": op.message}
            print(json.dumps(row, ensure_ascii=False))
    else:
        _print_table(inputs, verdicts, WARNING, judged)
    return exit_status([v.verdict for v in verdicts])


def exit_status(verdicts: list[str]) -> int:
    """0: all valid; 1: a judged input is not valid; 3: nothing judged wrong, but something unjudged.
    A failure found outranks one not looked at; unjudged is never passed off as valid."""
    from gencheck.validators import VALID
    from gencheck.validators.base import UNJUDGED

    if any(v not in (VALID, UNJUDGED) for v in verdicts):
        return 1
    return 3 if UNJUDGED in verdicts else 0


def _print_kinds(fmt: str | None) -> int:
    """The documented taxonomy: what each finding kind means and whether it keeps a prefix viable."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    import gencheck.validators.judges  # noqa: F401 -- registers the toolchain judges' kinds
    from gencheck.validators import FORMATS
    from gencheck.validators.pool import POOL_KINDS

    if fmt is not None and fmt not in FORMATS:
        raise UsageError(FORMATS.unknown_message(fmt))
    table = Table(title="finding kinds: errors make a sample invalid, unless every one is fixable by "
                  "appending (viable_prefix); warnings never change the verdict")
    for col in ("format", "kind", "fixable", "meaning"):
        table.add_column(col, overflow="fold")
    for name in [fmt] if fmt else FORMATS.names():
        spec = FORMATS.get(name)
        for kind, meaning in spec.kinds.items():
            table.add_row(name, kind, "yes" if kind in spec.fixable else "", escape(meaning))
    for kind, meaning in POOL_KINDS.items():
        table.add_row("(any)", kind, "", escape(meaning))
    Console(soft_wrap=False).print(table)
    return 0


def judge_inputs(inputs: list[_Input], workers: int) -> list:
    """The toolchain's Opinion on each input (None for a format without a judge), in the supervised pool;
    a C file's own folder is on its include path (its `#include "x.h"` neighbours)."""
    from gencheck.validators import toolchains

    out: list = [None] * len(inputs)
    groups: dict[tuple[str, str | None], list[int]] = {}
    for k, inp in enumerate(inputs):
        if toolchains.judge_for(inp.format) is not None:
            groups.setdefault((inp.format, _own_folder(inp.path) if inp.format == "c" else None), []).append(k)
    for (fmt, folder), idx in groups.items():
        ctx = toolchains.JudgeContext(include_dir=folder)
        for k, op in zip(idx, toolchains.judge_many([inputs[k].text for k in idx], fmt, ctx, workers=max(1, workers))):
            out[k] = op
    return out


def _own_folder(path: str) -> str | None:
    """The folder of an input file, where its `#include "x.h"` neighbours are (None for stdin)."""
    return None if path == "-" else os.path.dirname(os.path.abspath(path))


def _judge_cell(op) -> str:
    if op is None:
        return ""
    if op.ok is None:
        return f"{op.name}: n/a ({op.message})"
    if op.ok:
        return f"{op.name}: ok"
    tolerated = " (ok with undefined \\cs tolerated)" if op.tolerant_ok else ""
    return f"{op.name}: {op.kind} {op.message}{tolerated}"


def _print_table(inputs, verdicts, warning: str, judged: list | None = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from gencheck.validators import VERDICTS

    style = {"valid": "green", "viable_prefix": "yellow", "invalid": "red", "unjudged": "magenta"}
    table = Table(title="gencheck validate", show_lines=False)
    for col in ("path", "format", "verdict", "errors", "first finding") + (("toolchain",) if judged else ()):
        table.add_column(col, overflow="fold")
    counts: dict[str, int] = {}
    for k, (inp, v) in enumerate(zip(inputs, verdicts)):
        counts[v.verdict] = counts.get(v.verdict, 0) + 1
        errors = [f for f in v.findings if f.severity != warning]
        first = errors[0] if errors else (v.findings[0] if v.findings else None)
        where = f"{first.kind} {first.line}:{first.col} {first.message}" if first else ""
        cells = [escape(inp.path), inp.format, f"[{style.get(v.verdict, '')}]{v.verdict}[/]", str(len(errors)),
                 escape(where)]
        if judged:
            cells.append(escape(_judge_cell(judged[k])))
        table.add_row(*cells)
    console = Console(soft_wrap=False)
    console.print(table)
    summary = ", ".join(f"{counts.get(k, 0)} {k}" for k in VERDICTS)
    console.print(f"{len(inputs)} inputs: {summary}")
