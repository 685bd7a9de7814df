"""What 2 validator workers spend in CPU time beyond what 1 worker spends on the same samples.

Wall-clock speed-ups on a shared VM move with the host (steal time): `validate_throughput.py` shows the
machine's own 2-process speed-up swinging between 1.2x and 2.4x. CPU time, as the kernel accounts it to
our processes, leaves most of that out. If 2 workers spend (1 + e) times the CPU of 1 worker, the
speed-up is at most 2 / (1 + e) however free the cores are. `e` is an upper bound on the pool's own
cost (supervisor, pipes, pickling): it also holds the two workers slowing each other down (shared
caches; two vCPUs may be two hyperthreads of one core), and noise of a few percent either way.
`perf stat -e task-clock` counts the parent, the fork server and every worker (children inherit the
counter); each run is measured with 0 and with `--reps` calls, and the difference is the validation.

    python benchmarks/pool_overhead.py [--reps 4] [--n 2000]     # needs perf (Debian: linux-perf)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
_CHILD = """
import sys
sys.path.insert(0, {here!r})
from validate_throughput import samples
from gencheck.validators import validate_many
fmt, workers, reps, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
texts, _ = samples(fmt, n, 2048)
validate_many(texts[:20], fmt, workers=workers)
for _ in range(reps):
    validate_many(texts, fmt, workers=workers)
"""


def measure(fmt: str, workers: int, reps: int, n: int) -> tuple[float, float]:
    """(task-clock ms of the whole process tree, wall s) for one child run."""
    code = _CHILD.format(here=str(HERE))
    cmd = ["perf", "stat", "-x,", "-e", "task-clock", sys.executable, "-c", code, fmt, str(workers), str(reps), str(n)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    for line in r.stderr.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2].startswith("task-clock"):
            return float(fields[0]), wall
    raise RuntimeError(f"perf printed no task-clock line:\n{r.stderr[-2000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=4, help="validate_many calls per measured run")
    ap.add_argument("--n", type=int, default=2000, help="2 KB samples per call")
    args = ap.parse_args()
    if shutil.which("perf") is None:
        sys.exit("pool_overhead: needs perf (Debian: apt-get install linux-perf)")
    table = Table(title=f"CPU time of 1 vs 2 validator workers, {args.reps} x {args.n} samples of 2 KB")
    for col in ("format", "CPU s, 1 worker", "CPU s, 2 workers", "extra CPU", "speed-up bound", "wall speed-up"):
        table.add_column(col)
    for fmt in ("latex", "c", "markdown"):
        cpu, wall = {}, {}
        for workers in (1, 2):
            base_cpu, base_wall = measure(fmt, workers, 0, args.n)
            run_cpu, run_wall = measure(fmt, workers, args.reps, args.n)
            cpu[workers] = (run_cpu - base_cpu) / 1000
            wall[workers] = run_wall - base_wall
        over = cpu[2] / cpu[1] - 1
        table.add_row(fmt, f"{cpu[1]:.2f}", f"{cpu[2]:.2f}", f"{over:+.1%}", f"{2 / (1 + over):.2f}x",
                      f"{wall[1] / wall[2]:.2f}x")
    Console().print(table)


if __name__ == "__main__":
    main()
