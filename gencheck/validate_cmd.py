"""`gencheck validate`: judge the structure of LaTeX, C or Markdown files from the command line.

Wiring (in gencheck/cli.py):  `validate_cmd.add_parser(subparsers)`; the parser's `func` is `run`.
Exit status: 0 when every input is valid, 1 when any judged input is not, 3 when none is wrong but some
could not be judged (verdict unjudged: timeout, crash, too long; or skipped: not a regular file) or had
nothing to judge (verdict trivial: an empty file, only comments, no structure; not an error, but no `valid`
either), 2 on a usage error (one line on stderr), nothing to validate included.
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
from .progress import show_controls


@dataclass
class _Input:
    path: str
    format: str
    text: str
    too_long: int = 0  # bytes of an input longer than --max-chars, left unread (its text is then "")


#: The most seconds --timeout may be: a check longer than a day is a mistake (and setitimer's range ends).
MAX_TIMEOUT_S = 86_400.0


def byte_limit(max_chars: int) -> int:
    """Bytes that can hold max_chars characters: UTF-8 takes at most 4 a character (an undecodable byte is
    one), so a file with more bytes than this is longer than max_chars and need not be read."""
    return 4 * max_chars + 4


class _NotRegular(Exception):
    """A path that is no regular file (a FIFO, a device, a socket): reading it could hang or never end."""


#: The most characters --max-chars may ask for: a gigabyte of text (4 GB read at most, byte_limit).
MAX_CHARS = 1 << 30
#: The most worker processes.
MAX_WORKERS = 1024


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `validate` subcommand to an argparse subparsers object; returns its parser."""
    from .cli import float_in, int_in  # every numeric flag parses into its range at the parser

    p = subparsers.add_parser(
        "validate",
        help="check the structure of LaTeX, C or Markdown files",
        description="Check the structure of LaTeX, C or Markdown documents (environments, brackets, "
        "math, fences, tables, ...) and print a verdict per input: valid, viable_prefix (only "
        "things still open at the end, as in a truncated sample), invalid, trivial (no error, but nothing to "
        "judge: empty, only comments, no structure of the format, or under 20 non-space characters; the first "
        "finding says which), or unjudged (the check could not finish: timeout, crash, or longer than "
        "--max-chars). Exit status: 0 when every input is valid, 1 when any judged input is not, 3 when none "
        "is wrong but some are trivial, unjudged or skipped (not a regular file), 2 on a usage error or when "
        "nothing is left to validate.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files, directories (walked) or - for stdin")
    p.add_argument("-f", "--format", default=None, help="latex, c or markdown (default: from the file extension)")
    p.add_argument("--json", action="store_true", help="print one JSON object per input instead of a table")
    p.add_argument("-j", "--workers", type=int_in(0, MAX_WORKERS), default=min(2, os.cpu_count() or 1), help="worker processes (default: %(default)s)")
    p.add_argument("--timeout", type=float_in(0.0, MAX_TIMEOUT_S, lo_open=True), default=5.0, help="seconds per input before it is judged 'timeout' (default: %(default)s)")
    p.add_argument("--max-chars", type=int_in(0, MAX_CHARS), default=2_000_000, help="longer inputs are judged 'too_long', read no further than that needs (default: %(default)s)")
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


def _read_bytes(read, limit: int) -> bytes:
    """At most limit + 1 bytes from `read(n)`: enough to tell that there are more than `limit`."""
    chunks, got = [], 0
    while got <= limit:
        block = read(min(1 << 20, limit + 1 - got))
        if not block:
            break
        chunks.append(block)
        got += len(block)
    return b"".join(chunks)


def _read(path: str, fmt: str, max_chars: int) -> _Input:
    """The input at `path`, read only as far as max_chars needs; _NotRegular for anything but a regular
    file (opened without blocking, so a FIFO cannot hang the open either)."""
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or \
                stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a file"
            raise _NotRegular(kind)
        limit = byte_limit(max_chars)
        data = b"" if st.st_size > limit else _read_bytes(lambda n: os.read(fd, n), limit)
    finally:
        os.close(fd)
    if st.st_size > limit or len(data) > limit:
        return _Input(path, fmt, "", too_long=max(st.st_size, len(data)))
    return _Input(path, fmt, data.decode("utf-8", errors="surrogateescape"))


def _stdin(fmt: str, max_chars: int) -> _Input:
    """Standard input, read only as far as max_chars needs (as bytes where it has them)."""
    binary = getattr(sys.stdin, "buffer", None)
    if binary is None:
        text = sys.stdin.read(max_chars + 1)
        return _Input("-", fmt, "", too_long=len(text.encode("utf-8", "surrogateescape"))) \
            if len(text) > max_chars else _Input("-", fmt, text)
    limit = byte_limit(max_chars)
    data = _read_bytes(binary.read, limit)
    if len(data) > limit:
        return _Input("-", fmt, "", too_long=len(data))
    return _Input("-", fmt, data.decode("utf-8", errors="surrogateescape"))


