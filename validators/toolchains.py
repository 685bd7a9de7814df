"""Real toolchains as the final judge: does the text compile (pdflatex, gcc) or render as written (mistune)?

A judge gives an `Opinion` beside the validator's verdict and never changes it. Each judge is optional at
run time: with its tool absent the opinion is `ok=None` (kind `absent`), shown as n/a, never as a failure.

    latex     tex_judge     pdflatex -draftmode, openin_any=p/openout_any=p, no shell escape
    c         gcc_judge     gcc -fsyntax-only with the corpus's flags and stubs for missing headers
    markdown  render_judge  mistune 3 and markdown-it-py render; their block structures must agree

`judge_many` runs a judge over many texts in the supervised validator pool (`validate_many`): each text
in a worker process with the pool's time limit, and each toolchain child under `sandbox.Limits` in its
own temporary directory. The pool runs "formats"; `register_judge_formats` (imported by the workers as
the pool's setup module, `gencheck.validators.judges`) registers one `toolchain-<format>` per judge whose
report carries the opinion, so the judges reuse the pool's supervision instead of a second one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

#: The opinion kinds every judge may give besides its own (see each judge module's KINDS).
COMMON_KINDS = ("ok", "timeout", "limits", "absent", "crash")


@dataclass(frozen=True)
class Opinion:
    """One judge on one text. ok: True (compiles / renders as written), False (it does not: `kind` and
    `message` say why), None (no opinion: the tool is absent, timed out or hit its limits)."""

    name: str
    version: str | None
    ok: bool | None
    kind: str
    message: str
    seconds: float
    line: int | None = None  # the text's own line of the first error, when the tool locates it
    tolerant_ok: bool | None = None  # LaTeX: compiles with undefined control sequences tolerated

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "Opinion":
        return cls(**d)


@dataclass(frozen=True)
class JudgeContext:
    """What a corpus declares for its judge (`[toolchain]` in its TOML): the LaTeX preamble for texts
    without their own, gcc flags (-D, -std, -I inside the tree), and the folder of a file being validated
    (where its `#include "x.h"` neighbours are)."""

    latex_preamble: str = ""
    c_flags: tuple[str, ...] = ()
    include_dir: str | None = None
    files: tuple[tuple[str, str], ...] = ()  # (file name, text) written beside each compile (\\input{preamble})

    def to_json(self) -> dict:
        return {"latex_preamble": self.latex_preamble, "c_flags": list(self.c_flags), "include_dir": self.include_dir,
                "files": [list(f) for f in self.files]}

    @classmethod
    def from_json(cls, d: dict) -> "JudgeContext":
        return cls(d.get("latex_preamble", ""), tuple(d.get("c_flags", ())), d.get("include_dir"),
                   tuple((str(n), str(t)) for n, t in d.get("files", ())))

    @classmethod
    def of_corpus(cls, corpus) -> "JudgeContext":
        """The context a corpus declares in `[toolchain]` (its `latex_inputs` read from its documents)."""
        decl = corpus.spec.toolchain
        by_path = {d.path: d.text for d in corpus.documents}
        files = tuple((p.rsplit("/", 1)[-1], by_path[p]) for p in decl.latex_inputs if p in by_path)
        return cls(decl.latex_preamble, tuple(decl.c_flags), None, files)


@dataclass(frozen=True)
class Judge:
    format: str
    name: str  # the tool, as the scorecard names it
    column: str  # "compiles" or "renders"
    module: str  # gencheck.validators.<module> with available(), version(), KINDS and judge(text, ctx)


JUDGES: dict[str, Judge] = {
    "latex": Judge("latex", "pdflatex", "compiles", "tex_judge"),
    "c": Judge("c", "gcc", "compiles", "gcc_judge"),
    "markdown": Judge("markdown", "mistune", "renders", "render_judge"),
}


def _module(judge: Judge):
    import importlib

    return importlib.import_module(f"gencheck.validators.{judge.module}")


def judge_for(fmt: str) -> Judge | None:
    return JUDGES.get(fmt)


def available(fmt: str) -> bool:
    """Whether the format has a judge and its tool is installed here."""
    j = JUDGES.get(fmt)
    return j is not None and _module(j).available()


def version(fmt: str) -> str | None:
    j = JUDGES.get(fmt)
    return _module(j).version() if j is not None else None


def version_line(cmd: Sequence[str]) -> str | None:
    """The first line a tool prints for `--version`, or None when it cannot run."""
    try:
        out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.splitlines()[0].strip() if out.strip() else None


def confinement_notice(fmt: str) -> str | None:
    """A line saying the format's compiler runs unconfined here (no Landlock), or None: gcc is confined
    to the system's files and its folder (gcc_judge.py); the judges never degrade silently."""
    from . import confine

    why = confine.unavailable() if fmt == "c" else None
    return None if why is None else (f"gcc runs unconfined: {why}; only the lexical #include guard keeps a "
                                     "text from making it read the machine's files")


