"""The shape of results.json, checked when a file is read, so that a damaged or hand-edited file is one line
naming the file and the field instead of a traceback in whichever table first reads it.

A shape is a small function `check(value, where)` that raises `ShapeError(where, expected)`; `obj`, `list_of`
and `dict_of` build them from the fields' shapes. Only the fields the commands read are shaped; an object may
carry more (a newer gencheck's additions) unless it is `closed` (it becomes a dataclass). Numbers may be NaN
or infinite (a bits/char with nothing to score is NaN); counts are whole numbers. The probes' own structure
(rows, buckets, cells) is shaped too: the scorecard, grid, compare and check all read it.
"""

from __future__ import annotations

from typing import Any, Callable

Shape = Callable[[Any, str], None]


class ShapeError(ValueError):
    """A value of the wrong shape: `where` is its path in the file (`probes.real.latex_end.model.reach`)."""

    def __init__(self, where: str, expected: str, value: Any) -> None:
        shown = repr(value)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        super().__init__(f"{where or 'the file'} must be {expected}, not {shown}")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def number(v: Any, where: str) -> None:
    if not _is_number(v):
        raise ShapeError(where, "a number", v)


def whole(v: Any, where: str) -> None:
    if not isinstance(v, int) or isinstance(v, bool):
        raise ShapeError(where, "a whole number", v)


def bounded(lo: int, hi: int) -> Shape:
    """A whole number in [lo, hi]: a count a command multiplies or allocates by (a batch size of 10**400 would
    overflow a float, a step of -5 would plot before the start)."""
    def check(v: Any, where: str) -> None:
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise ShapeError(where, f"a whole number from {lo:,} to {hi:,}", v)
    return check


def finite(v: Any, where: str) -> None:
    """A finite number (a figure that is an amount, like characters seen: NaN or infinity means damage)."""
    if not _is_number(v) or not float("-inf") < float(v) < float("inf"):
        raise ShapeError(where, "a finite number", v)


#: Counts of steps, characters, batches: up to 10**15 (a million times any run's figures).
COUNT = bounded(0, 10**15)


def text(v: Any, where: str) -> None:
    if not isinstance(v, str):
        raise ShapeError(where, "a string", v)


def boolean(v: Any, where: str) -> None:
    if not isinstance(v, bool):
        raise ShapeError(where, "true or false", v)


def anything(v: Any, where: str) -> None:  # noqa: ARG001 -- kept for the record, never read by a command
    return None


def optional(shape: Shape) -> Shape:
    """The shape, or null."""
    def check(v: Any, where: str) -> None:
        if v is not None:
            shape(v, where)
    return check


def either(*shapes: Shape, expected: str) -> Shape:
    def check(v: Any, where: str) -> None:
        for shape in shapes:
            try:
                shape(v, where)
                return
            except ShapeError:
                continue
        raise ShapeError(where, expected, v)
    return check


def list_of(item: Shape, length: int | None = None) -> Shape:
    def check(v: Any, where: str) -> None:
        if not isinstance(v, list) or (length is not None and len(v) != length):
            raise ShapeError(where, f"a list of {length}" if length is not None else "a list", v)
        for i, x in enumerate(v):
            item(x, f"{where}[{i}]")
    return check


def tuple_of(*items: Shape) -> Shape:
    """A list of exactly these shapes, in order (a row of a table)."""
    def check(v: Any, where: str) -> None:
        if not isinstance(v, list) or len(v) != len(items):
            raise ShapeError(where, f"a list of {len(items)}", v)
        for i, (x, item) in enumerate(zip(v, items)):
            item(x, f"{where}[{i}]")
    return check


def dict_of(value: Shape) -> Shape:
    """An object with any keys, each value of one shape."""
    def check(v: Any, where: str) -> None:
        if not isinstance(v, dict):
            raise ShapeError(where, "an object", v)
        for k, x in v.items():
            value(x, f"{where}.{k}" if where else k)
    return check


def obj(required: dict[str, Shape] | None = None, optional_fields: dict[str, Shape] | None = None,
        closed: bool = False) -> Shape:
    """An object with these fields (required ones must be there); `closed`: no others."""
    required, optional_fields = required or {}, optional_fields or {}

    def check(v: Any, where: str) -> None:
        if not isinstance(v, dict):
            raise ShapeError(where, "an object", v)
        for k, shape in required.items():
            path = f"{where}.{k}" if where else k
            if k not in v:
                raise ShapeError(path, "present", "nothing")
            shape(v[k], path)
        for k, shape in optional_fields.items():
            if k in v:
                shape(v[k], f"{where}.{k}" if where else k)
        if closed:
            extra = sorted(set(v) - set(required) - set(optional_fields))
            if extra:
                raise ShapeError(f"{where}.{extra[0]}" if where else extra[0], "a known field", v[extra[0]])
    return check


PAIR = list_of(number, 2)
_CELL_FIELDS = {"documents": whole, "units": whole, "accuracy": optional(number), "ci95": optional(PAIR), "mean_bits": optional(number),
                "bits_ci95": optional(PAIR)}
CELL = obj({"bucket": text, "events": whole, "too_few": boolean}, _CELL_FIELDS)
OVERALL = obj({}, {"bucket": text, "events": whole, "too_few": boolean, **_CELL_FIELDS})
PROBE_ROW = obj({"buckets": list_of(CELL)},
                {"probe": text, "scorer": text, "reach": optional(text), "overall": optional(OVERALL),
                 "chance": optional(either(number, dict_of(optional(number)), expected="a number or an object")),
                 "above_baselines": list_of(text), "passes": list_of(text), "trivial": boolean, "answer": anything, "versus": anything})
