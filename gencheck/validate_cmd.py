"""`gencheck validate`: the validators on files from any generator, as a table or JSON lines.

Exit codes: 0 every input valid, 1 some input not valid, 2 usage error (unknown format, missing path).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .fsutil import UsageError


def add_parser(sub) -> argparse.ArgumentParser:
    from gencheck.validators import FORMATS

    p = sub.add_parser(
        "validate", help="check the structure of LaTeX, C or Markdown files",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Validate files (or stdin with -) and report each finding with line, column and the "
                    "opener it concerns. Verdicts: valid, viable_prefix (only still-open structures, as in a "
                    "cut-off sample), invalid.",
        epilog="examples:\n  gencheck validate paper.tex\n  gencheck validate --format c src/\n"
               "  cat sample.md | gencheck validate --format markdown - --json",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (walked); - reads stdin")
    p.add_argument("--format", choices=FORMATS.names(), help="default: from each file's extension")
    p.add_argument("--json", action="store_true", help="one JSON object per input on stdout")
    p.add_argument("--workers", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per input before it is a finding")
    return p


def collect(paths: list[str], fmt: str | None) -> list[tuple[str, str, str]]:
    """(path, format, text) for every input; a folder yields its files of a known format."""
    from gencheck.validators import format_for_path

    out = []
    for raw in paths:
        if raw == "-":
            if not fmt:
                raise UsageError("reading stdin (-) needs --format")
            out.append(("-", fmt, sys.stdin.buffer.read().decode("utf-8", "surrogateescape")))
            continue
        p = Path(raw)
        if not p.exists():
            raise UsageError(f"no such file or folder: {raw}")
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            f_fmt = fmt or format_for_path(str(f))
            if f_fmt is None:
                if p.is_dir():
                    continue
                raise UsageError(f"cannot tell the format of {f} from its extension: pass --format")
            out.append((str(f), f_fmt, f.read_bytes().decode("utf-8", "surrogateescape")))
    return out


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from gencheck.validators import VALID, validate_many

    inputs = collect(args.paths, args.format)
    verdicts = [None] * len(inputs)
    for fmt in sorted({f for _, f, _ in inputs}):
        idx = [i for i, (_, f, _) in enumerate(inputs) if f == fmt]
        for i, v in zip(idx, validate_many([inputs[i][2] for i in idx], fmt, workers=args.workers,
                                           timeout_s=args.timeout)):
            verdicts[i] = v
    if args.json:
        for (path, fmt, _), v in zip(inputs, verdicts):
            print(json.dumps({"path": path, "format": fmt, "verdict": v.verdict, "findings": [
                {k: f.to_json()[k] for k in ("kind", "message", "line", "col", "opener", "distance")}
                for f in v.findings], "seconds": round(v.seconds, 6)}, ensure_ascii=False))
    else:
        t = Table(title=f"gencheck validate · {len(inputs)} input(s)")
        for col in ("path", "format", "verdict", "findings", "first finding"):
            t.add_column(col, overflow="fold")
        for (path, fmt, _), v in zip(inputs, verdicts):
            first = v.findings[0] if v.findings else None
            colour = {"valid": "green", "viable_prefix": "yellow"}.get(v.verdict, "red")
            t.add_row(path, fmt, f"[{colour}]{v.verdict}[/]", str(len(v.findings)),
                      f"{first.line}:{first.col} {first.kind}: {first.message}" if first else "")
        Console().print(t)
    return 0 if all(v.verdict == VALID for v in verdicts) else 1
