"""What does `--engine ray` cost against `--jobs N` on one machine? The same grid, from empty folders, both
ways, timed end to end as a user runs it (a local Ray started and stopped by the command each time).

    python benchmarks/ray_overhead.py [--corpus latex-fixture] [--grid "hidden=16,24"] [--budget 20k] [--jobs 2]
                                      [--rounds 3] [-- more gencheck run flags]

Each way runs `rounds` times in fresh folders (benchmarks/grid_jobs.py's runner); the table shows each
way's best and median wall seconds, the overhead of Ray over `--jobs` (best against best), the peak
memory of the command's whole process tree (with Ray: its GCS, raylet and workers too) and whether the
points' test bits/char are the same both ways. On one machine Ray brings nothing `--jobs` does not (it is
for grids that need more than one), but it need not be slower: on a busy 2-core machine (2026-12-04, tiny
grid) its best of 3 was 27.9 s against 31.4 s for `--jobs 2`, its own processes costing about 0.7 GB more.
Time nothing else while it runs.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grid_jobs import grid_parser, run_grid  # noqa: E402

from gencheck.progress import print_rows  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = grid_parser(__doc__, "latex-fixture", "hidden=16,24", "20k", "smoke")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    ways = {f"--jobs {args.jobs}": (args.jobs, []), "--engine ray": (1, ["--engine", "ray"])}
    rows = []
    with tempfile.TemporaryDirectory(prefix="gencheck-ray-overhead-") as tmp:
        runs: dict[str, list[dict]] = {way: [] for way in ways}
        for k in range(args.rounds):  # interleaved: a busy minute on a shared machine slows both ways
            for way, (jobs, flags) in ways.items():
                out = Path(tmp) / f"{way.replace(' ', '').strip('-')}-{k}"
                runs[way].append(run_grid(args.corpus, args.grid, args.budget, jobs, args.profile, out,
                                          [*flags, *args.extra]))
        for way, done in runs.items():
            walls = [r["wall_s"] for r in done]
            rows.append({"way": way, "rounds": len(done), "best_s": min(walls), "median_s": statistics.median(walls),
                         "peak_mb": max(r["peak_mb"] for r in done), "test_bpc": done[0]["test_bpc"]})
    base = rows[0]
    cells = [[r["way"], str(r["rounds"]), f"{r['best_s']:.1f}", f"{r['median_s']:.1f}",
              f"{r['best_s'] - base['best_s']:+.1f} s ({r['best_s'] / base['best_s']:.2f}×)", f"{r['peak_mb']:,}",
              "same" if r["test_bpc"] == base["test_bpc"] else "DIFFERENT"] for r in rows]
    print_rows(f"grid {args.grid!r} on {args.corpus}, {args.budget} characters per point ({args.profile} profile)",
               ("way", "rounds", "best wall s", "median wall s", "against --jobs", "peak MB (tree)", "test bpc"),
               cells, rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
