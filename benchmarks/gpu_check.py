"""One command for the first minutes on a GPU: what this machine is, what it trains in, how fast.

    python benchmarks/gpu_check.py --out gpu-check/            # on the GPU machine (≤ 8 minutes)
    python benchmarks/gpu_check.py --device cpu --tiny --out x/ # the same code paths on a CPU (CI)

1. the device, driver, torch, CUDA and cuDNN versions;
2. which precision the cuDNN LSTM and GRU train in here — bf16 autocast (needs cuDNN >= 9.13 for RNNs,
   pytorch/pytorch#164411), fp16 autocast with GradScaler, fp32 with TF32 — each trained for `--steps`
   steps on the default corpus's train text; the fastest that stays finite is recommended;
3. `benchmarks/train_throughput.py` on the GPU shapes (3×512 and 3×1024, batch 128 to 1,024);
4. `benchmarks/sample_throughput.py` (1 to 1,024 samples in parallel);
5. the `gpu` profile of `gencheck run --corpus latex` end to end with a short step budget, its stage
   timings read back from results.json.

Everything lands in OUT/gpu_check.json and OUT/gpu_check.md (a table to paste into docs/measurements.md). Every
figure is measured here, never assumed; a part that fails is recorded with its error and the rest runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parent


def _bench(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def environment(device: torch.device) -> dict:
    env = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "host": platform.node(),
           "python": platform.python_version(), "torch": torch.__version__, "device": str(device),
           "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
           "threads": torch.get_num_threads()}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        env.update(name=p.name, capability=f"{p.major}.{p.minor}", memory_gb=round(p.total_memory / 2**30, 1))
        try:
            env["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                           capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError) as exc:
            env["driver"] = f"unknown ({exc})"
    return env


def train_ids(tiny: bool) -> torch.Tensor:
    """Real text to train on: the default corpus's train split (a tiny fixture corpus with --tiny)."""
    from gencheck.corpus import Vocab, build, resolve_spec, stream

    corpus = build(resolve_spec("latex-fixture" if tiny else "latex"))
    vocab = Vocab.from_texts(corpus.texts("train"), 1 if tiny else 100)
    return torch.from_numpy(stream(corpus.texts("train"), vocab)), vocab.size


