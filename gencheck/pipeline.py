"""`gencheck run`: corpus → model → train → sample → validate → scorecard, one stage after another."""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from rich.markup import escape

from gencheck.validators import FORMATS, validate_many
from gencheck.validators.toolchains import judge_for

from . import __version__
from .config import Profile
from .corpus import Corpus, unigram_bpc
from .evolution import Watcher, memory_formed
from .longrange import measure
from .fsutil import GencheckError, UsageError, locked_dir
from .provenance import versions
from .results import RunResult, VerdictSummary, git_commit
from .sample import generate, write_jsonl
from .structure import Closures, latex_closures, majority_environment
from .train import Checkpoint, bits_per_char, model_fields, train
from .progress import console, log


def new_run_id(corpus: str, profile: Profile) -> str:
    """Time, corpus, shape and seed for a reader, and a random suffix: runs started in one second differ."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", corpus)
    return (f"{stamp}-{safe}-{profile.kind}{profile.layers}x{profile.hidden}-s{profile.train.seed}-"
            f"{secrets.token_hex(3)}")


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def split_hash(corpus: Corpus) -> str:
    """Which documents are in which split: two runs on the same content split differently measure
    different things (`gencheck compare` refuses them)."""
    import hashlib
    import json

    named = {k: sorted(corpus.documents[i].path for i in v) for k, v in corpus.splits.items()}
    return hashlib.sha256(json.dumps(named, sort_keys=True).encode()).hexdigest()


def closer_summary(c: Closures) -> dict:
    """`total` counts every non-verbatim `\\end`; `wrong` includes the `stray` ones (nothing open)."""
    return {"right": c.right, "wrong": c.wrong, "stray": c.stray, "total": c.total,
            "accuracy": c.accuracy if c.total else None, "opened": c.opened, "chars": c.chars}


def score_closers(texts: list[str], fmt: str, majority_env: str) -> Closures:
    total = Closures()
    if fmt == "latex":
        for t in texts:
            total.add(latex_closures(t, majority_env))
    return total


class Stages:
    """Wall seconds per pipeline stage (`with stages("train"): ...`), shown under the scorecard so the
    slowest stage is always visible."""

    def __init__(self, **already: float) -> None:
        self.seconds: dict[str, float] = dict(already)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t


def grid_point_worker(point, run_dir: Path, resume: bool, slot, *, corpus: Corpus, profile_name: str,
                      probes: bool, evolution: bool, warm: Corpus | None = None) -> Path:
    """One grid point in a worker process of its own (`--jobs`): the slot's device and threads, output
    lines labelled with the point; returns its results.json for the grid to load."""
    from .progress import label_output
    from .train import use_threads

    label_output(point.label)
    if slot.threads:
        use_threads(slot.threads)
    run(corpus, point.profile, torch.device(slot.device), run_dir, profile_name, resume=resume, probes=probes,
        evolution=evolution, warm=warm)
    return run_dir / "results.json"


def run(corpus: Corpus, profile: Profile, device: torch.device, run_dir: Path, profile_name: str,
        started: float | None = None, resume: bool = False, corpus_seconds: float = 0.0,
        probes: bool = True, compile_samples: int | None = None, evolution: bool = True,
        warm: Corpus | None = None) -> RunResult:
    """Train, sample, validate and score; writes checkpoint.pt, samples.jsonl and results.json in run_dir.

    A new run creates run_dir and refuses one that exists; `resume` continues the checkpoint in run_dir
    (a killed run), which must be for `profile` (see train.resume_profile). The folder is locked throughout.
    `warm`: the corpus `profile.train.warm_start` names, trained on first (train.train).
    """
    t0 = started if started is not None else time.perf_counter()
    if resume and not (run_dir / "checkpoint.pt").is_file():
        raise UsageError(f"--resume {run_dir}: no checkpoint.pt there to continue")
    if not resume:
        try:
            run_dir.mkdir(parents=True)
        except FileExistsError:
            # a folder holding only its lock file is a run killed before its first checkpoint: taken as new
            # (the lock, taken below, still refuses it while another gencheck holds it)
            if {p.name for p in run_dir.iterdir()} - {".lock"}:
                raise GencheckError(f"run folder {run_dir} already exists: a new run never reuses one "
                                    "(to finish a killed run there, use --resume)") from None
        except OSError as exc:
            raise GencheckError(f"could not create run folder {run_dir}: {exc.strerror or exc}") from None
    with locked_dir(run_dir):
        return _stages(corpus, profile, device, run_dir, profile_name, t0, resume,
                       Stages(corpus=corpus_seconds) if corpus_seconds else Stages(), probes,
                       COMPILE_SAMPLES if compile_samples is None else compile_samples, evolution, warm)


def _stages(corpus: Corpus, profile: Profile, device: torch.device, run_dir: Path, profile_name: str,
            t0: float, resume: bool, stages: Stages, with_probes: bool,
            compile_samples: int = 0, with_evolution: bool = True, warm: Corpus | None = None) -> RunResult:
    fmt = corpus.spec.format
    log(f"corpus [bold]{escape(corpus.spec.name)}[/]: {len(corpus.documents)} documents, {corpus.chars():,} chars "
        f"(train/val/test {len(corpus.splits['train'])}/{len(corpus.splits['val'])}/{len(corpus.splits['test'])})")
    budget = profile.train.steps * profile.train.batch_size * profile.train.seq_len
    watch = (Watcher.for_run(corpus, device, profile.sample.seed, profile.sample.temperature, budget)
             if with_evolution else None)
    warm_watch = (Watcher.for_run(warm, device, profile.sample.seed, profile.sample.temperature, budget)
                  if with_evolution and warm is not None else None)
    with stages("train"):
        trained = train(corpus, profile, run_dir, device, resume=resume, sample=profile.sample, watch=watch,
                        warm=warm, warm_watch=warm_watch)
    if trained.evolution:
        from .scorecard import EvolutionView

        console.print(EvolutionView(trained.evolution, trained.evolution_seconds, trained.train_seconds))
    ck = Checkpoint.load(trained.checkpoint)
    model = ck.build_model(device)

    with stages("score"):
        log("scoring val and test bits per char")
        val_bpc = bits_per_char(model, corpus.texts("val"), ck.vocab, device)
        test_bpc = bits_per_char(model, corpus.texts("test"), ck.vocab, device)

    with stages("sample"):
        samples = generate(model, ck.vocab, profile.sample, device)
        write_jsonl(samples, run_dir / "samples.jsonl")
    workers = max(1, min(4, os.cpu_count() or 1))
    sample_verdicts, real_verdicts = [], []
    with stages("validate"):
        if fmt in FORMATS:
            log(f"validating {len(samples)} samples and {len(corpus.splits['test'])} real test documents as "
                f"{escape(fmt)}")
            sample_verdicts = validate_many([s.text for s in samples], fmt, workers=workers)
            real_verdicts = validate_many(corpus.texts("test"), fmt, workers=workers, timeout_s=30.0)
        else:
            log(f"no validator for format {escape(repr(fmt))}: the scorecard shows bits per char only")
    toolchain: dict = {}
    if judge_for(fmt) is not None and compile_samples > 0:
        with stages("compile"):
            toolchain = toolchain_summary(corpus, [s.text for s in samples], sample_verdicts, real_verdicts,
                                          compile_samples, workers)
    long_range = {}
    if with_probes:
        with stages("probes"):
            long_range = measure(corpus, model, ck.vocab, device, seed=ck.train_config.seed,
                                 samples=[s.text for s in samples], verdicts=sample_verdicts, log=log,
                                 look_texts=watch.probe_texts if watch is not None else ()).to_json()

    majority = majority_environment(corpus.texts("train")) if fmt == "latex" else ""
    sampled = score_closers([s.text for s in samples], fmt, majority)
    real = score_closers(corpus.texts("test"), fmt, majority)
    result = RunResult(
        run_id=run_dir.name,
        gencheck_version=__version__,
        git_commit=git_commit(),
        versions=versions(),
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        device=device_label(device),
        seed=ck.train_config.seed,
        profile=ck.profile_name or profile_name,
        corpus={"name": corpus.spec.name, "format": fmt, "content_hash": corpus.content_hash,
                "documents": len(corpus.documents), "chars": corpus.chars(), "license": corpus.spec.license,
                "splits": {k: len(v) for k, v in corpus.splits.items()}, "split_hash": split_hash(corpus)},
        model=model_fields(ck.model_config, trained),
        train={"steps": trained.steps, "seconds": trained.train_seconds, "chars_per_s": trained.chars_per_s,
               "batch_size": ck.train_config.batch_size, "seq_len": ck.train_config.seq_len,
               "lr": ck.train_config.lr, "precision": ck.train_config.precision, "history": trained.history,
               "seed": ck.train_config.seed,
               "data_seed": ck.train_config.seed if ck.train_config.data_seed is None else ck.train_config.data_seed,
               "shape_note": ck.profile_note,
               "memory_formed": memory_formed(trained.evolution, reference=long_range.get("look_reference")),
               **({"formed_against": long_range["look_reference"]} if long_range.get("look_reference") else {}),
               "evolution": trained.evolution, "evolution_seconds": round(trained.evolution_seconds, 1),
               "sample_max_chars": profile.sample.max_chars, "temperature": profile.sample.temperature,
               **({"warm_start": ck.warm} if ck.warm else {})},
        metrics={"val_bpc": val_bpc, "test_bpc": test_bpc,  # unigram: train counts, scored on each split
                 "unigram_val_bpc": unigram_bpc(corpus.texts("train"), corpus.texts("val"), ck.vocab),
                 "unigram_test_bpc": unigram_bpc(corpus.texts("train"), corpus.texts("test"), ck.vocab)},
        samples=VerdictSummary.of(sample_verdicts),
        calibration=VerdictSummary.of(real_verdicts),
        closers={"samples": closer_summary(sampled), "real": closer_summary(real),
                 "majority_baseline": {"env": majority, "right": sampled.majority_right, "total": sampled.total}},
    )
    result.probes = long_range
    if result.train.get("formed_against") and result.train.get("memory_formed"):
        from .scorecard import formed_caption

        log(escape(formed_caption(result.train["memory_formed"], result.train["formed_against"])))
    result.toolchain = toolchain
    result.stages = {k: round(v, 1) for k, v in stages.seconds.items()}
    result.wall_seconds = time.perf_counter() - t0
    result.save(run_dir / "results.json")
    return result


# --- toolchain judges (validators/toolchains.py) ---------------------------------------------------------

#: Samples (and real test documents) the toolchain judges by default: the first N. Measured on the `cpu`
#: profile's `latex` run (2 cores, 2 workers): 64 samples and the 13 test documents take about 15 s with
#: both cores busy, under 10 % of the run's ~410-450 s.
COMPILE_SAMPLES = 64


def opinion_counts(opinions: list, verdicts: list) -> dict:
    """How many of the judged texts the judge accepted, beside the validator: `judged` excludes opinions
    of None (tool absent, timeout, limits); `both` = judge ok and validator verdict valid ("renders as
    written"); `parses` (C) = pycparser's parse among the same texts."""
    from collections import Counter

    judged = [(o, v) for o, v in zip(opinions, verdicts) if o.ok is not None]
    out = {"texts": len(opinions), "judged": len(judged), "ok": sum(o.ok for o, _ in judged),
           "tolerant_ok": sum(bool(o.tolerant_ok) for o, _ in judged),
           "both": sum(bool(o.ok) and v.verdict == "valid" for o, v in judged),
           "kinds": dict(Counter(o.kind for o in opinions).most_common()),
           "seconds": round(sum(o.seconds for o in opinions), 2)}
    if any("parses" in v.syntax for v in verdicts):
        out["parses"] = sum(v.syntax.get("parses") is True for v in verdicts)
        out["parses_of"] = sum(v.verdict != "unjudged" for v in verdicts)
    examples = {}
    for o in opinions:
        if o.ok is False:
            examples.setdefault(o.kind, o.message)
    out["examples"] = examples
    return out


def toolchain_summary(corpus: Corpus, samples: list[str], sample_verdicts: list, real_verdicts: list,
                      n: int, workers: int) -> dict:
    """The judge's opinion on the first `n` samples and the first `n` real test documents ({} without a
    judge for the format; `available: false` when its tool is not installed, shown as n/a)."""
    from gencheck.validators import toolchains

    fmt = corpus.spec.format
    judge = toolchains.judge_for(fmt)
    if judge is None:
        return {}
    head = {"name": judge.name, "column": judge.column, "n": min(n, len(samples)), "available": toolchains.available(fmt),
            "version": toolchains.version(fmt)}
    if not head["available"]:
        log(f"no {judge.name} on this machine: the scorecard's {judge.column} row says n/a")
        return head
    ctx = toolchains.JudgeContext.of_corpus(corpus)
    real = corpus.texts("test")[:n]
    log(f"judging the first {min(n, len(samples))} samples and {len(real)} test documents with {judge.name}")
    ops = toolchains.judge_many(samples[:n] + real, fmt, ctx, workers=workers)
    k = min(n, len(samples))
    head["samples"] = opinion_counts(ops[:k], sample_verdicts[:k])
    head["real"] = opinion_counts(ops[k:], real_verdicts[:len(real)])
    return head
