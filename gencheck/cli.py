"""The `gencheck` command. Each subcommand is a few lines that call stage functions."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from rich.markup import escape

from .config import LIMITS, MODEL_KINDS, Limit, setting_problem, shown
from .fsutil import GencheckError, UsageError
from .grid import MAX_MINUTES as _MAX_MINUTES, parse_budget as _parse_budget
from .progress import show_controls
from .ray_engine import parse_resources as _parse_resources

EXAMPLES = {
    "run": "gencheck run --corpus latex                # auto device, cpu or gpu profile\n"
           "  gencheck run --corpus latex --profile smoke --out /tmp/runs\n"
           "  gencheck run --corpus ./my-tex-files --format latex --layers 3 --hidden 256\n"
           "  gencheck run --corpus latex --grid \"layers=1,2 hidden=64,128,256\" --minutes 2   # one grid scorecard\n"
           "  gencheck run --corpus latex-stacks --grid \"layers=1,2,3 hidden=128,256,512\" --jobs 4   # a point per GPU\n"
           "  gencheck run --corpus latex --precision fp32 --threads 1   # beside another run on the same cores\n"
           "  gencheck run --corpus latex --profile drill --steps 4800 --warm-start latex-drill:20M   # drill, then latex",
    "train": "gencheck train --corpus latex --out runs/mine --profile cpu\n"
             "  gencheck train --corpus latex --out runs/mine --profile cpu --resume   # after a kill",
    "sample": "gencheck sample --checkpoint runs/mine/checkpoint.pt -n 8 --temperature 0.7 --out samples.jsonl\n"
              "  gencheck sample --checkpoint runs/mine/checkpoint.pt --prime '\\begin{proof}' --out samples/",
    "corpus": "gencheck corpus list\n  gencheck corpus build latex\n  gencheck corpus info latex --json",
    "cells": "gencheck cells runs/20261201-120000-latex-lstm2x128-s1337-ab12cd   # the table of units\n"
             "  gencheck cells RUN --show L1.c[12] --doc 2         # one unit under the text of test document 2\n"
             "  gencheck cells RUN --html cells.html               # every unit, one page, a picker",
    "report": "gencheck report runs/20261201-120000-latex-lstm2x128-s1337-ab12cd\n"
              "  gencheck report runs/a/results.json runs/b/results.json   # warns when versions differ\n"
              "  gencheck report runs/*/ --json\n"
              "  gencheck report runs/*/ --markdown > results.md   # a table for a README or a pull request",
}


class Parser(argparse.ArgumentParser):
    """argparse with its refusals on one line (`error: argument --hidden: … (see gencheck run --help)`), exit 2,
    as every other error of the command is printed: the usage
    block argparse prints first hid the line that says what is wrong. Subcommands' parsers are of this class."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, show_controls(f"error: {message} (see {self.prog} --help)") + "\n")


#: The most --threads (and --jobs): more than any machine has, fewer than torch's int32 thread count.
MAX_THREADS = 4096


def in_range(limit: Limit, setting: str | None = None):
    """An argparse `type=` that parses a value into `limit` (a whole number or a finite float), refusing
    anything else with one line at the parser, before anything is built or any folder made. `setting`: a
    name in config.LIMITS whose extra rules apply too (a temperature between 0 and 0.001)."""
    word = "a whole number" if limit.integer else "a number"

    def parse(text: str):
        try:
            value = int(text, 10) if limit.integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{shown(text)!r}: not {word}") from None
        why = setting_problem(setting, value) if setting else limit.problem(value)
        if why is not None:
            raise argparse.ArgumentTypeError(f"{shown(text)}: {why}")
        return value

    parse.__name__ = "int" if limit.integer else "float"
    parse.numeric = True  # type: ignore[attr-defined]  (tests/test_hardening_cli.py finds every such flag)
    return parse


def int_in(lo: int, hi: int):
    """`type=` for a whole number from lo to hi."""
    return in_range(Limit(lo, hi))


def float_in(lo: float, hi: float, lo_open: bool = False):
    """`type=` for a finite number from lo (excluded where lo_open) to hi."""
    return in_range(Limit(lo, hi, integer=False, lo_open=lo_open))


def setting(name: str):
    """`type=` for a model, training or sampling setting, in the range config.LIMITS gives it (the same
    range a checkpoint's saved settings are held to)."""
    return in_range(LIMITS[name], name)


def _parse_match(text: str) -> int:
    """--match params=N, parsed as the run parses it (models.sizing imports torch: only when typed)."""
    from .models.sizing import parse_match

    return parse_match(text)


def checked_text(check, example: str):
    """`type=` that keeps a value's text but refuses it at the parser when `check(text)` raises a
    UsageError (--match params=N, --budget, --warm-start NAME:CHARS, --resources-per-point): one line,
    before the corpus is built. `example` is a valid value's prefix, for the flags test."""

    def parse(text: str) -> str:
        try:
            check(text)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    parse.__name__ = getattr(check, "__name__", "value")
    parse.numeric = True  # type: ignore[attr-defined]
    parse.example = example  # type: ignore[attr-defined]
    return parse


def _epilog(cmd: str) -> str:
    return "examples:\n  " + EXAMPLES[cmd]


def corpus_name(text: str) -> str:
    """`type=` of --corpus: an empty name is refused here (as a path it is the working folder, which then
    said " is a directory")."""
    if not text.strip():
        raise argparse.ArgumentTypeError("give a corpus name, a declaration file or a directory (not an empty one)")
    return text


