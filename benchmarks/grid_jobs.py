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
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gencheck.progress import print_rows  # noqa: E402


def tree_rss_mb(root: int) -> float:
    """Resident memory of a process and all its descendants, in MB (Linux /proc; 0 elsewhere): a grid's
    workers, and with --engine ray the Ray processes the command started."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid = int(stat.parent.name)
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            rss[pid] = int((stat.parent / "statm").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total * os.sysconf("SC_PAGE_SIZE") / 1e6 if hasattr(os, "sysconf") else 0.0


def run_grid(corpus: str, grid: str, budget: str, jobs: int, profile: str, out: Path, extra: list[str]) -> dict:
    """One timed `gencheck run --grid` from an empty folder, and the peak memory of its process tree."""
    cmd = [sys.executable, "-m", "gencheck.cli", "run", "--corpus", corpus, "--profile", profile, "--grid", grid,
           "--budget", budget, "--no-evolution", "--jobs", str(jobs), "--out", str(out), "--json", *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0.0]

    def watch() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_mb(proc.pid))
            time.sleep(0.25)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"grid with --jobs {jobs} {' '.join(extra)} failed ({proc.returncode}):\n{stderr[-3000:]}")
    rows = json.loads(stdout)
    return {"jobs": jobs, "wall_s": round(wall, 1), "points": len(rows), "peak_mb": round(peak[0]),
            "train_s": round(sum(r["stages"].get("train", 0.0) for r in rows), 1),
            "test_bpc": [r["metrics"]["test_bpc"] for r in rows]}


def grid_parser(doc: str, corpus: str, grid: str, budget: str, profile: str) -> argparse.ArgumentParser:
    """The flags every grid benchmark takes (the grid, --jobs, --json, more `run` flags), with its defaults."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=corpus)
    ap.add_argument("--grid", default=grid)
    ap.add_argument("--budget", default=budget)
    ap.add_argument("--profile", default=profile)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("extra", nargs="*", help="more `gencheck run` flags, after --")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = grid_parser(__doc__, "latex", "hidden=64,128", "4M", "cpu").parse_args(argv)
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
