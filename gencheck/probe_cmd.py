"""`gencheck probe --model-entry package.module:factory`: the probes of anyone's model, no training.

`gencheck validate` takes anyone's samples; this takes anyone's model. The model comes from a factory
(`gencheck/models/entry.py` says what it must provide; docs/models.md has an example); the corpus is built
as for `run`. It prints what needs no training: the closer probes on the test split beside the n-gram and
majority rows, the controlled-distance documents, effective context and bits/char per row; `--samples N`
also samples N documents and validates them. `--json` prints the same as JSON with a schema version.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.text import Text

from gencheck.progress import SafeConsole as Console

#: 1: entry, corpus, model, probes, samples
PROBE_SCHEMA_VERSION = 1


@dataclass
class ProbeReport:
    entry: str
    corpus: dict[str, Any]
    model: dict[str, Any]
    probes: dict[str, Any]
    samples: dict[str, Any]
    schema_version: int = PROBE_SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def _cwd_importable():
    """The working folder on sys.path for the one import of `--model-entry` (its module, and whatever that
    imports meanwhile), so a user's `mymodels.py` beside them is found; taken off again at once, so no
    later import (`ctypes`, `resource`, the validators' parsers) is looked for in that folder."""
    here = os.getcwd()
    added = here not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        yield
    finally:
        if added and here in sys.path:
            sys.path.remove(here)


def probe_command(args) -> int:
    from .config import SampleConfig, check_sample
    from .corpus import build, resolve_spec
    from .longrange import measure
    from .models.entry import EntryModel, load_entry
    from .progress import log
    from .train import pick_device, use_threads

    device = pick_device(args.device)
    use_threads(getattr(args, "threads", None))
    sample_cfg = replace(SampleConfig(), num_samples=args.samples, seed=args.seed) if args.samples else None
    if sample_cfg is not None:
        check_sample(sample_cfg)
    with _cwd_importable():
        entry = load_entry(args.model_entry)  # runs that module's code, by design (docs/models.md)
    model = EntryModel(entry).to(device)
    model.eval()
    desc = model.describe()
    corpus = build(resolve_spec(args.corpus, args.format, args.allow_dir), offline=args.offline, mirrors=args.mirror, log=log)
    log(f"model {escape(args.model_entry)}: {len(model.vocab.chars) - 2} characters, {desc.params:,} parameters")
    unknown = _unknown_share(corpus.texts("test"), model.vocab)
    if unknown:
        log(f"[yellow]{unknown:.2%} of the test split's characters are not among the model's: fed as its "
            "unknown character[/]")
    long_range = measure(corpus, model, model.vocab, device, seed=args.seed, log=log)
    samples = _sampled(model, corpus.spec.format, sample_cfg, device) if sample_cfg else {}
    report = ProbeReport(args.model_entry,
                         {"name": corpus.spec.name, "format": corpus.spec.format, "content_hash": corpus.content_hash},
                         {"params": desc.params, "flops_per_char": desc.flops_per_char or None,
                          "context_limit": desc.context_limit, "vocab": len(model.vocab.chars) - 2},
                         long_range.to_json(), samples)
    from .scorecard import ProbesView

    out = Console(stderr=args.json)
    limit = "unbounded" if desc.context_limit is None else f"{desc.context_limit:,} characters"
    out.print(Group(Text(f"gencheck probe · {args.model_entry} · {corpus.spec.name} · {desc.params:,} parameters · "
                         f"context limit {limit}", style="bold"),
                    ProbesView(report.probes, report.model)))
    if samples:
        out.print(f"samples: {samples['valid']} of {samples['rated']} judged non-trivial valid as "
                  f"{escape(corpus.spec.format)} ({samples['count']} sampled, {samples['trivial']} trivial)",
                  highlight=False)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    return 0


def _unknown_share(texts: list[str], vocab) -> float:
    known = set(vocab.chars)
    total = sum(len(t) for t in texts)
    return sum(1 for t in texts for c in t if c not in known) / total if total else 0.0


def _sampled(model, fmt: str, cfg, device) -> dict[str, Any]:
    """N samples of the model, validated as the corpus's format where a validator exists (the counts of
    results.json's `samples`)."""
    from gencheck.validators import FORMATS, validate_many

    from .results import VerdictSummary
    from .sample import generate

    texts = [s.text for s in generate(model, model.vocab, cfg, device)]
    verdicts = validate_many(texts, fmt, workers=max(1, min(4, os.cpu_count() or 1))) if fmt in FORMATS else []
    summary = VerdictSummary.of(verdicts)
    return {"count": len(texts), "judged": summary.judged, "rated": summary.rated, "trivial": summary.trivial or 0,
            "counts": summary.counts, "valid": summary.counts.get("valid", 0)}