class _Typed(argparse.Action):
    """Stores the value and notes that it was typed (`args.typed`), so that `--resume` can tell a corpus the
    user named from the default and take the checkpoint's."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.typed = {*getattr(namespace, "typed", set()), self.dest}


def add_corpus_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", default="latex", type=corpus_name, action=_Typed,
                   help="a corpus name (see `gencheck corpus list`), a declaration file my.toml, or a directory "
                        "of your own files (with --format); default: latex")
    p.add_argument("--format", help="format of the files when --corpus is a directory (latex, c, markdown)")
    p.add_argument("--mirror", action="append", type=Path, default=[],
                   help="a directory searched first for source files by name (also $GENCHECK_MIRROR)")
    p.add_argument("--offline", action="store_true", help="use only the cache and mirrors; never download")
    add_allow_dir_arg(p)


def add_allow_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-dir", action="append", type=Path, default=[], metavar="DIR",
                   help="let a declaration's dir sources read DIR (repeatable); without it a declaration reads "
                        "only inside its own folder")


KINDS = MODEL_KINDS  # the --model names (config.py: parsing needs no torch)


def _kinds(text: str) -> str:
    """`lstm` or, for a grid, `lstm,gru`: every name must be a known cell."""
    bad = [k for k in text.split(",") if k not in KINDS]
    if bad or not text:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(KINDS)} (a grid takes a list: lstm,gru)")
    return text


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", choices=["smoke", "cpu", "drill", "gpu"],
                   help="size and budget preset: smoke (~1 min), cpu (~10 min on 2 cores: 2×256 in bf16 where the "
                        "CPU has it natively and it is faster, else 2×128), drill (a 1×128 LSTM in fp32 that forms "
                        "memory on a drill corpus within the run), gpu (3×512 LSTM); default: gpu when CUDA is "
                        "present, else drill on a drill corpus and cpu on any other")
    p.add_argument("--model", dest="kind", type=_kinds, metavar="{" + ",".join(KINDS) + "}",
                   help="model family (default lstm; docs/running.md, Model families); with --grid a list, lstm,gru,rnn, is one "
                        "more axis")
    p.add_argument("--layers", type=setting("layers"), help="recurrent layers")
    p.add_argument("--hidden", type=setting("hidden"), help="hidden units per layer")
    p.add_argument("--embed", type=setting("embed"), help="character embedding size")
    p.add_argument("--context", type=setting("context"), help="transformer: attention window in characters (default 256)")
    p.add_argument("--heads", type=setting("heads"), help="transformer: attention heads; xlstm: mLSTM heads (default 4)")
    p.add_argument("--match", metavar="params=N", type=checked_text(_parse_match, "params="),
                   help="size the model to N parameters (±10 %%) by choosing its width (--hidden); with --grid, "
                        "every point, so that model families compare at one size: --match params=200k")
    p.add_argument("--dropout", type=setting("dropout"), help="dropout between layers and before the head")
    p.add_argument("--steps", type=setting("steps"), help="training steps (each batch_size × seq_len characters)")
    p.add_argument("--batch-size", dest="batch_size", type=setting("batch_size"), help="parallel streams per step")
    p.add_argument("--seq-len", dest="seq_len", type=setting("seq_len"), help="characters per step per stream (BPTT length)")
    p.add_argument("--lr", type=setting("lr"), help="AdamW learning rate")
    p.add_argument("--seed", type=setting("seed"), help="seed for initialisation, data order, dropout and sampling")
    p.add_argument("--data-seed", dest="data_seed", type=setting("seed"), metavar="N",
                   help="seed for the training data's order alone (default: --seed)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:N, mps")
    p.add_argument("--threads", type=int_in(1, MAX_THREADS), help="CPU threads for torch (default: every core this process may use)")
    p.add_argument("--warm-start", dest="warm_start", metavar="CORPUS[:CHARS]",
                   type=checked_text(_warm_flag_text, "latex-drill:"),
                   help="train on CORPUS first (a drill such as latex-drill), for its first CHARS characters of the "
                        "budget (8M, 500k; default: half the budget), then on --corpus: one model, one vocabulary "
                        "(both train splits), one checkpoint across the switch")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                   help="training arithmetic: bf16 autocast (fp32 weights) or fp32; auto (default): bf16 on CUDA "
                        "where the RNN runs in it; on a CPU with native bf16 (AVX512-BF16/AMX) when a one-second race "
                        "at start (a 2×256 LSTM) finds it faster than fp32; else fp32")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__, suite_cmd, validate_cmd

    ap = Parser(
        prog="gencheck",
        description="How well does a character-level model learn long-range structure? gencheck trains char "
                    "models on a structured corpus, samples documents, validates their structure (LaTeX "
                    "environments, braces, math) and prints a scorecard.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="start with:  gencheck run --corpus latex",
    )
    ap.add_argument("--version", action="version", version=f"gencheck {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    fmt = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser("run", help="train, sample, validate and print the scorecard", formatter_class=fmt,
                       description="Build the corpus, train a char model, sample documents, validate them and "
                                   "the real test documents, print the scorecard and write "
                                   "OUT/<run-id>/results.json (+ checkpoint.pt, samples.jsonl).",
                       epilog=_epilog("run"))
    add_corpus_args(p)
    add_model_args(p)
    p.add_argument("--out", type=Path, default=Path("runs"), help="folder for run folders (default ./runs)")
    p.add_argument("--samples", dest="num_samples", type=setting("num_samples"), help="how many documents to sample")
    p.add_argument("--max-chars", dest="max_chars", type=setting("max_chars"), help="longest sample, in characters")
    p.add_argument("--json", action="store_true", help="also print results.json on stdout")
    p.add_argument("--grid", metavar="SPEC",
                   help="train every combination, e.g. \"layers=1,2 hidden=64,128\" (keys: model, layers, hidden, "
                        "embed, dropout, lr, batch_size, seq_len, context, heads); one folder per point under OUT/grid-<hash>/, "
                        "finished points skipped on a re-run, killed ones resumed; one grid scorecard")
    p.add_argument("--budget", metavar="CHARS", type=checked_text(_parse_budget, ""),
                   help="characters every grid point trains on (30M, 500k; default: the profile's steps)")
    p.add_argument("--minutes", type=float_in(0.0, _MAX_MINUTES, lo_open=True), metavar="N",
                   help="instead of --budget: N minutes of training per point, timed here at the slowest point's "
                        "speed and turned into one character budget (kept, so a re-run finds the same points)")
    p.add_argument("--jobs", type=int_in(1, MAX_THREADS), default=1, metavar="N",
                   help="with --grid: run N points at once, each in a process of its own: one per GPU on a machine "
                        "with several, or on the CPU with the cores shared out (default 1: one after another)")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="with --grid: where points run: here (local, the default; see --jobs) or as Ray tasks on a "
                        "cluster (ray; needs pip install 'gencheck[ray]', and an OUT every node sees)")
    p.add_argument("--address", metavar="auto|HOST:PORT",
                   help="with --engine ray: the Ray cluster to join (default: a local Ray on this machine's cores)")
    p.add_argument("--resources-per-point", dest="resources_per_point", metavar="SPEC",
                   type=checked_text(_parse_resources, "cpu="),
                   help="with --engine ray: what each point reserves, e.g. \"gpu=1\" or \"cpu=2\" (default cpu=1; "
                        "the CPUs are the point's torch threads)")
    p.add_argument("--seeds", type=int_in(1, 1000), default=1, metavar="K",
                   help="with --grid: train every point with K initialisations (seed, seed+1, …; the data's order "
                        "stays that of --seed); the scorecard shows mean ± spread")
    p.add_argument("--data-seeds", dest="data_seeds", type=int_in(1, 1000), default=1, metavar="K",
                   help="with --grid: train every point on K orders of the training data (data seed, +1, …; the "
                        "initialisation stays); with --seeds, every pair")
    p.add_argument("--no-probes", dest="no_probes", action="store_true",
                   help="skip the long-range probes (n-gram baselines, closer accuracy by distance, controlled "
                        "documents, effective context): faster, scorecard without the probes table")
    p.add_argument("--no-evolution", dest="no_evolution", action="store_true",
                   help="skip looking at the model at ten log-spaced steps during training (a sample, bits/char, "
                        "valid %%, the headline probe; see `report --evolution`)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="finish a killed run: continue training from RUN_DIR/checkpoint.pt, then sample and score")
    p.add_argument("--compile-samples", dest="compile_samples", type=int_in(0, 1 << 20), metavar="N",
                   help="how many samples (and test documents) the toolchain judges: pdflatex, gcc or mistune "
                        "(default 64; 0: none). Absent tools give n/a")

    p = sub.add_parser("train", help="train (or --resume) a model into a run folder", formatter_class=fmt,
                       description="Train a char model; checkpoint.pt in --out is written atomically at every "
                                   "evaluation and holds everything to resume exactly.", epilog=_epilog("train"))
    add_corpus_args(p)
    add_model_args(p)
    p.add_argument("--out", type=Path, required=True, help="run folder (holds checkpoint.pt)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt where it stopped")

    p = sub.add_parser("sample", help="sample documents from a checkpoint", formatter_class=fmt,
                       description="Sample documents in one batch. Output: a .jsonl file (one object per sample), "
                                   "or a folder of files, or stdout.", epilog=_epilog("sample"))
    p.add_argument("--checkpoint", type=Path, required=True, help="a checkpoint.pt, or the run folder that holds one")
    p.add_argument("-n", "--num-samples", dest="num_samples", type=setting("num_samples"), default=8,
                   help="how many documents (default 8)")
    p.add_argument("--max-chars", dest="max_chars", type=setting("max_chars"), default=2000,
                   help="characters per document at most (default 2000)")
    p.add_argument("--temperature", type=setting("temperature"), default=0.8, help="< 1 sharper, > 1 more random, 0 greedy")
    p.add_argument("--top-k", dest="top_k", type=setting("top_k"), default=0, help="sample only among the k likeliest (0: all)")
    p.add_argument("--prime", default="", help="text every sample starts with")
    p.add_argument("--prime-file", type=Path, help="read the prime text from a file")
    p.add_argument("--seed", type=setting("seed"), default=1337, help="the sampling seed: the same seed, the same documents")
    p.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:N, mps")
    p.add_argument("--threads", type=int_in(1, MAX_THREADS), help="CPU threads for torch (default: every core this process may use)")
    p.add_argument("--out", type=Path, help="samples.jsonl, or a folder for one file per sample (default: stdout)")

    validate_cmd.add_parser(sub)
    suite_cmd.add_parser(sub)

    p = sub.add_parser("calibrate", help="how far to trust the validator on a corpus", formatter_class=fmt,
                       description="Run the corpus's validator on its real documents (acceptance rate; each "
                                   "rejection listed) and on seeded single-edit mutations of the accepted ones "
                                   "(detection rate per mutation kind).",
                       epilog="examples:\n  gencheck calibrate --corpus latex\n"
                              "  gencheck calibrate --corpus latex --split all --json")
    add_corpus_args(p)
    p.add_argument("--split", choices=["train", "val", "test", "all"], default="test")
    p.add_argument("--mutations", type=int_in(0, 1_000_000), default=200, help="mutants per mutation kind")
    p.add_argument("--toolchain", action="store_true",
                   help="also ask the real toolchain (pdflatex, gcc, mistune) about every real document and "
                        "mutant, and print the confusion matrix of the validator's verdict against it")
    p.add_argument("--limit", type=int_in(0, 10**9), default=0, metavar="N",
                   help="with --toolchain: judge at most N real documents (0: all of the split)")
    p.add_argument("--seed", type=setting("seed"), default=0)
    p.add_argument("--json", action="store_true", help="print the calibration as JSON on stdout")

    p = sub.add_parser("report", help="re-print the scorecard of saved runs (no recomputing)", formatter_class=fmt,
                       description="Print the scorecard of each run from its results.json, with the versions "
                                   "of gencheck, Python, torch and the parsers that made it; when the runs were "
                                   "made with different versions, say which differ.", epilog=_epilog("report"))
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="a run folder or its results.json")
    p.add_argument("--json", action="store_true", help="print the results as a JSON list on stdout")
    p.add_argument("--markdown", action="store_true",
                   help="print one markdown table of the runs and each run's headline probe by distance "
                        "(to paste into a README or a pull request)")
    p.add_argument("--evolution", action="store_true",
                   help="print each run's evolution during training (samples, bits/char, valid %%, headline "
                        "probe at about ten log-spaced steps)")
    p.add_argument("--plot", action="store_true",
                   help="draw in the terminal: bits/char over training characters, the headline probe by "
                        "distance; for a grid, its accuracy against width (a line per distance bucket, a figure per depth) "
                        "and test bits/char against parameters, each the mean over seeds")
    p.add_argument("--png", type=Path, metavar="DIR", help="write the same plots as PNG files into DIR "
                                                           "(needs pip install 'gencheck[plots]')")
    p.add_argument("--svg", type=Path, metavar="DIR", help="write the same plots as SVG files into DIR")

    p = sub.add_parser("cells", help="which hidden units of an LSTM run track which structure", formatter_class=fmt,
                       description="Run the model over held-out documents and score every unit (h and c of every "
                                   "layer) against the format's structure: environment and brace depth, math, "
                                   "comments, position in the line; plus a linear probe from the whole state to "
                                   "environment depth (docs/probes.md, Cells).", epilog=_epilog("cells"))
    p.add_argument("run", type=Path, metavar="RUN", help="a run folder with checkpoint.pt")
    p.add_argument("--split", default="test", help="the held-out split to read (default: test)")
    p.add_argument("--json", action="store_true", help="print the report as JSON (with schema_version)")
    p.add_argument("--max-chars", type=setting("max_chars"), default=30_000, metavar="N", help="characters scanned per split")
    p.add_argument("--seed", type=setting("seed"), default=0, help="the order the documents are taken in")
    p.add_argument("--show", metavar="UNIT", help="colour the start of a document by one unit (e.g. L0.c[12]); "
                                                  "plain marks under each line when not a terminal")
    p.add_argument("--doc", type=int_in(0, 10**9), default=0, metavar="N", help="with --show or --html: the split's document N")
    p.add_argument("--html", type=Path, metavar="PAGE", help="also write one self-contained page: document N "
                                                             "coloured per character by any unit, with a picker")
    p.add_argument("--mirror", action="append", type=Path, default=[],
                   help="a directory searched first for source files by name (also $GENCHECK_MIRROR)")
    p.add_argument("--offline", action="store_true", help="use only the cache and mirrors; never download")

    p = sub.add_parser("probe", help="probe your own model (--model-entry) without training it", formatter_class=fmt,
                       description="Load any model that implements gencheck's small protocol from "
                                   "package.module:factory (docs/models.md) and print what needs no training: the "
                                   "closer probes on the test split beside n-gram and majority rows, controlled-"
                                   "distance documents, effective context and bits/char per row.",
                       epilog="example:  gencheck probe --model-entry mymodels:tiny --corpus latex-drill")
    p.add_argument("--model-entry", dest="model_entry", required=True, metavar="MODULE:FACTORY",
                   help="a factory returning the model; imports that module, which runs its code (the working "
                        "folder is importable for that one import)")
    add_corpus_args(p)
    p.add_argument("--samples", type=int_in(0, int(LIMITS["num_samples"].hi)), default=0, metavar="N", help="also sample N documents and validate them")
    p.add_argument("--seed", type=setting("seed"), default=0, help="seed for the baselines' documents and sampling")
    p.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:N, mps")
    p.add_argument("--threads", type=int_in(1, MAX_THREADS), help="CPU threads for torch (default: every core this process may use)")
    p.add_argument("--json", action="store_true", help="also print the report as JSON (with schema_version)")

    p = sub.add_parser("compare", help="two runs side by side, with deltas and whether each is beyond noise",
                       formatter_class=fmt,
                       description="Every figure both runs have (bits/char, valid %, probe accuracy per distance "
                                   "bucket, reach, effective context): base, new, delta, and whether the delta is "
                                   "beyond noise (outside the base's 95 % bootstrap interval for probe cells; over "
                                   "the declared default noise otherwise).",
                       epilog="examples:\n  gencheck compare runs/base runs/new\n  gencheck compare a/results.json b/results.json --json")
    p.add_argument("base", type=Path, help="the run compared against: a run folder or its results.json")
    p.add_argument("new", type=Path, help="the run whose deltas are shown: a run folder or its results.json")
    p.add_argument("--allow-other-corpus", action="store_true", help="compare runs on different corpus content")
    p.add_argument("--json", action="store_true", help="print the deltas as JSON on stdout")

    p = sub.add_parser("check", help="a CI gate: exit 1 when NEW regresses against --baseline", formatter_class=fmt,
                       description="Exit 1 when a quality figure of NEW is worse than the baseline's by more than "
                                   "its tolerance (bits/char up, valid % down, a probe accuracy down, reach down) or "
                                   "missing (a figure the baseline has that NEW lacks or has as NaN); 0 when none; 2 "
                                   "on a usage error (a missing file, another corpus, a schema from the future). "
                                   "Each side may be several runs (seeds of one configuration: run folders, or a "
                                   "folder of them such as a grid made with --seeds): the means are compared, and "
                                   "with two or more baseline runs each figure's tolerance comes from their spread, "
                                   "max(floor, 4 × sd × √(1/n + 1/m)); floors: bpc 0.01, rate 0.05, probe 0.05, "
                                   "reach 1 bucket. With one baseline run the tolerances are defaults (bpc 0.02 "
                                   "bits, rate 0.05, probe 0 and outside the baseline's interval, reach 0), and the "
                                   "output says so. Every gated figure is printed with its tolerance.",
                       epilog="examples:\n  gencheck check runs/new --baseline runs/seeds/  # a folder of seed runs\n"
                              "  gencheck check new1 new2 new3 --baseline base1 base2 base3\n"
                              "  gencheck check runs/new --baseline base.json --tolerance test_bpc=0.05 "
                              "--tolerance 'probe.*=0.1'")
    p.add_argument("new", type=Path, nargs="+", help="the run(s) to gate: run folders, results.json files or a "
                                                     "folder of runs")
    p.add_argument("--baseline", type=Path, nargs="+", required=True,
                   help="the baseline run(s): several seeds give measured tolerances")
    p.add_argument("--tolerance", action="append", default=[], metavar="METRIC=VALUE",
                   help="how much worse METRIC may get (a name, a glob such as 'probe.*', or a family: bpc, rate, "
                        "probe, context); repeatable; wins over the measured and default tolerances")
    p.add_argument("--json", action="store_true", help="print every gated figure as JSON on stdout")
    p.add_argument("--allow-other-corpus", action="store_true", help="gate runs on different corpus content")

    p = sub.add_parser("corpus", help="list, build or inspect corpora", formatter_class=fmt,
                       description="Corpora are declared in corpora/*.toml: pinned sources, filters, split seed.",
                       epilog=_epilog("corpus"))
    csub = p.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    lp = csub.add_parser("list", help="the declared corpora: format, licence, size when built", formatter_class=fmt,
                         epilog="example:  gencheck corpus list --json")
    lp.add_argument("--json", action="store_true", help="print JSON on stdout")
    for name, helptext in (("build", "download, verify and build a corpus"), ("info", "statistics of a corpus")):
        cp = csub.add_parser(name, help=helptext, formatter_class=fmt,
                             epilog=f"examples:\n  gencheck corpus {name} latex\n  gencheck corpus {name} my.toml\n"
                                    f"  gencheck corpus {name} ./my-tex-files --format latex")
        cp.add_argument("name", type=corpus_name, help="corpus name, declaration file or directory")
        cp.add_argument("--format", help="format when NAME is a directory")
        cp.add_argument("--mirror", action="append", type=Path, default=[],
                        help="a directory searched first for source files by name (also $GENCHECK_MIRROR)")
        cp.add_argument("--offline", action="store_true", help="use only the cache and mirrors; never download")
        add_allow_dir_arg(cp)
        cp.add_argument("--json", action="store_true", help="print JSON on stdout")
    return ap


# --- commands ----------------------------------------------------------------------------------------

def _profile(args, device, resume_from: Path | None = None):
    """The profile name and settings: a preset with the typed flags, settled for this machine (its fp32
    shape where bf16 does not run, train.settle_shape), or on resume the checkpoint's.

    Model flags default to None, so the flags the user typed are the ones that are not None; on resume
    each must agree with the checkpoint (train.resume_profile), and nothing comes from today's defaults."""
    from .config import PROFILES, with_overrides

    if "," in (getattr(args, "kind", None) or "") and not getattr(args, "grid", None):
        raise UsageError(f"--model {args.kind}: a list of cells goes with --grid (one run trains one cell)")
    _match_target(args)  # a wrong --match is refused before the corpus is built
    over = {k: getattr(args, k, None) for k in ("kind", "layers", "hidden", "embed", "dropout", "context", "heads", "steps",
                                                 "batch_size", "seq_len", "lr", "seed", "data_seed", "num_samples", "max_chars",
                                                 "precision")}
    over.update(_warm_flag(args))
    if resume_from is not None:
        from .train import Checkpoint, resume_profile

        given = {k: v for k, v in over.items() if v is not None}
        if args.profile is not None:
            given["profile"] = args.profile
        ck = Checkpoint.load(resume_from)
        _resume_corpus(args, ck)
        profile = resume_profile(ck, resume_from, given)
        return profile.name, profile
    name = args.profile or _default_profile(args)
    from .train import settle_shape

    typed = {k for k, v in over.items() if v is not None}
    profile = settle_shape(name, with_overrides(PROFILES[name], **over), device, typed)
    return name, _settle_warm_start(args, profile, over.get("warm_chars") is None)


