"""Does `--jobs N` finish a grid sooner here? The same grid, from empty folders, one point after another
and N at once (each with its share of the cores), timed end to end as a user runs it.

    python benchmarks/grid_jobs.py [--corpus latex] [--grid "hidden=64,128"] [--budget 4M] [--jobs 2]

Each way runs `gencheck run --grid ... --no-evolution` in a fresh folder under a temp directory, so nothing
is cached between them (the corpus cache is shared: build it first, the first run is not timed for it).
Prints one row per way: wall seconds, the sum of the points' own training seconds, and the speed-up.
Time nothing else while it runs: on a 2-core machine a second job is what is being measured.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gencheck.progress import print_rows  # noqa: E402


def run_grid(corpus: str, grid: str, budget: str, jobs: int, profile: str, out: Path, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "gencheck.cli", "run", "--corpus", corpus, "--profile", profile, "--grid", grid,
           "--budget", budget, "--no-evolution", "--jobs", str(jobs), "--out", str(out), "--json", *extra]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"grid with --jobs {jobs} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    rows = json.loads(done.stdout)
    return {"jobs": jobs, "wall_s": round(wall, 1), "points": len(rows),
            "train_s": round(sum(r["stages"].get("train", 0.0) for r in rows), 1),
            "test_bpc": [r["metrics"]["test_bpc"] for r in rows]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="latex")
    ap.add_argument("--grid", default="hidden=64,128")
    ap.add_argument("--budget", default="4M")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("extra", nargs="*", help="more `gencheck run` flags, after --")
    args = ap.parse_args(argv)
    subprocess.run([sys.executable, "-m", "gencheck.cli", "corpus", "build", args.corpus], check=True,
                   capture_output=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="gencheck-grid-jobs-") as tmp:
        for jobs in (1, args.jobs):
            rows.append(run_grid(args.corpus, args.grid, args.budget, jobs, args.profile, Path(tmp) / f"j{jobs}",
                                 args.extra))
    base = rows[0]["wall_s"]
    cells = [[str(r["jobs"]), str(r["points"]), f"{r['wall_s']:.1f}", f"{r['train_s']:.1f}", f"{base / r['wall_s']:.2f}×",
              " ".join(f"{b:.3f}" for b in r["test_bpc"])] for r in rows]
    print_rows(f"grid {args.grid!r} on {args.corpus}, {args.budget} characters per point ({args.profile} profile)",
               ("jobs", "points", "wall s", "train s (sum)", "speed-up", "test bpc per point"), cells, rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
