"""Training throughput: gencheck's own training step against a bare PyTorch loop on the same shapes.

    python benchmarks/train_throughput.py [--device cpu|cuda] [--kinds lstm,gru,mingru,transformer,conv] [--layers 1,2,3]
        [--hidden 128,256,512,1024] [--precision fp32,bf16] [--batch 64] [--seq 128] [--steps 5]
        [--rounds 3] [--json out.json]

For each shape it times `gencheck.train.train_step` (the function the training loop calls) on a
`CharRNN`, and a bare loop written here from `nn.Embedding` + `nn.LSTM`/`nn.GRU` + `nn.Linear` with
AdamW and gradient clipping (for the families without a textbook torch module, mingru, transformer and
conv, the bare loop steps the family's own module: the row then measures what gencheck's step adds, not
the module), interleaved in the same process (rounds of `--steps` steps each, after a
warm-up step; the best round of each counts), in each precision asked for (bf16: both under the same
`torch.autocast`, fp32 master weights, as `gencheck run --precision bf16` trains). Prints chars/s of both, their ratio (gencheck / bare), and
peak memory (CUDA: max_memory_allocated per implementation; CPU: the process's peak RSS so far, which
only grows, so it is not per implementation). The ratio is the median over rounds of each round's
gencheck / bare, the two run back to back in alternating order: a paired figure that the host's speed
drifts move much less than a ratio of two best rounds (also given, as ratio_best). The target is a ratio
≥ 0.95 everywhere. Timings move with whatever else runs: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time

import torch
from torch import nn

from gencheck.config import TrainConfig
from gencheck.models import ModelConfig, build_model, detach
from gencheck.progress import print_rows
from gencheck.train import bf16_problem, make_optimizer, train_step

VOCAB = 100


class Bare(nn.Module):
    """The textbook char model: what a user would write in ten lines."""

    def __init__(self, kind: str, layers: int, hidden: int, embed: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, embed)
        self.rnn = (nn.LSTM if kind == "lstm" else nn.GRU)(embed, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, VOCAB)

    def forward(self, x, state=None):
        out, state = self.rnn(self.embed(x), state)
        return self.head(out), state


def bare_step(model: Bare, opt, x, y, state, clip: float, amp: torch.dtype | None = None):
    with torch.autocast(x.device.type, dtype=amp, enabled=amp is not None):
        logits, state = model(x, state)
    loss = nn.functional.cross_entropy(logits.float().reshape(-1, VOCAB), y.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    return loss.detach(), detach(state)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


AMP = {"fp32": None, "bf16": torch.bfloat16}


def measure(kind: str, layers: int, hidden: int, precision: str, args, device: torch.device) -> dict:
    """One shape in one precision; a bf16 row this machine cannot run (no bf16 kernels, e.g. an AVX2-only
    CPU) comes back as `skipped` with the reason, never as a crash."""
    if precision == "bf16" and (problem := bf16_problem(device, kind)):
        return {"kind": kind, "layers": layers, "hidden": hidden, "precision": precision, "device": str(device),
                "skipped": f"bf16 does not run here: {problem}"}
    torch.manual_seed(0)
    embed = 64 if hidden <= 128 else 128
    cfg = TrainConfig(batch_size=args.batch, seq_len=args.seq)
    mcfg = ModelConfig(VOCAB, kind, layers, hidden, embed)
    ours = build_model(mcfg).to(device)
    ours_opt = make_optimizer(ours, cfg, device)
    bare = (Bare(kind, layers, hidden, embed) if kind in ("lstm", "gru") else build_model(mcfg)).to(device)
    bare_opt = torch.optim.AdamW(bare.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                                 **({"fused": True} if device.type == "cuda" else {}))
    data = torch.randint(0, VOCAB, (args.batch, args.seq * (args.steps + 1) + 1), device=device)
    chunks = [(data[:, i * args.seq:(i + 1) * args.seq], data[:, i * args.seq + 1:(i + 1) * args.seq + 1])
              for i in range(args.steps + 1)]

    def run(step_fn, model, opt) -> float:
        state = None
        loss, state = step_fn(model, opt, *chunks[0], state)  # warm-up
        sync(device)
        t = time.perf_counter()
        for x, y in chunks[1:]:
            loss, state = step_fn(model, opt, x, y, state)
        loss.item()
        sync(device)
        return args.batch * args.seq * args.steps / (time.perf_counter() - t)

    amp = AMP[precision]
    ours_fn = lambda m, o, x, y, s: train_step(m, o, x, y, s, amp, cfg.grad_clip)  # noqa: E731
    bare_fn = lambda m, o, x, y, s: bare_step(m, o, x, y, s, cfg.grad_clip, amp)  # noqa: E731
    best = {"gencheck": 0.0, "bare": 0.0}
    mem = {"gencheck": 0, "bare": 0}
    ratios = []
    impls = [("gencheck", ours_fn, ours, ours_opt), ("bare", bare_fn, bare, bare_opt)]
    for k in range(args.rounds):
        speed = {}
        for name, fn, model, opt in (impls if k % 2 == 0 else impls[::-1]):  # alternate who goes first
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            speed[name] = run(fn, model, opt)
            best[name] = max(best[name], speed[name])
            mem[name] = max(mem[name], torch.cuda.max_memory_allocated(device) if device.type == "cuda"
                            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        ratios.append(speed["gencheck"] / speed["bare"])
    return {"kind": kind, "layers": layers, "hidden": hidden, "precision": precision, "batch": args.batch, "seq": args.seq,
            "device": str(device), "gencheck_chars_per_s": round(best["gencheck"]), "bare_chars_per_s": round(best["bare"]),
            "ratio": round(statistics.median(ratios), 3), "ratio_best": round(best["gencheck"] / best["bare"], 3),
            "ratio_rounds": [round(r, 3) for r in ratios], "gencheck_peak_mb": round(mem["gencheck"] / 2**20),
            "bare_peak_mb": round(mem["bare"] / 2**20)}


def table_row(r: dict, device: torch.device) -> list[str]:
    name = f"{r['kind']} {r['layers']}×{r['hidden']} {r['precision']}"
    if "skipped" in r:
        return [name, "skipped", "", r["skipped"][:60], ""]
    return [name, f"{r['gencheck_chars_per_s']:,}", f"{r['bare_chars_per_s']:,}",
            f"{r['ratio']:.2f} ({min(r['ratio_rounds']):.2f}–{max(r['ratio_rounds']):.2f})",
            f"{r['gencheck_peak_mb']:,} / {r['bare_peak_mb']:,}" if device.type == "cuda" else f"{r['bare_peak_mb']:,}"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--kinds", default="lstm,gru")
    ap.add_argument("--layers", default="1,2,3")
    ap.add_argument("--hidden", default="128,256,512,1024")
    ap.add_argument("--precision", default="fp32", help="comma-separated: fp32, bf16 (autocast)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    bad = [p for p in args.precision.split(",") if p not in AMP]
    if bad:
        ap.error(f"--precision {','.join(bad)}: choose among {', '.join(AMP)}")
    rows = [measure(k, int(n), int(h), p, args, device) for p in args.precision.split(",")
            for k in args.kinds.split(",") for n in args.layers.split(",") for h in args.hidden.split(",")]
    print_rows(f"training step, gencheck vs bare PyTorch · {device} · {torch.get_num_threads()} threads · "
               f"batch {args.batch} × {args.seq}",
               ("model", "gencheck chars/s", "bare chars/s", "ratio (rounds' range)", "peak RSS MB"),
               [table_row(r, device) for r in rows], rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
