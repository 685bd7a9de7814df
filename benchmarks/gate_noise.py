"""How often `gencheck check` cries wolf, and what it catches: the gate's false-alarm rate over fresh seeds
of the same code, and its verdict on four broken variants.

    python benchmarks/gate_noise.py [--config smoke|drill] [--baseline-seeds 3] [--fresh 20] [--group 3]
        [--jobs 2] [--out DIR] [--json out.json]

It trains `--baseline-seeds` runs of one configuration (the baseline, seeds 1…n) and `--fresh` runs of the
same configuration with other seeds (1001…), then gates:
- each fresh run alone against the baseline (one pair per fresh run),
- disjoint groups of `--group` fresh runs against the baseline (the means),
- each broken variant (seed 1001) against the baseline: the state not carried (BPTT cut to 8 characters
  at 8 times the batch: the same characters per step), the width halved, the learning rate ×10, and a
  corrupted corpus (a copy of the corpus with every tenth letter replaced; `check` must refuse it as
  another corpus, exit 2, and with --allow-other-corpus find it worse).
Prints one table: pairs, false alarms (exit 1 on a fresh seed), and for each variant the exit status and
the figures it named. Every run goes to --out (reused when it is there), so a second call only gates.

Configurations: `smoke` is the smoke profile on latex-fixture (about 10 s a run on 2 cores); `drill` is the
project's drill gate (tests/baselines/latex-drill-gate.toml, 1,500 steps, about two minutes a run; its corpus
is built from the real `latex` corpus, so the first call needs Debian's archive or a mirror). `--steps N`
trains every run N steps instead (the drill's runs go to `OUT/drill-N/`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
CONFIGS = {
    "smoke": {"corpus": "latex-fixture", "args": ["--profile", "smoke"], "steps": None, "batch": 16, "seq": 64,
              "hidden": 64, "lr": 0.003},
    "drill": {"corpus": str(HERE / "tests" / "baselines" / "latex-drill-gate.toml"),
              "args": ["--profile", "drill", "--samples", "8", "--max-chars", "400"], "steps": 1500,
              "batch": None, "seq": None, "hidden": None, "lr": None},
}


def profile_shape(config: dict) -> dict:
    """batch, seq_len, hidden and lr of the configuration's profile (the drill's come from gencheck)."""
    if config["batch"] is not None:
        return config
    from gencheck.config import PROFILES

    p = PROFILES["drill"]
    return {**config, "batch": p.train.batch_size, "seq": p.train.seq_len, "hidden": p.hidden, "lr": p.train.lr}


def train(out: Path, corpus: str, args: list[str], seed: int) -> Path:
    """One run into `out` (kept: a second call reuses it); its run folder."""
    done = [p for p in out.glob("*/results.json")] if out.is_dir() else []
    if done:
        return done[0].parent
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    cmd = [sys.executable, "-m", "gencheck", "run", "--corpus", corpus, *args, "--device", "cpu", "--threads", "1",
           "--seed", str(seed), "--compile-samples", "0", "--no-evolution", "--out", str(tmp)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return next(out.glob("*/results.json")).parent


def check(new: list[Path], base: list[Path], *extra: str) -> tuple[int, list[str]]:
    cmd = [sys.executable, "-m", "gencheck", "check", *map(str, new), "--baseline", *map(str, base), "--json", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    try:
        named = [f["metric"] for f in json.loads(proc.stdout)["figures"] if f["regression"]]
    except (ValueError, KeyError):
        named = [proc.stderr.strip().splitlines()[-1][:120]] if proc.stderr.strip() else []
    return proc.returncode, named


def corrupted_corpus(folder: Path, corpus: str) -> str:
    """A folder corpus holding the corpus's documents with every tenth letter replaced by 'q'."""
    from gencheck.corpus import build, resolve_spec

    target = folder / "corrupted"
    if not target.is_dir():
        spec = resolve_spec(corpus)
        built = build(spec)
        for d in built.documents:
            p = target / d.path
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("".join("q" if c.isalpha() and i % 10 == 0 else c for i, c in enumerate(d.text)))
    return str(target)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", choices=sorted(CONFIGS), default="smoke")
    ap.add_argument("--baseline-seeds", type=int, default=3)
    ap.add_argument("--fresh", type=int, default=20)
    ap.add_argument("--group", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("gate-noise"))
    ap.add_argument("--steps", type=int, help="training steps of every run (default: the configuration's; the drill "
                    "gate's 1,500, tests/test_quality_gate.py's)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    config = profile_shape(CONFIGS[a.config])
    steps = a.steps or config["steps"]
    out = a.out / (a.config if steps is None else f"{a.config}-{steps}")
    out.mkdir(parents=True, exist_ok=True)
    corpus, args = config["corpus"], config["args"] + ([] if steps is None else ["--steps", str(steps)])
    variants = {
        "state not carried (BPTT 8)": ["--seq-len", "8", "--batch-size", str(config["batch"] * config["seq"] // 8)],
        "width halved": ["--hidden", str(config["hidden"] // 2)],
        "lr x10": ["--lr", f"{config['lr'] * 10:g}"],
    }
    jobs = [(out / f"base-{s}", args, s) for s in range(1, a.baseline_seeds + 1)]
    jobs += [(out / f"fresh-{s}", args, s) for s in range(1001, 1001 + a.fresh)]
    jobs += [(out / f"variant-{i}", args + extra, 1001) for i, extra in enumerate(variants.values())]
    with ThreadPoolExecutor(a.jobs) as pool:
        runs = dict(zip([j[0].name for j in jobs], pool.map(lambda j: train(j[0], corpus, j[1], j[2]), jobs)))
    corrupt = train(out / "variant-corpus", corrupted_corpus(out, corpus), args + ["--format", "latex"], 1001)
    base = [runs[f"base-{s}"] for s in range(1, a.baseline_seeds + 1)]
    fresh = [runs[f"fresh-{s}"] for s in range(1001, 1001 + a.fresh)]

    singles = [check([f], base) for f in fresh]
    groups = [fresh[i:i + a.group] for i in range(0, len(fresh) - a.group + 1, a.group)]
    grouped = [check(g, base) for g in groups]
    rows = {"config": a.config, "steps": steps, "baseline_runs": len(base),
            "single": {"pairs": len(singles), "false_alarms": sum(rc == 1 for rc, _ in singles),
                       "named": sorted({n for rc, names in singles if rc == 1 for n in names})},
            "grouped": {"pairs": len(grouped), "false_alarms": sum(rc == 1 for rc, _ in grouped),
                        "named": sorted({n for rc, names in grouped if rc == 1 for n in names})},
            "variants": {}}
    for i, name in enumerate(variants):
        rc, named = check([runs[f"variant-{i}"]], base)
        rows["variants"][name] = {"exit": rc, "named": named}
    rc, named = check([corrupt], base)
    rc_allowed, named_allowed = check([corrupt], base, "--allow-other-corpus")
    rows["variants"]["corrupted corpus"] = {"exit": rc, "named": named, "exit_allowed": rc_allowed,
                                            "named_allowed": named_allowed}

    print(f"gate noise, {a.config}{'' if steps is None else f', {steps} steps'}: {len(base)} baseline seeds")
    print(f"{'gated':34} {'pairs':>5} {'false alarms':>12}  figures named")
    for key, label in (("single", "1 fresh seed vs baseline"), ("grouped", f"{a.group} fresh seeds (means) vs baseline")):
        r = rows[key]
        print(f"{label:34} {r['pairs']:>5} {r['false_alarms']:>12}  {', '.join(r['named'][:6])}")
    print(f"{'variant':34} {'exit':>5}  figures named")
    for name, r in rows["variants"].items():
        extra = f" (--allow-other-corpus: exit {r['exit_allowed']}, {len(r['named_allowed'])} figures)" \
            if "exit_allowed" in r else ""
        print(f"{name:34} {r['exit']:>5}  {len(r['named'])} figures: {', '.join(r['named'][:5])}{extra}")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