def collect_inputs(paths: list[str], fmt: str | None, max_chars: int = 2_000_000,
                   note=lambda line: print(show_controls(f"gencheck validate: note: {line}"), file=sys.stderr)) -> list[_Input]:
    """Expand paths (stdin, files, directories) into inputs with a format each; UsageError on problems.
    What is not a regular file (a FIFO, a link to a device) is skipped with a `note`, never read."""
    from gencheck.validators import FORMATS, format_for_path

    if fmt is not None and fmt not in FORMATS:
        raise UsageError(FORMATS.unknown_message(fmt))
    out: list[_Input] = []

    def add(path: str, f: str) -> None:
        try:
            out.append(_read(path, f, max_chars))
        except _NotRegular as kind:
            note(f"skipped {path}: not a regular file ({kind})")

    for path in paths:
        if path == "-":
            if fmt is None:
                raise UsageError("reading stdin needs --format (latex, c or markdown)")
            out.append(_stdin(fmt, max_chars))
        elif os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    full = os.path.join(root, name)
                    f = format_for_path(full)
                    if f is not None and (fmt is None or f == fmt):
                        add(full, f)
        elif os.path.exists(path):
            f = fmt or format_for_path(path)
            if f is None:
                raise UsageError(f"cannot tell the format of {path}; use --format (latex, c or markdown)")
            add(path, f)
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
        _check_values(args)
        skipped: list[str] = []

        def note(line: str) -> None:
            skipped.append(line)
            print(show_controls(f"gencheck validate: note: {line}"), file=sys.stderr)

        inputs = collect_inputs(args.paths, args.format, args.max_chars, note)
        if not inputs:  # exit 0 said "all valid" of nothing at all
            raise UsageError(f"nothing to validate: {len(skipped)} input(s) skipped, and no file of a known format "
                             f"(latex, c, markdown) among the paths")
    except UsageError as e:
        print(show_controls(f"gencheck validate: error: {e}"), file=sys.stderr)
        return 2
    except OSError as e:
        print(show_controls(f"gencheck validate: error: {e}"), file=sys.stderr)
        return 2
    from gencheck.validators.pool import failed_verdict

    verdicts = [failed_verdict(i.format, "too_long", f"{i.too_long:,} bytes: more than max_chars={args.max_chars} "
                               "characters, not read", i.too_long) if i.too_long else None for i in inputs]
    for fmt in sorted({i.format for i in inputs}):
        idx = [k for k, i in enumerate(inputs) if i.format == fmt and not i.too_long]
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
    from gencheck.validators.base import UNJUDGED

    return exit_status([v.verdict for v in verdicts] + [UNJUDGED] * len(skipped))  # a skipped input: not judged


def _check_values(args: argparse.Namespace) -> None:
    """Refuse values no run can use, naming the flag (a NaN or endless --timeout left every input unjudged)."""
    import math

    if args.workers < 0:
        raise UsageError(f"--workers {args.workers}: give 0 or more")
    if not (math.isfinite(args.timeout) and 0 < args.timeout <= MAX_TIMEOUT_S):
        raise UsageError(f"--timeout {args.timeout:g}: give seconds above 0 and at most {MAX_TIMEOUT_S:g}")
    if args.max_chars < 0:
        raise UsageError(f"--max-chars {args.max_chars}: give 0 or more")


def exit_status(verdicts: list[str]) -> int:
    """0: all valid; 1: a judged input is not valid; 3: nothing judged wrong, but something unjudged or
    trivial. A failure found outranks one not looked at; neither unjudged nor trivial (an empty file) is
    passed off as valid, and neither is an error."""
    from gencheck.validators import TRIVIAL, VALID
    from gencheck.validators.base import UNJUDGED

    if any(v not in (VALID, UNJUDGED, TRIVIAL) for v in verdicts):
        return 1
    return 3 if UNJUDGED in verdicts or TRIVIAL in verdicts else 0


def _print_kinds(fmt: str | None) -> int:
    """The documented taxonomy: what each finding kind means and whether it keeps a prefix viable."""
    from gencheck.progress import SafeConsole as Console
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
        if toolchains.judge_for(inp.format) is not None and not inp.too_long:  # an unread input is not judged
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
    from gencheck.progress import SafeConsole as Console
    from rich.markup import escape
    from rich.table import Table

    from gencheck.validators import VERDICTS

    style = {"valid": "green", "viable_prefix": "yellow", "invalid": "red", "trivial": "cyan", "unjudged": "magenta"}
    table = Table(title="gencheck validate", show_lines=False)
    for col in ("path", "format", "verdict", "errors", "first finding") + (("toolchain",) if judged else ()):
        table.add_column(col, overflow="fold")
    counts: dict[str, int] = {}
    for k, (inp, v) in enumerate(zip(inputs, verdicts)):
        counts[v.verdict] = counts.get(v.verdict, 0) + 1
        errors = [f for f in v.findings if f.severity != warning]
        first = errors[0] if errors else (v.findings[0] if v.findings else None)
        where = "" if not first else f"trivial: {first.message}" if first.kind == "trivial" else \
            f"{first.kind} {first.line}:{first.col} {first.message}"
        cells = [escape(inp.path), inp.format, f"[{style.get(v.verdict, '')}]{v.verdict}[/]", str(len(errors)),
                 escape(where)]
        if judged:
            cells.append(escape(_judge_cell(judged[k])))
        table.add_row(*cells)
    console = Console(soft_wrap=False)
    console.print(table)
    summary = ", ".join(f"{counts.get(k, 0)} {k}" for k in VERDICTS)
    console.print(f"{len(inputs)} inputs: {summary}")