CONTEXT = obj({}, {"effective_context": optional(number), "full_bpc": optional(number), "bpc": dict_of(optional(number))})
#: The 20-gram's headline probe on the evolution looks' slice of test (real text): what memory_formed leaves.
LOOK_REFERENCE = obj({"row": text, "probe": text, "probe_buckets": dict_of(list_of(whole, 2))}, {"chars": whole})
PROBES = obj({}, {
    "format": text, "rows": list_of(text), "headline": optional(text), "buckets": list_of(text),
    "real": dict_of(dict_of(PROBE_ROW)), "controlled": dict_of(dict_of(PROBE_ROW)),
    "controlled_info": obj({}, {"openers": list_of(text), "chance": optional(number), "skipped": text}),
    "context": dict_of(optional(CONTEXT)),
    "sampled": obj({}, {"wrong_kinds": list_of(text),
                        "buckets": list_of(obj({"bucket": text, "closes": whole, "wrong": whole, "too_few": boolean},
                                               {"error_rate": optional(number)}))}),
    "ngrams": anything, "seconds": anything,
    "drill": obj({}, {"d_train": whole, "level": whole, "beyond_training": list_of(text),
                      "by_depth": dict_of(PROBE_ROW)}),
    "look_reference": LOOK_REFERENCE,
})
#: A suite point's record (suite.stamp): which task of which suite version, at what budget and rate, and the
#: validation figures its learning rate was chosen by; empty for a run outside a suite.
SUITE = obj({}, {"version": text, "task": text, "budget": text, "role": text, "lr": number, "family": text,
                 "swept": boolean, "validation": obj({}, {"score": optional(number), "bpc": optional(number),
                                                       "buckets": dict_of(list_of(whole, 2)),
                                                       "chance": dict_of(number), "chars": whole})})
CLOSERS = obj({}, {k: optional(number) for k in ("right", "wrong", "stray", "total", "accuracy", "opened", "chars")})
JUDGED = obj({}, {**{k: number for k in ("texts", "judged", "ok", "tolerant_ok", "both", "seconds", "parses",
                                          "parses_of")},
                  "kinds": dict_of(whole), "examples": dict_of(text)})
TOOLCHAIN = obj({}, {"name": text, "column": text, "n": whole, "available": boolean, "version": optional(text),
                     "samples": optional(JUDGED), "real": optional(JUDGED)})
HISTORY_ROW = obj({"step": COUNT}, {"train_bpc": optional(number), "val_bpc": optional(number),
                                    "seconds": optional(number)})
EVOLUTION_ROW = obj({"step": COUNT}, {"chars_seen": finite, "sample": text, "val_bpc": optional(number),
                                      "valid": optional(number), "probe": text, "probe_accuracy": optional(number),
                                      "probe_buckets": dict_of(list_of(whole, 2)), "probe_chance": number,
                                      "probe_floor": dict_of(number), "trained_on": text})
#: Texts per verdict: `valid`, `viable_prefix`, `invalid`, `trivial`, `unjudged`. `trivial` is missing from results
#: made before the verdict existed (they load; the scorecard shows their trivial row as "—"), so no key is required.
VERDICT_COUNTS = dict_of(whole)
VERDICTS = obj({}, {"count": whole, "counts": VERDICT_COUNTS,
                    "top_errors": list_of(obj({"kind": text, "example": text, "count": whole})),
                    "mean_seconds": number, "parses": optional(whole)}, closed=True)
RESULTS = obj(
    {"run_id": text, "gencheck_version": text, "git_commit": optional(text), "created": text, "device": text,
     "seed": whole, "profile": text,
     "corpus": obj({"name": text, "content_hash": text},
                   {"format": text, "documents": whole, "chars": whole, "license": text, "splits": dict_of(whole),
                    "split_hash": text}),
     "model": obj({"kind": text, "layers": whole, "hidden": whole, "params": whole},
                  {"flops_per_char": whole, "context_limit": optional(whole), "context": whole, "heads": whole}),
     "train": obj({"steps": COUNT, "seconds": number, "chars_per_s": number},
                  {"batch_size": COUNT, "seq_len": COUNT, "lr": number, "precision": text, "sample_max_chars": COUNT,
                   "seed": COUNT, "data_seed": COUNT,
                   "history": list_of(HISTORY_ROW),
                   "temperature": number, "evolution": list_of(EVOLUTION_ROW), "evolution_seconds": number,
                   "shape_note": text, "memory_formed": dict_of(optional(whole)), "formed_against": LOOK_REFERENCE,
                   "warm_start": obj({"corpus": text, "steps": COUNT, "chars": COUNT},
                                     {"content_hash": text, "look": obj({}, {
                                         "probe": text, "probe_accuracy": optional(number),
                                         "probe_buckets": dict_of(list_of(whole, 2)), "probe_chance": number})})}),
     "metrics": dict_of(optional(number)), "samples": VERDICTS, "calibration": VERDICTS,
     "closers": obj({}, {"samples": optional(CLOSERS), "real": optional(CLOSERS),
                         "majority_baseline": optional(obj({}, {"env": optional(text), "right": number,
                                                                "total": number}))}),
     "schema_version": whole},
    {"wall_seconds": number, "versions": dict_of(optional(text)), "probes": PROBES, "stages": dict_of(number),
     "toolchain": TOOLCHAIN, "suite": SUITE},
    closed=True)
