"""`gencheck suite`: the versioned benchmark suite (gencheck/suite.py) from the command line.

This first step lists the suite: its version and every task with its corpus, probe, pinned content hash,
scored buckets and budgets, so that a reader sees exactly what a number of suite v1-<hash> is made of.
Training a model on the suite (`suite run`) and the leaderboard (`suite report`) follow (issue 34)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from . import suite

EXAMPLES = ("examples:\n"
            "  gencheck suite list            # the suite's version and its tasks\n"
            "  gencheck suite list --json     # the same, with the protocol, for a script")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `suite` subcommand to an argparse subparsers object; returns its parser."""
    p = subparsers.add_parser(
        "suite", help="the versioned benchmark suite: its tasks and protocol",
        description="The benchmark suite: a fixed set of tasks (the four drills and the real corpora), each "
                    "with a pinned corpus, a headline probe and a character budget, and one protocol for every "
                    "model family. Its version, v1-<hash>, changes with any task or the protocol, so two "
                    "numbers of the same version were measured the same way.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ss = p.add_subparsers(dest="suite_command", metavar="{list}")
    q = ss.add_parser("list", help="the suite's version and its tasks", epilog=EXAMPLES,
                      formatter_class=argparse.RawDescriptionHelpFormatter,
                      description="Print the suite's version and each task: corpus, probe, D_train "
                                  "(a drill's longest training distance; — for real text), the buckets scored in range and beyond training, and the budgets.")
    q.add_argument("--json", action="store_true", help="one JSON object: version, tasks, protocol")
    return p


def run(args: argparse.Namespace) -> int:
    from .fsutil import UsageError

    if args.suite_command != "list":
        raise UsageError("gencheck suite: name a command: list (see gencheck suite --help)")
    task_list = suite.tasks()
    ver = suite.version(task_list)
    if args.json:
        print(json.dumps({"schema_version": 1, "version": ver, "tasks": [asdict(t) for t in task_list],
                          "protocol": suite.protocol()}, indent=2))
        return 0
    _print_table(ver, task_list)
    return 0


def _print_table(ver: str, task_list: list[suite.Task]) -> None:
    from rich import box
    from rich.table import Table

    from .progress import console

    t = Table(title=f"gencheck suite {ver}", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
              padding=(0, 1), collapse_padding=True)
    for col in ("task", "probe", "D_train", "in range", "beyond", "chars cpu/gpu"):
        t.add_column(col, no_wrap=True)
    for task in task_list:
        t.add_row(task.name, task.probe, "—" if task.d_train is None else f"{task.d_train:,}",
                  _span(task.in_range()), _span(task.beyond()),
                  f"{task.budget['cpu'] / 1e6:.1f}M/{task.budget['gpu'] / 1e6:.1f}M")
    console.print(t)
    console.print("corpus hashes and the protocol: gencheck suite list --json", highlight=False)
    families = ", ".join(f"{k} ({v} layer{'s' if v > 1 else ''})" for k, v in suite.FAMILY_DEPTH.items())
    console.print(f"families: {families}"
                  f" · learning rates swept: {', '.join(f'{lr:g}' for lr in suite.LR_SWEEP)}, chosen on validation"
                  f" · solved at {suite.SOLVED_AT:g} of the way from chance to always right", highlight=False)


def _span(buckets: tuple[str, ...]) -> str:
    """`('11-30', …, '301-1000')` → `11-1000`: the distances a column covers, in a few characters."""
    if not buckets:
        return "—"
    first, last = buckets[0], buckets[-1]
    return f"{first.split('-')[0]}-{last.split('-')[-1]}" if "-" in last else f"{first.split('-')[0]}+"