def _settle_warm_start(args, profile, chars_omitted: bool):
    """The profile with its warm-start characters settled (half the budget of every run or point where
    `--warm-start NAME` gave none), refused before anything is built if it leaves no step for --corpus."""
    from dataclasses import replace

    from .train import check_warm_budget

    t = profile.train
    if not t.warm_start:
        return profile
    grid_budget = _grid_budget(args)
    steps = t.steps if grid_budget is None else grid_budget // (t.batch_size * t.seq_len)
    if chars_omitted:
        if getattr(args, "minutes", None) is not None:
            raise UsageError(f"--warm-start {t.warm_start} with --minutes: give the characters, "
                             f"--warm-start {t.warm_start}:8M (the budget is known only after timing)")
        t = replace(t, warm_chars=(grid_budget or t.steps * t.batch_size * t.seq_len) // 2)
    check_warm_budget(replace(t, steps=steps))
    return replace(profile, train=t)


def _warm_flag(args) -> dict:
    """`--warm-start latex-drill:8M` → warm_start and warm_chars (None when not typed or no CHARS)."""
    text = getattr(args, "warm_start", None)
    return {} if text is None else _warm_flag_text(text)


#: What follows the last colon of `--warm-start NAME:CHARS` when it is meant as CHARS (a number, signed or
#: not, nan or inf), not as part of a path that holds a colon.
_WARM_CHARS = re.compile(r"^[-+.\d]|^(nan|inf)", re.IGNORECASE)


def _warm_flag_text(text: str) -> dict:
    """`latex-drill:8M` → {warm_start, warm_chars}; a UsageError for no name or CHARS that are no budget."""
    name, sep, chars = text.rpartition(":")
    if not sep or not _WARM_CHARS.match(chars):  # a name alone (a path may hold a colon)
        name, chars = text, ""
    if not name:
        raise UsageError(f"--warm-start {shown(text)!r}: name a corpus, e.g. latex-drill or latex-drill:8M")
    return {"warm_start": name, "warm_chars": _parse_budget(chars, "--warm-start") if chars else None}


def _grid_budget(args) -> int | None:
    return _parse_budget(args.budget) if getattr(args, "grid", None) and getattr(args, "budget", None) else None


def _warm_corpus(args, profile):
    """The corpus a warm start trains on first, built like --corpus (cache, mirrors, --offline), or None."""
    if not profile.train.warm_start:
        return None
    from .corpus import build, resolve_spec
    from .progress import log

    # --format says what a folder of files holds, the warm start's folder too (it asked for --format again)
    return build(resolve_spec(profile.train.warm_start, args.format, args.allow_dir), offline=args.offline,
                 mirrors=args.mirror, log=log)


def _match_target(args) -> int | None:
    """`--match params=N` → N (None when not given); refused beside --hidden, which it replaces."""
    text = getattr(args, "match", None)
    if text is None:
        return None
    from .models.sizing import parse_match

    target = parse_match(text)
    if getattr(args, "hidden", None) is not None or "hidden" in (getattr(args, "grid", None) or ""):
        raise UsageError(f"--match {text} chooses the width: leave out --hidden (and hidden= in --grid)")
    if getattr(args, "resume", None):
        raise UsageError(f"--match {text}: a resumed run keeps its checkpoint's size; leave --match out")
    return target


def _matched(args, profile, corpus, warm):
    """The profile at the width `--match params=N` asks for (unchanged without --match), said in the log."""
    from dataclasses import replace

    target = _match_target(args)
    if target is None:
        return profile
    from .models.sizing import match_hidden
    from .progress import log
    from .train import model_config, run_vocab

    vocab = run_vocab(corpus, warm, profile.train.vocab_min_count)
    m = match_hidden(model_config(profile, vocab.size), target)
    log(f"--match params={target:,}: {profile.kind} {profile.layers}×{m.hidden}, {m.params:,} parameters "
        f"({m.off:.1%} off)")
    return replace(profile, hidden=m.hidden, note="")


def _matched_combos(args, base, combos: list[dict], corpus, warm) -> list[dict]:
    """Each grid combination with the width `--match params=N` gives it (as if typed: hidden=…)."""
    if _match_target(args) is None:
        return combos
    from .config import with_overrides

    return [{**c, "hidden": _matched(args, with_overrides(base, **c), corpus, warm).hidden} for c in combos]


def _default_profile(args) -> str:
    """gpu where CUDA is present; else drill for a drill corpus (the cpu profile's 2×256 at 3e-3 stays on its
    plateau there: docs/measurements.md) and cpu for any other."""
    import torch

    from .corpus import resolve_spec

    if args.device != "cpu" and torch.cuda.is_available():
        return "gpu"
    names = _corpus_names(args.corpus) if getattr(args, "corpus", None) else []
    try:
        drills = [resolve_spec(n, getattr(args, "format", None), getattr(args, "allow_dir", ())).drill is not None
                  for n in names]
    except GencheckError:
        return "cpu"  # the corpus's own error comes when it is built, with its context
    return "drill" if drills and all(drills) else "cpu"


def _corpus(args):
    from .corpus import build, resolve_spec
    from .progress import log

    spec = resolve_spec(args.corpus, args.format, args.allow_dir)
    return build(spec, offline=args.offline, mirrors=args.mirror, log=log)


def _resume_corpus(args, ck) -> None:
    """`--resume` builds the corpus the run started on, from where its checkpoint says it was declared,
    unless `--corpus` was typed (then `train` refuses one whose content differs). An older checkpoint
    without the record gives its corpus's name."""
    from .train import recorded_corpus

    if "corpus" in getattr(args, "typed", set()) or not hasattr(args, "corpus"):
        return
    corpus, fmt = recorded_corpus(ck)
    args.corpus, args.format = corpus, args.format or fmt


def cmd_run(args) -> int:
    from gencheck.progress import SafeConsole as Console

    from .pipeline import new_run_id, run
    from .scorecard import Scorecard
    from .train import pick_device, use_threads

    started = time.perf_counter()
    device = pick_device(args.device)
    use_threads(getattr(args, "threads", None))
    if args.minutes is not None:
        from .grid import check_minutes

        check_minutes(args.minutes)
    if args.grid:
        return _run_grid(args, device)
    if (args.budget or args.minutes is not None or args.seeds != 1 or args.data_seeds != 1 or args.jobs != 1
            or args.engine != "local"):
        raise UsageError("--budget, --minutes, --seeds, --data-seeds, --jobs and --engine go with --grid "
                         "(for one run, use --steps and --seed)")
    if args.resume and not (args.resume / "checkpoint.pt").is_file():
        raise UsageError(f"--resume {args.resume}: no checkpoint.pt there to continue")
    name, profile = _profile(args, device, args.resume / "checkpoint.pt" if args.resume else None)
    corpus_started = time.perf_counter()
    corpus = _corpus(args)
    warm = _warm_corpus(args, profile)
    profile = _matched(args, profile, corpus, warm)
    run_dir = args.resume or args.out / new_run_id(corpus.spec.name, profile)
    args.run_dir = run_dir  # for the message if this is interrupted
    result = run(corpus, profile, device, run_dir, name, started=started, resume=args.resume is not None,
                 corpus_seconds=time.perf_counter() - corpus_started, probes=not args.no_probes, evolution=not args.no_evolution,
                 compile_samples=args.compile_samples, warm=warm)
    Console(stderr=args.json).print(Scorecard(result))
    Console(stderr=args.json).print(f"results: {escape(str(run_dir / 'results.json'))}", highlight=False)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    return 0


def _run_grid(args, device) -> int:
    from .grid import family_settings, parse_budget, parse_grid, with_family_settings, with_seeds

    if args.resume:
        raise UsageError("--grid resumes by itself: run the same command again")
    engine = _grid_engine(args, device)  # before anything is built or trained: Ray missing is one line
    if args.budget and args.minutes is not None:
        raise UsageError("give --budget or --minutes, not both")
    kinds = (args.kind or "").split(",") if args.kind and "," in args.kind else None
    if kinds:
        args.kind = None  # the cells are an axis of the grid, not a setting of its base profile
    name, base = _profile(args, device)
    combos = parse_grid(args.grid)
    if kinds:
        if any("kind" in c for c in combos):
            raise UsageError("give the cells once: --model lstm,gru or model=... in --grid, not both")
        combos = [{"kind": k, **c} for k in kinds for c in combos]
    combos = with_family_settings(combos, family_settings(args.grid), base.kind)
    combos = with_seeds(combos, args.seeds, base.train.seed, args.data_seeds, base.train.data_seed)
    budget = parse_budget(args.budget) if args.budget else None
    results = [r for c in _corpus_names(args.corpus) for r in _grid_one(args, device, name, base, combos, budget, c, engine)]
    if args.json:
        print(json.dumps([r.to_json() for r in results], indent=2))
    return 0


def _grid_engine(args, device):
    """`--engine ray` as a grid engine (None: the local one, with --jobs); its flags checked here."""
    if args.engine != "ray":
        if args.address or args.resources_per_point:
            raise UsageError("--address and --resources-per-point go with --engine ray")
        return None
    from .ray_engine import RayEngine, import_ray, parse_resources

    if args.jobs != 1:
        raise UsageError("--jobs is for the local engine: with --engine ray, Ray runs as many points at once "
                         "as the cluster has room for (see --resources-per-point)")
    resources = parse_resources(args.resources_per_point)
    if device.type == "cuda" and not resources.gpus:
        raise UsageError("--engine ray on CUDA: give --resources-per-point gpu=1 so that Ray gives each point a GPU")
    import_ray()
    return RayEngine(args.address, resources)


def _corpus_names(text: str) -> list[str]:
    """`latex,c,markdown` → three corpora (a path that exists is one, whatever its name)."""
    return [text] if "," not in text or Path(text).exists() else [c for c in text.split(",") if c]


def _grid_one(args, device, name, base, combos, budget, corpus_name: str, engine=None) -> list:
    """One corpus's grid: time the points if --minutes, run or load each point, print the grid scorecard."""
    from gencheck.progress import SafeConsole as Console

    import functools

    import torch

    from .corpus import Vocab
    from .grid import grid_folder, job_slots, minutes_budget, points, run_grid
    from .pipeline import device_label, grid_point_worker, run
    from .progress import log
    from .scorecard import GridView
    from .train import step_rate, usable_cores

    args.corpus = corpus_name
    corpus = _corpus(args)
    warm = _warm_corpus(args, base)
    combos = _matched_combos(args, base, combos, corpus, warm)
    slots = job_slots(args.jobs, str(device), torch.cuda.device_count() if device.type == "cuda" else 0,
                      usable_cores())
    if args.minutes is not None:  # timed as the points will train: with --jobs on the CPU, on their share of the cores
        vocab = Vocab.from_texts(corpus.texts("train"), base.train.vocab_min_count)
        timed = points(base, combos, None, corpus.content_hash, not args.no_probes)
        threads_before = torch.get_num_threads()
        torch.set_num_threads((engine.resources.slot if engine else slots[0]).threads or threads_before)
        try:
            budget = minutes_budget(args.minutes, timed, corpus.content_hash, device_label(device), args.out,
                                    lambda pt: step_rate(pt.profile, vocab.size, device), log)
        finally:
            torch.set_num_threads(threads_before)
    pts = points(base, combos, budget, corpus.content_hash, not args.no_probes)
    folder = grid_folder(args.out, corpus.content_hash, pts)
    worker = functools.partial(grid_point_worker, corpus=corpus, profile_name=name, probes=not args.no_probes,
                               evolution=not args.no_evolution, warm=warm)
    results = run_grid(pts, folder, lambda pt, run_dir, resume: run(
        corpus, pt.profile, device, run_dir, name, resume=resume, probes=not args.no_probes,
        evolution=not args.no_evolution, warm=warm), log, slots=slots, worker=worker, engine=engine)
    diverged = [pt.label for pt, r in zip(pts, results) if r is None]
    results = [r for r in results if r is not None]
    if not results:
        raise GencheckError(f"every point of the grid diverged ({', '.join(diverged)}): try a lower --lr")
    Console(stderr=args.json).print(GridView(results))
    if diverged:
        Console(stderr=args.json).print(f"diverged, left out: {', '.join(diverged)} (their folders say where)",
                                        highlight=False)
    Console(stderr=args.json).print(f"grid: {escape(str(folder))} (re-run the same command to finish or extend it)",
                                    highlight=False)
    return results


def cmd_train(args) -> int:
    from .fsutil import locked_dir
    from .progress import log
    from .train import pick_device, train, use_threads

    device = pick_device(args.device)
    use_threads(getattr(args, "threads", None))
    ckpt = args.out / "checkpoint.pt"
    _, profile = _profile(args, device, ckpt if args.resume else None)

    def refuse_existing() -> None:
        if not args.resume and ckpt.exists():
            raise UsageError(f"{ckpt} exists: add --resume to continue it, or choose another --out")

    refuse_existing()
    corpus = _corpus(args)
    warm = _warm_corpus(args, profile)
    profile = _matched(args, profile, corpus, warm)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GencheckError(f"could not create run folder {args.out}: {exc.strerror or exc}") from None
    with locked_dir(args.out):
        refuse_existing()  # again: another gencheck may have trained there while the corpus was built
        r = train(corpus, profile, args.out, device, resume=args.resume, warm=warm)
    log(f"trained {r.steps} steps at {r.chars_per_s:,.0f} chars/s; val {r.val_bpc:.3f} bpc; "
        f"checkpoint {escape(str(r.checkpoint))}")
    return 0


def cmd_sample(args) -> int:
    from dataclasses import asdict

    from .config import SampleConfig, check_sample
    from .sample import generate, write_files, write_jsonl
    from .train import Checkpoint, pick_device, use_threads

    cfg = SampleConfig(args.num_samples, args.max_chars, args.temperature, args.top_k, _prime(args), args.seed)
    check_sample(cfg, "-n")
    if args.out is not None:
        _check_writable(args.out if args.out.suffix != ".jsonl" else args.out.parent, args.out)
    device = pick_device(args.device)
    use_threads(getattr(args, "threads", None))
    ck = Checkpoint.load(args.checkpoint)
    samples = generate(ck.build_model(device), ck.vocab, cfg, device)
    if args.out is None:
        for s in samples:
            print(json.dumps(asdict(s), ensure_ascii=False))
    elif args.out.suffix == ".jsonl":
        write_jsonl(samples, args.out)
    else:
        write_files(samples, args.out, _suffix_for(ck.corpus_name))
    return 0


def _prime(args) -> str:
    """--prime, or the text of --prime-file: a regular UTF-8 file of at most MAX_PRIME_CHARS × 4 bytes (a
    FIFO would hang, /dev/zero fill memory); a UsageError naming it otherwise."""
    from .config import MAX_PRIME_CHARS
    from .fsutil import read_text_capped

    if not args.prime_file:
        return args.prime
    try:
        return read_text_capped(args.prime_file, 4 * MAX_PRIME_CHARS, "--prime-file")
    except GencheckError as exc:
        raise UsageError(str(exc)) from None


def _check_writable(folder: Path, out: Path) -> None:
    """--out can be written: its folder made and a file created there, before any sampling is spent."""
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None


def _suffix_for(corpus_name: str) -> str:
    """Sample files get the extension of the corpus's format (.tex, .c, .md), else .txt."""
    from gencheck.validators import FORMATS

    from .corpus import builtin_specs, load_spec

    reg = builtin_specs()
    fmt = load_spec(reg.get(corpus_name)).format if corpus_name in reg else ""
    return FORMATS.get(fmt).extensions[0] if fmt in FORMATS else ".txt"


def cmd_calibrate(args) -> int:
    from gencheck.progress import SafeConsole as Console
    from rich.table import Table

    from .calibrate import calibrate
    from .scorecard import pct

    corpus = _corpus(args)
    if getattr(args, "toolchain", False) and args.json:
        return cmd_calibrate_toolchain(args, corpus)
    cal = calibrate(corpus, args.split, args.mutations, args.seed)
    if args.json:
        print(json.dumps(cal.to_json(), indent=2))
        return 0
    console = Console()
    unjudged = f"; {len(cal.unjudged)} could not be judged, left out" if cal.unjudged else ""
    trivial = f"; {len(cal.trivial)} trivial (nothing to judge), left out" if cal.trivial else ""
    console.print(f"[bold]{escape(cal.corpus)}[/] ({escape(cal.format)}, {cal.split} split): {cal.accepted} of {cal.rated} "
                  f"judged non-trivial real documents accepted ({pct(cal.acceptance)}){unjudged}{trivial}",
                  highlight=False)
    for title, rows in (("rejected real documents: a real error, or a validator gap?", cal.rejected),
                        ("real documents the validator could not judge (not counted)", cal.unjudged),
                        ("trivial real documents: nothing to judge (not counted)", cal.trivial)):
        if not rows:
            continue
        t = Table(title=title, title_justify="left")
        for col in ("path", "verdict", "first finding"):
            t.add_column(col, overflow="fold")
        for r in rows:
            t.add_row(escape(r.path), r.verdict, escape(f"{r.line}:{r.col} {r.kind}: {r.message}"))
        console.print(t)
    t = Table(title="mutations of accepted documents", title_justify="left")
    for col in ("mutation", "tried", "unjudged", "trivial", "rejected (of rated)"):
        t.add_column(col, justify="left" if col == "mutation" else "right")
    for m in cal.mutations:
        t.add_row(escape(m.kind), str(m.tried), str(m.unjudged), str(m.trivial), pct(m.rate))
    console.print(t)
    if getattr(args, "toolchain", False):  # the validator's own calibration first, then the toolchain's view
        return cmd_calibrate_toolchain(args, corpus)
    return 0


def cmd_calibrate_toolchain(args, corpus) -> int:
    """`calibrate --toolchain`: the validator's verdict against the toolchain's, per corpus."""
    from gencheck.progress import SafeConsole as Console

    from .calibrate import agreement, agreement_tables

    result = agreement(corpus, args.split, args.mutations, args.seed, limit=args.limit)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    Console().print(*agreement_tables(result))
    return 0


def load_results(path: Path):
    """A RunResult from a run folder or a results.json path (UsageError when there is none)."""
    from .results import RunResult

    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise UsageError(f"{path}: no results.json there (a run folder, or the path of its results.json)")
    return RunResult.load(file)


def cmd_report(args) -> int:
    """Every run given that has results; the others are named on stderr and make the exit status 1."""
    if args.json and args.markdown:
        raise UsageError("give --json or --markdown, not both")
    results, skipped = _loadable_results(args.runs)
    rc = _report(args, results)
    return rc or (1 if skipped else 0)


def _loadable_results(paths: list[Path]) -> tuple[list, list[Path]]:
    """The runs that have results, and the ones skipped, each said on stderr in one line: a killed run has
    a checkpoint and no results.json yet, and one such folder among many must not hide the others. Nothing
    readable at all is the first one's error."""
    from .progress import console as err_console

    results, skipped, first = [], [], None
    for p in paths:
        try:
            results.append(load_results(p))
        except GencheckError as exc:
            first = first or exc
            killed = p.is_dir() and (p / "checkpoint.pt").is_file()
            hint = f" (killed before it finished? `gencheck run --resume {p}` finishes it)" if killed else ""
            skipped.append((p, f"{exc}{hint}"))
    if not results:
        raise first
    for _, why in skipped:
        err_console.print(f"[yellow]warning:[/] skipped {escape(why)}", highlight=False)
    return results, [p for p, _ in skipped]


def _report(args, results: list) -> int:
    from gencheck.progress import SafeConsole as Console

    from .provenance import version_differences
    from .scorecard import Scorecard

    if args.plot or args.png or args.svg:
        if args.json or args.markdown or args.evolution:
            raise UsageError("--plot, --png and --svg go without --json, --markdown and --evolution")
        from .plots import plot_command

        return plot_command(results, args.plot, args.png, args.svg)
    if args.json:
        print(json.dumps([r.to_json() for r in results], indent=2))
        return 0
    if args.markdown:
        from .scorecard import markdown_report

        print(show_controls(markdown_report(results)), end="")
        return 0
    if args.evolution:
        from .scorecard import EvolutionView

        for r in results:
            rows = r.train.get("evolution") or []
            Console().print(EvolutionView(rows, r.train.get("evolution_seconds", 0.0), r.train.get("seconds") or 0.0,
                                          r.train.get("memory_formed"), r.train.get("formed_against"))
                            if rows else f"{escape(r.run_id)}: no evolution recorded (run with gencheck ≥ 0.1 and "
                                         "without --no-evolution)", highlight=False)
        return 0
    console = Console()
    for r in results:
        console.print(Scorecard(r))
    base = results[0]
    for r in results[1:]:
        diff = version_differences(base.versions, r.versions)
        if diff:
            console.print(f"[yellow]warning:[/] {escape(base.run_id)} and {escape(r.run_id)} were made with different "
                          f"versions ({escape('; '.join(diff))}): a difference in their figures may come from these",
                          highlight=False)
    return 0


def cmd_cells(args) -> int:
    from .cells import cells_command

    return cells_command(args.run, args.split, args.json, args.max_chars, args.seed, args.mirror, args.offline,
                         args.show, args.doc, args.html)


def cmd_probe(args) -> int:
    from .probe_cmd import probe_command

    return probe_command(args)


def _load_pair(base: Path, new: Path):
    """Both results, or a usage error (exit 2): a missing or unreadable file, a schema from elsewhere."""
    try:
        return load_results(base), load_results(new)
    except UsageError:
        raise
    except GencheckError as exc:
        raise UsageError(str(exc)) from None


def cmd_compare(args) -> int:
    from gencheck.progress import SafeConsole as Console
    from rich.table import Table

    from .compare import check_comparable, compare, shown

    base, new = _load_pair(args.base, args.new)
    warnings = check_comparable(base, new, args.allow_other_corpus)
    deltas = compare(base, new)
    if args.json:
        print(json.dumps([{"metric": d.name, "base": d.base.value, "new": d.new.value, "delta": d.change,
                           "higher_is_better": d.base.higher_is_better, "beyond_noise": d.beyond_noise,
                           "base_ci95": d.base.ci} for d in deltas], indent=2))
    else:
        console = Console()
        t = Table(title=escape(f"{base.run_id} → {new.run_id}"), title_justify="left")
        for col in ("metric", "base", "new", "delta", ""):
            t.add_column(col, justify="left" if col == "metric" else "right")
        for d in deltas:
            mark = "" if not d.beyond_noise else ("differs" if not d.base.gated else
                                                  "[red]worse[/]" if d.worse_by > 0 else "[green]better[/]")
            t.add_row(escape(d.name), escape(shown(d.name, d.base.family, d.base.value)),
                      escape(shown(d.name, d.new.family, d.new.value)), f"{d.change:+.3f}", mark)
        console.print(t)
        console.print("worse/better: beyond noise (outside the base's 95 % interval for probe cells, over the "
                      "declared default noise otherwise); unmarked deltas are within it", style="dim", highlight=False)
    for w in warnings:
        print(show_controls(f"warning: {w}"), file=sys.stderr)
    return 0


def run_paths(path: Path) -> list[Path]:
    """The results a path names: a results.json, a run folder, or a folder of run folders (seeds, a grid)."""
    if path.is_file() or (path / "results.json").is_file():
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if (p / "results.json").is_file())
        if found:
            return found
    raise UsageError(f"{path}: no results.json there, nor in a folder inside it (a run folder, its results.json, "
                     "or a folder of runs)")


