"""Validator throughput: samples/s of ~2 KB per format, on 1 and 2 workers (through validate_many).

Samples are cut from the default corpora (`latex`, `c`, `markdown`; built or fetched as by
`gencheck corpus build`), else from generated documents when a corpus cannot be had. Targets: >=500 LaTeX, >=500 C, >=1500 Markdown
samples/s on one worker, and >=1.8x from 1 to 2 workers.

    python benchmarks/validate_throughput.py [--n 2000] [--size 2048]
"""

from __future__ import annotations

import argparse
import random
import time

from rich.console import Console
from rich.table import Table

from gencheck.validators import validate_many

TARGETS = {"latex": 500, "c": 500, "markdown": 1500}


def _corpus_texts(fmt: str) -> list[str]:
    from gencheck.corpus import build, resolve_spec
    from gencheck.fsutil import GencheckError

    try:
        return [d.text for d in build(resolve_spec(fmt)).documents]
    except GencheckError:
        return []


def _generated(fmt: str, rng: random.Random) -> str:
    if fmt == "latex":
        return "\\begin{document}\n" + "".join(
            f"\\section{{S{i}}} Text $x_{i}^2$ and {{\\bf b}}.\n\\begin{{itemize}}\\item a\\end{{itemize}}\n" for i in range(30)
        ) + "\\end{document}\n"
    if fmt == "c":
        return "".join(f"static int f{i}(int a[], int n) {{ int s = 0; for (int k = 0; k < n; k++) {{ s += a[k] * {i}; }} return s; }}\n"
                       for i in range(25))
    return "".join(f"## Part {i}\n\nSome `code` and a [link](http://x/{i}).\n\n- item\n- item\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n" for i in range(20))


def samples(fmt: str, n: int, size: int, seed: int = 0) -> tuple[list[str], str]:
    """n chunks of `size` characters cut at line boundaries from real files (or generated text)."""
    rng = random.Random(seed)
    texts = [t for t in _corpus_texts(fmt) if len(t) >= size]
    source = f"corpus {fmt} ({len(texts)} docs)"
    if not texts:
        texts, source = [_generated(fmt, rng) * 4], "generated"
    out = []
    while len(out) < n:
        t = texts[rng.randrange(len(texts))]
        start = t.rfind("\n", 0, rng.randrange(max(1, len(t) - size))) + 1
        out.append(t[start:start + size])
    return out, source


def throughput(texts: list[str], fmt: str, workers: int) -> float:
    validate_many(texts[:50], fmt, workers=workers)  # warm: start the fork server, import parsers
    t0 = time.perf_counter()
    validate_many(texts, fmt, workers=workers, timeout_s=10)
    return len(texts) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--size", type=int, default=2048)
    args = ap.parse_args()
    table = Table(title=f"validator throughput, {args.size}-char samples")
    for col in ("format", "source", "1 worker /s", "2 workers /s", "speed-up", "target /s"):
        table.add_column(col)
    for fmt in ("latex", "c", "markdown"):
        texts, source = samples(fmt, args.n, args.size)
        one = throughput(texts, fmt, 1)
        two = throughput(texts, fmt, 2)
        table.add_row(fmt, source, f"{one:.0f}", f"{two:.0f}", f"{two / one:.2f}x", str(TARGETS[fmt]))
    Console().print(table)


if __name__ == "__main__":
    main()
