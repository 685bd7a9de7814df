"""Which LaTeX corpus can a CPU-budget model learn? Train the same small LSTM on each candidate.

    python benchmarks/corpus_learnability.py [--steps 1200] corpora/latex.toml benchmarks/candidates/*.toml

Prints one row per candidate: size, unigram entropy, test bpc, and the share of `\\end{...}` in
samples that close the innermost open environment (with the always-the-majority-env baseline).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from gencheck.config import PROFILES, with_overrides
from gencheck.corpus import build, resolve_spec, unigram_entropy
from gencheck.sample import generate
from gencheck.structure import Closures, latex_closures, majority_environment
from gencheck.train import Checkpoint, bits_per_char, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpora", nargs="+")
    ap.add_argument("--steps", type=int, default=1200)
    args = ap.parse_args()
    device = torch.device("cpu")
    table = Table(title=f"LaTeX corpus learnability: lstm 2×128, {args.steps} steps × 8,192 chars, CPU")
    for col in ("corpus", "docs", "MB", "unigram H", "test bpc", "env closes", "right", "majority", "s"):
        table.add_column(col, justify="right" if col != "corpus" else "left")
    for name in args.corpora:
        spec = resolve_spec(name)
        corpus = build(spec)
        profile = with_overrides(PROFILES["cpu"], steps=args.steps, eval_every=args.steps)
        t0 = time.time()
        with tempfile.TemporaryDirectory() as out:
            result = train(corpus, profile, Path(out), device)
            ck = Checkpoint.load(result.checkpoint)
        model = ck.build_model(device)
        test_bpc = bits_per_char(model, corpus.texts("test"), ck.vocab, device)
        samples = generate(model, ck.vocab, profile.sample, device)
        majority = majority_environment(corpus.texts("train"))
        closes = Closures()
        for s in samples:
            closes.add(latex_closures(s.text, majority))
        table.add_row(
            spec.name, str(len(corpus.documents)), f"{corpus.chars() / 1e6:.1f}",
            f"{unigram_entropy(corpus.texts('train')):.2f}", f"{test_bpc:.2f}", str(closes.total),
            f"{closes.accuracy:.2f}", f"{closes.majority_right / max(1, closes.total):.2f} ({majority})",
            f"{time.time() - t0:.0f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
