"""When does a model's long-range memory form? The headline probe of saved checkpoints of one run, against
the 20-gram, on the whole test split.

    python benchmarks/formation.py CHECKPOINT [CHECKPOINT ...] [--corpus latex-stacks] [--order 20]
        [--device cpu] [--json out.json]

Give it copies of one run's `checkpoint.pt` taken as it trained (the run keeps only its latest; copy it at
each evaluation, e.g. with a shell loop). For each checkpoint, in order of steps: characters seen, and per
distance bucket the model's accuracy on the format's headline probe (`latex_end` for LaTeX) beside the
n-gram's on the same events, ▲ where the paired difference's 95 % interval (bootstrap over units of text,
`gencheck.stats`) is above 0, as the scorecard marks it. The last line: per bucket, the characters from
which ▲ held at every later checkpoint. The run's own evolution looks give the same answer on a slice of
test (`train.memory_formed`); this reads the whole split, to check them. Nothing is timed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from gencheck import probes as pr
from gencheck import stats as st
from gencheck.corpus import build, resolve_spec, stream
from gencheck.longrange import HEADLINE, baseline_train
from gencheck.models.ngram import NGramModel
from gencheck.ngram import NGram
from gencheck.progress import print_rows
from gencheck.scorecard import si_chars
from gencheck.train import Checkpoint

ABOVE = "▲"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--corpus", default="latex-stacks")
    ap.add_argument("--order", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    corpus = build(resolve_spec(args.corpus), offline=True)
    cks = sorted((Checkpoint.load(p) for p in args.checkpoints), key=lambda c: c.step)
    vocab = cks[0].vocab
    if any(c.vocab.chars != vocab.chars or c.corpus_hash != corpus.content_hash for c in cks):
        sys.exit("error: the checkpoints are not of one run on this corpus (vocabulary or corpus differs)")
    probe, test = HEADLINE[corpus.spec.format], corpus.texts("test")
    ngram = NGram.fit(stream(baseline_train(corpus), vocab), args.order, vocab.size, vocab.sep_id)
    reference = st.aggregate(pr.probe_outcomes(probe, test, vocab, pr.scorer_for(NGramModel(ngram), device)),
                             probe, f"{args.order}-gram")
    del ngram
    rows, marks = [], []
    for ck in cks:
        model = ck.build_model(device).eval()
        with torch.no_grad():
            row = st.aggregate(pr.probe_outcomes(probe, test, vocab, pr.model_scorer(model, device)), probe, "model")
        cells, _ = st.paired_difference(row, reference)
        above = [not d.too_few and d.ci[0] > 0 for d in cells]
        marks.append(above)
        chars = ck.step * ck.train_config.batch_size * ck.train_config.seq_len
        rows.append({"step": ck.step, "chars": chars, "buckets": {
            c.label: {"events": c.events, "model": None if c.too_few else round(c.accuracy, 4),
                      "reference": None if r.too_few else round(r.accuracy, 4), "above": a}
            for c, r, a in zip(row.cells, reference.cells, above) if c.events}})
    labels = [b for b in st.BUCKET_LABELS if any(b in r["buckets"] for r in rows)]
    formed = {}
    for i, label in enumerate(st.BUCKET_LABELS):
        if label not in labels:
            continue
        at = None
        for r, above in zip(reversed(rows), reversed(marks)):
            if not above[i]:
                break
            at = r["chars"]
        formed[label] = at

    def cell(b: dict | None) -> str:
        if b is None or b["model"] is None:
            return "—"
        return f"{100 * b['model']:.0f}{ABOVE if b['above'] else ''} · {100 * b['reference']:.0f}"

    print_rows(f"{probe} on {len(test)} test documents of {args.corpus}, % right: model · {args.order}-gram "
               f"({ABOVE}: paired 95 % interval above 0)", ("step", "chars", *labels),
               [[f"{r['step']:,}", si_chars(r["chars"]), *(cell(r["buckets"].get(b)) for b in labels)] for r in rows],
               rows)
    print("above from then on: " + ", ".join(f"{b} at {si_chars(v)}" if v else f"{b} never" for b, v in formed.items()))
    if args.json:
        args.json.write_text(json.dumps({"probe": probe, "corpus": args.corpus, "order": args.order, "rows": rows,
                                         "formed": formed}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