def judge(text: str, fmt: str, ctx: JudgeContext = JudgeContext()) -> Opinion:
    """The judge's opinion on one text, in this process (no pool time limit; see `judge_many`). The
    version is left None: `judge_many` and the commands ask the tool once, not per text."""
    j = JUDGES.get(fmt)
    if j is None:
        raise ValueError(f"no toolchain judge for format {fmt!r} (judges: {', '.join(JUDGES)})")
    return _module(j).judge(text, ctx)


# --- through the supervised pool -------------------------------------------------------------------

SETUP_MODULE = "gencheck.validators.judges"


def pool_format(fmt: str) -> str:
    return f"toolchain-{fmt}"


def register_judge_formats() -> None:
    """Register `toolchain-<fmt>` for each judge: its check decodes {"text", "ctx"} and reports the
    opinion as one warning finding (kind, message, line) and syntax {"ok", "tolerant_ok"}."""
    from . import FORMATS, register_format
    from .base import WARNING, Finding, Report

    for fmt, j in JUDGES.items():
        name = pool_format(fmt)
        if name in FORMATS:
            continue

        def check(payload: str, fmt: str = fmt) -> Report:
            d = json.loads(payload)
            op = judge(d["text"], fmt, JudgeContext.from_json(d["ctx"]))
            f = Finding(op.kind, op.message, op.line or 0, 0, severity=WARNING)  # line 0: not located
            return Report((f,), {"ok": op.ok, "tolerant_ok": op.tolerant_ok})

        register_format(name, (), f"{j.name} as the judge of {fmt} (an opinion, never a verdict)",
                        kinds=_kinds(j))(check)


def _kinds(j: Judge) -> dict[str, str]:
    kinds = dict(_module(j).KINDS)
    kinds.setdefault("crash", "the judge itself raised or its worker died (no opinion)")
    return kinds


def judge_many(texts: Sequence[str], fmt: str, ctx: JudgeContext = JudgeContext(), *, workers: int = 2,
               timeout_s: float = 30.0, progress: Callable[[int], None] | None = None) -> list[Opinion]:
    """The judge's opinion on each text, in order, in the supervised pool. A text the pool could not judge
    (its time limit, a crash) gets ok=None with the pool's reason; nothing raises for a text."""
    from .base import UNJUDGED
    from .pool import validate_many

    j = JUDGES[fmt]
    mod = _module(j)
    ver = mod.version()
    if not mod.available():
        return [Opinion(j.name, None, None, "absent", f"no {j.name} on this machine", 0.0) for _ in texts]
    notice = confinement_notice(fmt)
    if notice is not None:
        print(f"note: {notice}", file=sys.stderr)
    payloads = [json.dumps({"text": t, "ctx": ctx.to_json()}, ensure_ascii=False) for t in texts]
    got = validate_many(payloads, pool_format(fmt), workers=workers, timeout_s=timeout_s, memory_mb=4096,
                        max_chars=4_000_000, setup_module=SETUP_MODULE, progress=progress)
    out = []
    for v in got:
        f = v.findings[0] if v.findings else None
        if v.verdict == UNJUDGED or f is None:
            out.append(Opinion(j.name, ver, None, f.kind if f else "crash", f.message if f else "", v.seconds))
            continue
        ok = v.syntax.get("ok")
        out.append(Opinion(j.name, ver, ok, f.kind, f.message, v.seconds, f.line or None, v.syntax.get("tolerant_ok")))
    return out
