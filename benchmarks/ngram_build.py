"""Character n-gram baseline: build time, memory and scoring speed on a real corpus.

    python benchmarks/ngram_build.py [CORPUS] [--orders 5,20] [--json out.json]

Prints one row per order: train characters, build seconds, table bytes, peak RSS of this process after
the build (the corpus itself included), and bits/char and chars/s scoring the test split. Targets (issue
#10): latex-stacks (25 M train characters) built in ≤ 3 min and ≤ 6 GB on 2 cores, scored at ≥ 200 k
chars/s. Run it on a quiet machine: every figure moves with whatever else runs.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

from gencheck.corpus import Vocab, build, resolve_spec, stream
from gencheck.ngram import NGram
from gencheck.progress import print_rows


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", nargs="?", default="latex-stacks")
    ap.add_argument("--orders", default="5,20")
    ap.add_argument("--json", help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    corpus = build(resolve_spec(args.corpus))
    vocab = Vocab.from_texts(corpus.texts("train"), 100)  # the cpu/gpu profiles' vocabulary
    train_ids, test_ids = stream(corpus.texts("train"), vocab), stream(corpus.texts("test"), vocab)
    rows = []
    for order in (int(o) for o in args.orders.split(",")):
        t0 = time.perf_counter()
        ng = NGram.fit(train_ids, order, vocab.size, vocab.sep_id)
        build_s = time.perf_counter() - t0
        rss = peak_rss_mb()
        t0 = time.perf_counter()
        bpc = ng.bits_per_char(test_ids)
        score_s = time.perf_counter() - t0
        rows.append({"corpus": args.corpus, "order": order, "train_chars": len(train_ids), "build_s": round(build_s, 1),
                     "table_mb": round(ng.nbytes() / 2**20), "peak_rss_mb": round(rss), "test_chars": len(test_ids),
                     "test_bpc": round(bpc, 4), "score_chars_per_s": round((len(test_ids) - 1) / score_s)})
        del ng
    print_rows(f"character n-grams (interpolated modified Kneser–Ney) on {args.corpus}, "
               f"{rows[0]['train_chars']:,} train / {rows[0]['test_chars']:,} test chars",
               ("order", "build s", "tables MB", "peak RSS MB", "test bits/char", "score chars/s"),
               [[str(r["order"]), f"{r['build_s']:.1f}", f"{r['table_mb']:,}", f"{r['peak_rss_mb']:,}",
                 f"{r['test_bpc']:.3f}", f"{r['score_chars_per_s']:,}"] for r in rows], rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
