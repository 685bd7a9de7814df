"""TeX Live as the final judge of a LaTeX text: does it compile?

The text is wrapped into a document (`latex_document`): a text with its own `\\documentclass` keeps its
own preamble; any other text gets the corpus's declared preamble (`[toolchain] latex_preamble` in the
corpus TOML; `DEFAULT_PREAMBLE` when none is declared) and `\\begin{document}`; a missing
`\\end{document}` is appended, so a sample is judged on what it wrote, not on where sampling stopped
(an environment still open at the end is then TeX's `\\begin{X} ... ended by \\end{document}`).

It is compiled with `pdflatex -draftmode -interaction=nonstopmode -halt-on-error -no-shell-escape` in a
fresh temporary directory, with an environment built from nothing: `openin_any=p` and `openout_any=p`
(Debian's TeX Live defaults to `openin_any=a`, which lets `\\openin` read /etc/passwd into the log),
`shell_escape=f`, HOME/TEXMFHOME/TEXMFVAR/TEXMFCONFIG inside the temporary directory, no TEXINPUTS or
TEXMFOUTPUT, no mktex* font generation, under `sandbox.Limits`.

The first TeX error is classified (`KINDS`). A character model invents macros, so when the first error
is an undefined control sequence or environment, a second pass without `-halt-on-error` tells whether
every error is of that kind (or none is left: an invented environment alone): `tolerant_ok` ("compiles
with undefined control sequences tolerated"), so
`\\begin`/`\\end` matching and braces are still judged by TeX itself.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile

from .sandbox import Limits, read_bounded, run_limited
from .toolchains import Opinion, version_line

NAME = "pdflatex"
DEFAULT_PREAMBLE = "\\documentclass{article}\n\\usepackage{amsmath,amssymb,amsthm}\n"
LIMITS = Limits(memory_mb=1536, cpu_s=20, wall_s=20.0, file_mb=64)

KINDS: dict[str, str] = {
    "ok": "pdflatex compiled the document without an error",
    "undefined_cs": "Undefined control sequence (a macro no loaded package defines; tolerated in 'tolerant_ok')",
    "undefined_env": "LaTeX Error: Environment X undefined (tolerated in 'tolerant_ok', like a macro)",
    "missing_dollar": "Missing $ inserted: math-only material outside math, or a paragraph break inside math",
    "runaway_argument": "Runaway argument: a paragraph or the file ended inside a macro's argument (a lost })",
    "env_mismatch": "\\begin{X} ended by \\end{Y}, or \\end{X} with no \\begin{X}",
    "env_unclosed": "\\begin{X} still open at \\end{document}",
    "brace": "Extra }, Missing } inserted, Too many }'s, Missing { inserted",
    "alignment": "Misplaced alignment tab character & or \\\\, Extra alignment tab",
    "math": "Display math should end with $$, Extra \\right, Missing \\right, Bad math environment delimiter",
    "missing_number": "Missing number, Illegal unit of measure: a length or count expected",
    "missing_file": "File X not found: a package, class or \\input file absent from this TeX Live (a "
                    "toolchain-only failure) or refused by openin_any=p",
    "preamble": "Missing \\begin{document}, Can be used only in preamble, Option clash",
    "no_end": "the job ended with no legal \\end",
    "capacity": "TeX capacity exceeded (e.g. grouping levels, input stack): a runaway recursion",
    "package_error": "a package or class raised an error",
    "other": "another TeX error (the message says which)",
    "timeout": "no answer within the wall-clock limit (the process group is killed)",
    "limits": "stopped at its memory, CPU or file-size limit",
    "absent": "no pdflatex on this machine: no opinion",
}
TOLERATED = frozenset({"undefined_cs", "undefined_env"})

_CLASSES: tuple[tuple[str, re.Pattern], ...] = tuple((k, re.compile(p)) for k, p in (
    ("undefined_cs", r"^Undefined control sequence"),
    ("undefined_env", r"^LaTeX Error: Environment .* undefined"),
    ("env_unclosed", r"^LaTeX Error: \\begin\{.*\} on input line \d+ ended by \\end\{document\}"),
    ("env_mismatch", r"^LaTeX Error: \\begin\{.*\} (?:on input line \d+ )?ended by \\end|"
                     r"^LaTeX Error: \\begin\{document\} ended by"),
    ("missing_dollar", r"^Missing \$ inserted"),
    ("runaway_argument", r"^Paragraph ended before .* was complete|^File ended while scanning|"
                         r"^Argument of .* has an extra \}|^Runaway"),
    ("brace", r"^Extra \}, or forgotten|^Missing \} inserted|^Too many \}'s|^Missing \{ inserted|^Extra \\else|"
              r"^Extra \\fi|^Extra \\or|^Extra \\endcsname"),
    ("alignment", r"^Misplaced alignment tab|^Misplaced \\|^Extra alignment tab|^Misplaced \\cr|^Misplaced \\noalign"),
    ("math", r"^Display math should end with|^Extra \\right|^Missing \\right|^Missing \\left|"
             r"^LaTeX Error: Bad math environment delimiter|^Double subscript|^Double superscript|"
             r"^Extra \\middle|^Missing delimiter"),
    ("missing_number", r"^Missing number|^Illegal unit of measure"),
    ("missing_file", r"^LaTeX Error: File .* not found|^I can't find file|^LaTeX Error: Unknown graphics extension"),
    ("preamble", r"^LaTeX Error: Missing \\begin\{document\}|^LaTeX Error: Can be used only in preamble|"
                 r"^LaTeX Error: Option clash"),
    ("capacity", r"^TeX capacity exceeded"),
    ("package_error", r"^(?:Fatal )?(?:Package|Class) \S+ Error"),
))
#: Put in front of the document's first line (no line break: TeX's line numbers stay) in the tolerant pass:
#: an environment no package defines is defined as empty when it begins, so LaTeX still matches its \\end.
_TOLERANT_HOOK = (r"\makeatletter\let\gencheck@begin\begin\def\begin#1{\@ifundefined{#1}{\expandafter\let"
                  r"\csname #1\endcsname\@empty\expandafter\let\csname end#1\endcsname\@empty}{}"
                  r"\gencheck@begin{#1}}\makeatother ")
_INPUT_LINE = re.compile(r"on input line (\d+)")
_ERROR_LINE = re.compile(r"^! (.*)$", re.M)
_TEX_LINE = re.compile(r"^l\.(\d+) (.*)$", re.M)
_LAST_CS = re.compile(r"(\\[A-Za-z@]+|\\.)\s*$")
_DOCCLASS = re.compile(r"^[ \t]*\\documentclass\b", re.M)
_BEGIN_DOC = re.compile(r"\\begin\s*\{document\}")
_END_DOC = re.compile(r"\\end\s*\{document\}")
_BODY = ("\\begin", "\\end", "\\item", "\\section", "\\subsection", "\\chapter", "\\paragraph", "\\maketitle")


def available() -> bool:
    return shutil.which(NAME) is not None


def version() -> str | None:
    """`pdfTeX 3.141592653-2.6-1.40.24 (TeX Live 2022/Debian)`, or None without pdflatex."""
    exe = shutil.which(NAME)
    return version_line([exe, "--version"]) if exe else None


def _opens_with_preamble(text: str) -> bool:
    """The text before its `\\begin{document}` is preamble material (commands and comments, no body)."""
    m = _BEGIN_DOC.search(text)
    if m is None:
        return False
    for line in text[:m.start()].splitlines():
        s = line.strip()
        if s and (not s.startswith(("\\", "%")) or s.startswith(_BODY)):
            return False
    return True


def latex_document(text: str, preamble: str = "") -> tuple[str, int]:
    """The document to compile and how many lines were put in front of the text (to give TeX's line
    numbers in the text's own terms). A `\\begin{document}` after body text is the text's own (an error
    TeX then reports), not the end of a preamble."""
    own = preamble.strip()
    has_class = bool(_DOCCLASS.search(text)) or bool(own and own in text[:4000])  # its own, or the declared one
    has_end = bool(_END_DOC.search(text))
    head = "" if has_class else (preamble or DEFAULT_PREAMBLE).rstrip("\n") + "\n"
    if not has_class and not _opens_with_preamble(text):
        head += "\\begin{document}\n"
    tail = ""
    if not has_end:
        sep = "" if not text or text.endswith("\n") else "\n"
        tail = sep + ("\\begin{document}\n" if has_class and not _BEGIN_DOC.search(text) else "") + "\\end{document}\n"
    return head + text + tail, head.count("\n")


def classify(message: str) -> str:
    for kind, pattern in _CLASSES:
        if pattern.search(message):
            return kind
    if message.startswith("Emergency stop") or "no legal \\end found" in message:
        return "no_end"
    return "other"


def _errors(log: str) -> list[tuple[str, str, int]]:
    """Every `! ...` error in a TeX log as (kind, message, TeX line or 0)."""
    out = []
    for m in _ERROR_LINE.finditer(log):
        msg = m.group(1).strip()
        if msg.startswith("==> Fatal error occurred"):
            continue
        lm = _TEX_LINE.search(log, m.end(), m.end() + 4000)
        kind = classify(msg)
        cs = _LAST_CS.search(lm.group(2)) if lm and kind == "undefined_cs" else None
        out.append((kind, f"{msg.rstrip('.')} {cs.group(1)}" if cs else msg, int(lm.group(1)) if lm else 0))
    return out


def _env(tmp: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp, "TEXMFHOME": f"{tmp}/texmf",
        "TEXMFVAR": f"{tmp}/texmf-var", "TEXMFCONFIG": f"{tmp}/texmf-config", "openin_any": "p",
        "openout_any": "p", "shell_escape": "f", "MKTEXTFM": "0", "MKTEXPK": "0", "MKTEXMF": "0",
        "MKTEXFMT": "0", "max_print_line": "1000", "error_line": "254", "half_error_line": "238", "LC_ALL": "C",
    }


def _compile(exe: str, tmp: str, strict: bool, limits: Limits):
    flags = ["-draftmode", "-interaction=nonstopmode", "-no-shell-escape"] + (["-halt-on-error"] if strict else [])
    done = run_limited([exe, *flags, "sample.tex"], tmp, _env(tmp), limits)
    log = f"{tmp}/sample.log"  # read back bounded: a log can be as long as the file-size limit
    return done, (read_bounded(log, limits.read_kb * 1024) if os.path.isfile(log) else done.stdout).decode("latin-1")


def opinion(text: str, preamble: str = "", limits: Limits = LIMITS, tolerant: bool = True,
            files: tuple[tuple[str, str], ...] = ()) -> Opinion:
    """pdflatex's verdict on `text` wrapped in `preamble` (see the module docstring); `files` are (name,
    text) pairs written beside it, such as the corpus's own preamble.tex."""
    exe = shutil.which(NAME)
    if exe is None:
        return Opinion(NAME, None, None, "absent", "no pdflatex on this machine", 0.0)
    doc, offset = latex_document(text, preamble)
    with tempfile.TemporaryDirectory(prefix="gencheck-tex-") as tmp:  # created 0700
        for name, body in files:
            if re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name) and name != "sample.tex":
                with open(f"{tmp}/{name}", "w", encoding="utf-8", errors="surrogateescape") as f:
                    f.write(body)
        with open(f"{tmp}/sample.tex", "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(doc)
        done, log = _compile(exe, tmp, True, limits)
        seconds = done.seconds
        if done.timed_out:
            return Opinion(NAME, None, None, "timeout", f"no answer within {limits.wall_s:g} s", seconds)
        errors = _errors(log)
        if done.returncode == 0 and not errors:
            return Opinion(NAME, None, True, "ok", "", seconds, tolerant_ok=True)
        if not errors:
            why = "stopped at its limits" if done.signalled else f"exit status {done.returncode}, no TeX error in the log"
            return Opinion(NAME, None, None, "limits" if done.signalled else "other",
                           f"{why} ({limits.memory_mb} MB, {limits.cpu_s} s CPU)", seconds)
        kind, msg, line = errors[0]
        tolerant_ok = False
        if tolerant and kind in TOLERATED:
            with open(f"{tmp}/sample.tex", "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(_TOLERANT_HOOK + doc)
            again, log2 = _compile(exe, tmp, False, limits)
            seconds += again.seconds
            rest = _errors(log2)
            tolerant_ok = (not again.timed_out and not again.signalled and (bool(rest) or again.returncode == 0)
                           and all(k in TOLERATED for k, _, _ in rest) and "no legal \\end" not in log2)
    msg = _INPUT_LINE.sub(lambda m: f"on line {int(m.group(1)) - offset}", msg)
    where = line - offset
    text_line = where if 1 <= where <= text.count("\n") + 1 else None  # else: a line of an input file
    located = (f"line {text_line}: " if text_line else f"preamble line {line}: " if 1 <= line <= offset
               else f"input line {line}: " if line else "")
    return Opinion(NAME, None, False, kind, f"{located}{msg}"[:300], seconds, line=text_line, tolerant_ok=tolerant_ok)


def judge(text: str, ctx) -> Opinion:
    """The `toolchains` entry point: the corpus's declared preamble from `ctx`."""
    return opinion(text, ctx.latex_preamble, files=ctx.files)