def _load_side(paths: list[Path], what: str):
    from .compare import check_same_configuration

    runs = []
    for path in paths:
        for p in run_paths(path):
            try:
                runs.append(load_results(p))
            except UsageError:
                raise
            except GencheckError as exc:
                raise UsageError(str(exc)) from None
    check_same_configuration(runs, what)
    return runs


def _gate_value(row, value: float | None, spread: bool = False) -> str:
    from .compare import shown

    return escape(shown(row.name, row.family, value, spread))


def cmd_check(args) -> int:
    from gencheck.progress import SafeConsole as Console
    from rich.markup import escape
    from rich.table import Table

    from .compare import K_SD, check_comparable, gate, parse_tolerances

    tolerances = parse_tolerances(args.tolerance)
    bases, news = _load_side(args.baseline, "--baseline"), _load_side(args.new, "NEW")
    for w in check_comparable(bases[0], news[0], args.allow_other_corpus):
        print(show_controls(f"warning: {w}"), file=sys.stderr)
    rows = gate(bases, news, tolerances)
    if not rows:
        raise UsageError(f"{args.new[0]} and {args.baseline[0]} have no figure in common to compare")
    bad = [r for r in rows if r.regression]
    if args.json:
        print(json.dumps({"baseline_runs": len(bases), "new_runs": len(news), "k_sd": K_SD,
                          "figures": [r.to_json() for r in rows], "regressions": len(bad)}, indent=2))
        return 1 if bad else 0
    n, m = len(bases), len(news)
    t = Table(title=f"gate: {m} new run{'s' * (m > 1)} against {n} baseline run{'s' * (n > 1)}", title_justify="left",
              pad_edge=False, caption=(f"tolerance from seeds: max(floor, {K_SD:g} × sd × √(1/n + 1/m))" if n > 1 else
                                       "one baseline run: default tolerances (give several seeds for measured ones)"),
              caption_justify="left")
    for col, just in (("figure", "left"), ("baseline", "right"), ("new", "right"), ("worse by", "right"),
                      ("tolerance", "right"), ("from", "left"), ("", "left")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in rows:
        spread = f" ± {_gate_value(r, r.base_sd, spread=True)}" if r.base_sd is not None else ""
        t.add_row(escape(r.name), _gate_value(r, r.base_mean) + spread, _gate_value(r, r.new_mean),
                  "" if r.worse_by is None else _gate_value(r, r.worse_by, spread=True), f"{r.tolerance:.3g}", r.source,
                  "[red]regression[/]" if r.regression else "ok")
    Console(soft_wrap=True).print(t)
    for r in bad:
        got = "missing or not a finite number" if r.new_mean is None else _gate_value(r, r.new_mean)
        print(show_controls(f"regression: {r.name}: base {_gate_value(r, r.base_mean)}, new {got}, tolerance "
                            f"{r.tolerance:.3g} ({r.source})"))
    if n == 1 and not tolerances:
        print("note: one baseline run, so the tolerances are defaults (bpc 0.02, rate 0.05, probe 0 beyond its "
              "interval, reach 0); give several seeds (--baseline DIR of runs) for tolerances from their spread")
    if not bad:
        print(show_controls(f"no regression in {len(rows)} figures against {bases[0].run_id}"
                            + (f" and {n - 1} more baseline runs" if n > 1 else "")))
    return 1 if bad else 0


def cmd_corpus(args) -> int:
    from rich import box
    from gencheck.progress import SafeConsole as Console
    from rich.table import Table

    from .corpus import builtin_specs, built_summary, load_spec

    if args.corpus_command == "list":
        reg = builtin_specs()
        rows = []
        for name in reg:
            spec = load_spec(reg.get(name), name)
            built = built_summary(spec)
            if built:
                size = f"{built['documents']:,} docs {built['bytes'] / 1e6:5.1f} MB"
            elif spec.documents:
                size = f"{spec.documents:,} docs {spec.chars / 1e6:5.1f} MB"
            else:
                size = "not built"
            rows.append({"name": name, "format": spec.format, "license": spec.license, "size": size,
                         "built": built, "description": spec.description,
                         "sources": [s.describe() for s in spec.sources]})
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        t.add_column("name", no_wrap=True, min_width=max(len(r["name"]) for r in rows))
        t.add_column("format", no_wrap=True, min_width=8)
        t.add_column("licence", no_wrap=True, overflow="ellipsis", max_width=14)
        t.add_column("size", no_wrap=True, min_width=16)
        t.add_column("built", no_wrap=True, min_width=5)
        for r in rows:
            short = re.split(r" \(|;", r["license"], maxsplit=1)[0]
            t.add_row(escape(r["name"]), escape(r["format"]), escape(short), r["size"], "yes" if r["built"] else "[dim]no[/]")
        Console().print(t)
        return 0
    args.corpus = args.name
    corpus = _corpus(args)
    if args.corpus_command == "build":
        if args.json:
            from .corpus_info import corpus_info

            print(json.dumps(corpus_info(corpus), indent=2))
        else:
            Console().print(f"corpus {escape(corpus.spec.name)}: {len(corpus.documents):,} documents, "
                            f"{corpus.chars():,} characters, content hash {corpus.content_hash[:16]}",
                            highlight=False, soft_wrap=True)
        return 0
    from .corpus_info import corpus_info

    info = corpus_info(corpus)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    Console().print(_info_table(info))
    return 0


def _info_table(info: dict):
    from rich import box
    from rich.table import Table

    t = Table(title=f"corpus {escape(info['name'])}", show_header=False, box=box.SIMPLE, title_justify="left")
    t.add_column(style="bold", no_wrap=True)
    t.add_column()
    t.add_row("format", escape(info["format"]))
    t.add_row("documents", f"{info['documents']:,}")
    t.add_row("characters", f"{info['chars']:,} ({info['bytes'] / 1e6:.1f} MB)")
    t.add_row("vocabulary", f"{info['vocab_size']:,} characters (train split, with separator and unknown)")
    t.add_row("splits", "   ".join(f"{k} {v['documents']:,} docs / {v['chars']:,} chars" for k, v in info["splits"].items()))
    t.add_row("source", escape(info["source"]) + (f" (or {len(info['sources']) - 1} more)" if len(info["sources"]) > 1 else ""))
    t.add_row("licence", escape(info["license"]))
    t.add_row("content hash", escape(info["content_hash"]) + ("" if info["pinned"] else " (not pinned)"))
    t.add_row("unigram", f"{info['unigram_test_bpc']:.3f} bits/char on test, fitted on train (a model must beat this)")
    b = info["build"]
    t.add_row("build", f"{b['selected']:,} of {b['members']:,} files selected; {b['not_utf8']} not UTF-8, "
                       f"{b['binary']} binary, {b['filtered']} filtered, {b['duplicates']} duplicates"
                       + (f"; {b['split_parts']} parts from split members" if b.get("split_parts") else ""))
    st = info["structure"]
    if st is None:
        t.add_row("structure", f"none measured for format {escape(repr(info['format']))}")
        return t
    n = max(1, st["pairs"])
    t.add_row("structure", f"{st['pairs']:,} pairs {escape(st['opener'])} → {escape(st['closer'])}; "
                           f"{st['unclosed']:,} unclosed, {st['stray_closers']:,} stray closers")
    dq, db = st["depth"]["quantiles"], st["depth"]["buckets"]
    t.add_row("nesting depth", "  ".join(f"{k}: {v / n:.0%}" for k, v in db.items() if v)
              + (f"   (median {dq['p50']}, p90 {dq['p90']}, max {dq['max']})" if dq else ""))
    for label, part in [("", st), *((f" · {k}", v) for k, v in (info.get("structure_by_split") or {}).items())]:
        q, bk, n = part["distance"]["quantiles"], part["distance"]["buckets"], max(1, part["pairs"])
        t.add_row(f"distance (chars){label}", "  ".join(f"{k.replace('<=', '≤')}: {v / n:.0%}" for k, v in bk.items())
                  + (f"   (median {q['p50']:,}, p90 {q['p90']:,}, p99 {q['p99']:,}, max {q['max']:,})" if q else ""))
    for k, part in (info.get("structure_by_split") or {}).items():  # a drill: each split's own distribution
        dq, db, n = part["depth"]["quantiles"], part["depth"]["buckets"], max(1, part["pairs"])
        t.add_row(f"nesting depth · {k}", "  ".join(f"{d}: {v / n:.0%}" for d, v in db.items() if v)
                  + (f"   (max {dq['max']})" if dq else ""))
    return t


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # a refused value: one line and SystemExit(2), argparse's way
    if not args.command:
        parser.print_help()
        return 2
    from .registry import UnknownNameError
    from .progress import console

    handlers = {"run": cmd_run, "train": cmd_train, "sample": cmd_sample, "corpus": cmd_corpus,
                "calibrate": cmd_calibrate, "report": cmd_report, "compare": cmd_compare, "check": cmd_check,
                "cells": cmd_cells, "probe": cmd_probe}
    try:
        if args.command == "validate":
            from . import validate_cmd

            return validate_cmd.run(args)
        if args.command == "suite":
            from . import suite_cmd

            return suite_cmd.run(args)
        return handlers[args.command](args)
    except UnknownNameError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        return 2
    except GencheckError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        console.print(f"[red]interrupted[/]{escape(interrupted_note(args))}", highlight=False)
        return 130
    except BrokenPipeError:
        return quiet_broken_pipe()


def interrupted_note(args) -> str:
    """What a Ctrl-C leaves and how to go on: the exact command with the run's folder where one was started
    (checkpoints are written atomically, so the last one is whole)."""
    if args.command == "run" and getattr(args, "run_dir", None) is not None:
        folder = args.run_dir
        if (folder / "checkpoint.pt").is_file():
            return f": the last checkpoint in {folder} is whole; continue with: gencheck run --resume {folder}"
        return f": {folder} has no checkpoint yet (one is written at every evaluation); start the run again"
    if args.command == "train" and (Path(args.out) / "checkpoint.pt").is_file():
        return f": the last checkpoint in {args.out} is whole; continue with: gencheck train --out {args.out} --resume"
    return ""


def quiet_broken_pipe() -> int:
    """The reader of stdout went away (`gencheck corpus list --json | head -1`): exit quietly, as `cat` does.
    stdout is pointed at /dev/null so that the interpreter's final flush of what is still buffered cannot
    fail a second time and print a traceback on the way out."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout without a descriptor (a test's capture): nothing to flush there
        pass
    return 141  # 128 + SIGPIPE, what a shell reports for a writer killed by the pipe


if __name__ == "__main__":
    sys.exit(main())
