"""Sampling throughput: characters per second generating 1, 16, 64, 256 (and 1,024 on a GPU) documents in
parallel with gencheck's own sampler (`gencheck.sample.generate`: the state is carried, one forward per
character for the whole batch, never re-running the prefix).

    python benchmarks/sample_throughput.py [--device cpu|cuda] [--layers 2 --hidden 128] [--chars 500]
        [--batches 1,16,64,256] [--json out.json]

An untrained model of the given shape is enough: the work per character does not depend on the weights.
Its head never emits the document separator (bias -1e9), so every sample runs its full length.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from gencheck.config import SampleConfig
from gencheck.corpus import Vocab
from gencheck.models import CharModel, ModelConfig, build_model
from gencheck.progress import print_rows
from gencheck.sample import generate


def measure(model: CharModel, vocab: Vocab, n: int, chars: int, device: torch.device) -> float:
    cfg = SampleConfig(num_samples=n, max_chars=chars, temperature=1.0, seed=0)
    generate(model, vocab, SampleConfig(num_samples=n, max_chars=8, seed=1), device)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t = time.perf_counter()
    samples = generate(model, vocab, cfg, device)
    seconds = time.perf_counter() - t
    if not all(s.truncated for s in samples):
        raise RuntimeError("a sample ended early: the chars/s below would be wrong")
    return n * chars / seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--kind", default="lstm", help="any --model family (lstm, gru, rnn, mingru, transformer, conv)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--chars", type=int, default=500)
    ap.add_argument("--batches", default=None, help="default 1,16,64,256 (and 1024 on CUDA)")
    ap.add_argument("--json", help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    batches = [int(b) for b in (args.batches or ("1,16,64,256,1024" if device.type == "cuda" else "1,16,64,256")).split(",")]
    vocab = Vocab(("\x1e", "\x1a", *[chr(c) for c in range(32, 127)]))
    torch.manual_seed(0)
    model = build_model(ModelConfig(vocab.size, args.kind, args.layers, args.hidden, 64))
    with torch.no_grad():
        model.head.bias[vocab.sep_id] = -1e9  # never ends a document: every sample is `--chars` long
    model = model.to(device)
    rows = []
    for n in batches:
        rate = measure(model, vocab, n, args.chars, device)
        rows.append({"device": str(device), "model": f"{args.kind} {args.layers}x{args.hidden}", "parallel": n,
                     "chars_per_s": round(rate)})
    one = rows[0]["chars_per_s"] if rows and rows[0]["parallel"] == 1 else None
    for r in rows:
        r["speedup_vs_1"] = round(r["chars_per_s"] / one, 1) if one else None
    print_rows(f"sampling · {device} · {args.kind} {args.layers}×{args.hidden} · {args.chars} chars each",
               ("in parallel", "chars/s", "× one at a time"),
               [[str(r["parallel"]), f"{r['chars_per_s']:,}", f"{r['speedup_vs_1']}" if one else ""] for r in rows],
               rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