def precision_check(device: torch.device, tiny: bool, steps: int) -> list[dict]:
    """Train each kind × precision for `steps` steps on real text; chars/s and whether it stayed finite."""
    from gencheck.model import CharRNN, ModelConfig, detach

    ids, vocab_size = train_ids(tiny)
    layers, hidden, batch, seq = (1, 32, 4, 32) if tiny else (3, 512, 128, 256)
    n = len(ids) // batch
    data = ids[: n * batch].reshape(batch, n).to(device)
    cases = [("fp32", None)] if device.type != "cuda" else [("bf16", torch.bfloat16), ("fp16", torch.float16),
                                                             ("fp32+tf32", None)]
    if device.type == "cpu":
        cases.append(("bf16", torch.bfloat16))  # CPU autocast: avx512_bf16 machines run it natively
    rows = []
    for kind in ("lstm", "gru"):
        for name, dtype in cases:
            row = {"kind": kind, "precision": name, "shape": f"{layers}x{hidden}", "batch": batch, "seq": seq}
            try:
                torch.manual_seed(0)
                torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = name == "fp32+tf32"
                model = CharRNN(ModelConfig(vocab_size, kind, layers, hidden, 128 if not tiny else 16)).to(device)
                opt = torch.optim.AdamW(model.parameters(), lr=2e-3, **({"fused": True} if device.type == "cuda" else {}))
                scaler = torch.amp.GradScaler(device.type, enabled=dtype is torch.float16)
                state, losses, t0 = None, [], None
                for step in range(steps + 1):
                    if step == 1:  # the first step compiles kernels: not timed
                        if device.type == "cuda":
                            torch.cuda.synchronize(device)
                        t0 = time.perf_counter()
                    a = (step * seq) % max(1, n - seq - 1)
                    x, y = data[:, a:a + seq], data[:, a + 1:a + seq + 1]
                    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                        logits, state = model(x, state)
                    loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, vocab_size), y.reshape(-1))
                    opt.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    scaler.step(opt)
                    scaler.update()
                    state = detach(state)
                    losses.append(loss.detach())
                last = torch.stack(losses).float().cpu()
                seconds = time.perf_counter() - t0
                row.update(ok=bool(torch.isfinite(last).all()), chars_per_s=round(batch * seq * steps / seconds),
                           first_bpc=round(float(last[0]) / math.log(2), 3), last_bpc=round(float(last[-1]) / math.log(2), 3))
            except Exception as exc:  # noqa: BLE001 -- an unsupported precision is a finding, not a crash
                row.update(ok=False, error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            rows.append(row)
    return rows


def run_profile(device: torch.device, tiny: bool, steps: int, out: Path) -> dict:
    """`gencheck run` end to end (gpu profile on CUDA; smoke with --tiny), its stages from results.json."""
    profile = "smoke" if tiny else ("gpu" if device.type == "cuda" else "cpu")
    corpus = "latex-fixture" if tiny else "latex"
    cmd = [sys.executable, "-m", "gencheck.cli", "run", "--corpus", corpus, "--profile", profile, "--steps", str(steps),
           "--device", str(device), "--out", str(out / "runs")]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    row = {"command": " ".join(cmd[3:]), "rc": proc.returncode, "wall_s": round(time.perf_counter() - t, 1)}
    results = sorted((out / "runs").glob("*/results.json"))
    if proc.returncode == 0 and results:
        r = json.loads(results[-1].read_text())
        row.update(stages=r["stages"], chars_per_s=round(r["train"]["chars_per_s"]), test_bpc=round(r["metrics"]["test_bpc"], 3),
                   valid=r["samples"]["counts"].get("valid"), samples=r["samples"]["count"], device=r["device"])
    else:
        row["error"] = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
    return row


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [f"GPU check, {env['date']}: {env.get('name', env['device'])}, driver {env.get('driver', '—')}, "
             f"torch {env['torch']}, CUDA {env['cuda']}, cuDNN {env['cudnn']}", "",
             "| kind | precision | finite | chars/s | bits/char first → last |", "|---|---|---|---|---|"]
    for r in report.get("precision", []):
        lines.append(f"| {r['kind']} {r['shape']} | {r['precision']} | {'yes' if r.get('ok') else 'no'} | "
                     f"{r.get('chars_per_s', '—'):,} | {r.get('first_bpc', '—')} → {r.get('last_bpc', r.get('error', '—'))} |"
                     if isinstance(r.get("chars_per_s"), int) else
                     f"| {r['kind']} {r['shape']} | {r['precision']} | no | — | {r.get('error', '—')} |")
    lines += ["", "| train shape | batch × seq | gencheck chars/s | bare chars/s | ratio | peak MB |", "|---|---|---|---|---|---|"]
    for r in report.get("train", []):
        lines.append(f"| {r['kind']} {r['layers']}×{r['hidden']} | {r['batch']} × {r['seq']} | {r['gencheck_chars_per_s']:,} | "
                     f"{r['bare_chars_per_s']:,} | {r['ratio']:.2f} | {r['gencheck_peak_mb']:,} |")
    lines += ["", "| samples in parallel | chars/s | × one at a time |", "|---|---|---|"]
    for r in report.get("sample", []):
        lines.append(f"| {r['parallel']} | {r['chars_per_s']:,} | {r.get('speedup_vs_1')} |")
    p = report.get("profile") or {}
    if p:
        lines += ["", f"`gencheck {p['command']}`: exit {p['rc']}, {p['wall_s']} s wall"
                  + (f"; stages {p['stages']}; {p['chars_per_s']:,} chars/s; test {p['test_bpc']} bits/char" if "stages" in p else
                     f"; {p.get('error')}")]
    if report.get("recommended"):
        lines += ["", f"Recommended precision (fastest finite, LSTM): {report['recommended']}"]
    return "\n".join(lines) + "\n"


def bench_precision(report: dict) -> str:
    """The precision the throughput rows run in: bf16 where the precision check found it the fastest
    finite one (autocast, as `gencheck run --precision bf16`), else fp32."""
    finite = [r for r in report.get("precision", []) if r.get("ok") and r.get("kind") == "lstm"]
    best = max(finite, key=lambda r: r["chars_per_s"])["precision"] if finite else "fp32"
    return "bf16" if best == "bf16" else "fp32"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tiny", action="store_true", help="tiny shapes and the fixture corpus (a CPU dry run, CI)")
    ap.add_argument("--steps", type=int, default=None, help="steps per precision (default 200, tiny 3)")
    ap.add_argument("--profile-steps", type=int, default=None, help="steps of the end-to-end run (default 1000, tiny 5)")
    ap.add_argument("--out", type=Path, default=Path("gpu-check"))
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {"environment": environment(device)}
    steps = args.steps or (3 if args.tiny else 200)
    parts = {
        "precision": lambda: precision_check(device, args.tiny, steps),
        "train": lambda: [_bench("train_throughput").measure(kind, layers, hidden, bench_precision(report),
            argparse.Namespace(batch=batch, seq=seq, steps=2 if args.tiny else 10, rounds=1 if args.tiny else 2), device)
            for kind, layers, hidden, batch, seq in (
                [("lstm", 1, 16, 4, 8)] if args.tiny else
                [("lstm", 3, 512, b, 256) for b in (128, 256, 512, 1024)] + [("lstm", 3, 1024, b, 256) for b in (128, 512)]
                + [("gru", 3, 512, 256, 256)])],
        "sample": lambda: _sample_rows(device, args.tiny, args.out),
        "profile": lambda: run_profile(device, args.tiny, args.profile_steps or (5 if args.tiny else 1000), args.out),
    }
    for name, fn in parts.items():
        t = time.perf_counter()
        try:
            report[name] = fn()
        except Exception as exc:  # noqa: BLE001 -- record it and go on: the lend is short
            report[name] = []
            report.setdefault("errors", {})[name] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        report.setdefault("seconds", {})[name] = round(time.perf_counter() - t, 1)
        (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2))  # after every part: a kill keeps it
        print(f"{name}: {report['seconds'][name]} s", file=sys.stderr)
    finite = [r for r in report["precision"] if r.get("ok") and r["kind"] == "lstm"]
    report["recommended"] = max(finite, key=lambda r: r["chars_per_s"])["precision"] if finite else None
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    (args.out / "gpu_check.md").write_text(markdown(report))
    print(markdown(report))
    return 0 if not report.get("errors") else 1


def _sample_rows(device: torch.device, tiny: bool, out: Path) -> list[dict]:
    path = out / "sample.json"
    argv = ["--device", str(device), "--json", str(path)]
    argv += ["--layers", "1", "--hidden", "16", "--chars", "20", "--batches", "1,4"] if tiny else \
        ["--layers", "3", "--hidden", "512", "--chars", "500"]
    _bench("sample_throughput").main(argv)
    return json.loads(path.read_text())


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
