"""Checks on the fields of a corpus declaration (corpora/*.toml, or one somebody hands you).

A declaration can only describe data: each field has a type, a name is a plain file name, and a field that
reaches a program or a path (gcc flags, the files put beside a LaTeX compile, a document path template) has
an allowed form. Everything else is refused when the declaration is loaded, with one line naming the file
and the field, before anything is fetched, built or compiled.
"""

from __future__ import annotations

import math
import os
import re
import string
import time
from pathlib import Path, PurePosixPath
from typing import Any

from .fsutil import UsageError

#: A regex, or a string a regex is made of, may be this long at most (a TOML string can be any length).
MAX_TEXT = 1 << 16


class DeclarationError(UsageError):
    """A declaration that cannot be used as written (exit 2): one line naming the file and the field."""


_WORDS = {"str": "a string", "int": "a whole number", "float": "a finite number",
          "tuple[str, ...]": "a list of strings", "tuple[float, float, float]": "a list of three numbers"}


def typed(path: Path, field: str, value: Any, annotation: str) -> Any:
    """`value` as the declared field type (a list becomes a tuple, a whole number where a fraction belongs a
    float); a DeclarationError naming the field when it is of another type (true is no number here)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation == "str" and isinstance(value, str):
        return value
    if annotation == "int" and number and isinstance(value, int):
        return value
    if annotation == "float" and number and math.isfinite(value):
        return float(value)
    if annotation == "tuple[str, ...]" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    if (annotation == "tuple[float, float, float]" and isinstance(value, list) and len(value) == 3
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        return tuple(float(v) for v in value)
    want = _WORDS.get(annotation, annotation)
    raise DeclarationError(f"{path}: {field} must be {want}, not {_show(value)}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def table(path: Path, field: str, value: Any) -> dict:
    """A TOML table ([filters], one [[sources]] entry): a DeclarationError naming it when it is not one."""
    if not isinstance(value, dict):
        raise DeclarationError(f"{path}: {field} must be a table ([{field}]), not {_show(value)}")
    return value


def in_range(path: Path, field: str, value: float, lo: float, hi: float = math.inf) -> None:
    if not lo <= value <= hi:
        bound = f"at least {lo:g}" if hi == math.inf else f"between {lo:g} and {hi:g}"
        raise DeclarationError(f"{path}: {field} must be {bound}, not {value!r}")


def plain_name(path: Path, field: str, name: str) -> str:
    """A name that becomes part of a file name under $GENCHECK_HOME: no folders, no '..', not absolute."""
    if (not name or name in (".", "..") or any(c in name for c in "/\\\0") or Path(name).is_absolute()
            or len(name) > 200):
        raise DeclarationError(f"{path}: {field} {_show(name)} is not a plain name (no folders, no '..', "
                               "not empty, at most 200 characters)")
    return name


#: The most seconds a declaration's regexes may run over one member (or over every document path): a
#: pattern such as `(a|aa)+` backtracks exponentially on a line of a's, and `re` cannot be interrupted.
REGEX_SECONDS = 10.0


def regex(path: Path | str, field: str, pattern: str):
    """The compiled pattern (the `regex` package, whose matches take a time limit; its default V0 syntax is
    `re`'s), or a DeclarationError naming the field (an invalid or oversized regex)."""
    import regex as rx

    if len(pattern) > MAX_TEXT:
        raise DeclarationError(f"{path}: {field} is longer than {MAX_TEXT} characters")
    try:
        return rx.compile(pattern)
    except (rx.error, OverflowError, RecursionError, ValueError) as exc:
        raise DeclarationError(f"{path}: {field} is not a valid regex: {exc}") from None


class RegexClock:
    """One time budget shared by every match of a declaration's regexes over one piece of work (a member,
    the document paths): past it, a DeclarationError naming the field and the work, never a hung build."""

    def __init__(self, what: str, seconds: float | None = None):
        self.what, self.seconds = what, REGEX_SECONDS if seconds is None else seconds
        self.end = time.monotonic() + self.seconds

    def run(self, field: str, compiled, method: str, text: str):
        """`compiled.<method>(text)` within what is left of the budget."""
        left = self.end - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            return getattr(compiled, method)(text, timeout=left)
        except TimeoutError:
            raise DeclarationError(f"{self.what}: {field} ran past {self.seconds:g} s (a pattern that backtracks, "
                                   "such as (a|aa)+; make its alternatives exclusive)") from None


def path_template(path: Path, field: str, template: str) -> str:
    """A document path template: text with the fields {name} and {member}, and nothing else (no attribute,
    index, conversion or format spec, which str.format would evaluate)."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise DeclarationError(f"{path}: {field} {_show(template)} is not a path template: {exc}") from None
    for _, name, spec, conversion in parts:
        if name is not None and (name not in ("name", "member") or spec or conversion):
            raise DeclarationError(f"{path}: {field} {_show(template)} may use only {{name}} and {{member}}")
    return template


def hex_digest(path: Path, field: str, value: str) -> str:
    """A sha256 pin: empty (not pinned) or 64 lower-case hexadecimal digits."""
    if value and not re.fullmatch(r"[0-9a-f]{64}", value):
        raise DeclarationError(f"{path}: {field} {_show(value)} is not a sha256 (64 hexadecimal digits)")
    return value


def latex_inputs(path: Path, names: tuple[str, ...]) -> tuple[str, ...]:
    """Corpus documents put beside each LaTeX compile: relative document paths whose file name is plain
    (it is the name written in the compile's folder), never sample.tex itself."""
    for name in names:
        pure = PurePosixPath(name)
        if (pure.is_absolute() or ".." in pure.parts or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", pure.name)
                or pure.name == "sample.tex"):
            raise DeclarationError(f"[toolchain] latex_inputs: {_show(name)} in {path} is not a relative document "
                                   "path with a plain file name (letters, digits, _ . -; not sample.tex)")
    return names


def latex_preamble(path: Path, text: str) -> str:
    """TeX source put in front of a sample without its own preamble: it may load packages; it is compiled
    in the same sandbox as the sample (tex_judge), so only its size and a NUL are refused here."""
    if len(text) > MAX_TEXT or "\0" in text:
        raise DeclarationError(f"{path}: [toolchain] latex_preamble must be text of at most {MAX_TEXT} characters")
    return text


def c_flags(path: Path, flags: tuple[str, ...], folders: list[Path]) -> tuple[str, ...]:
    """The declared gcc flags, each of an allowed form (gcc_judge.c_flag_problem); an `-I` folder is read
    relative to the declaration and must lie inside one of the corpus's own folders (`folders`: its `dir`
    sources), and is returned absolute, so gcc finds it from its temporary folder and may read only it."""
    from gencheck.validators.gcc_judge import c_flag_problem

    out = []
    for flag in flags:
        if flag.startswith("-I") and len(flag) > 2:
            folder = (path.parent / flag[2:]).resolve()
            if not any(folder == root or root in folder.parents for root in folders):
                where = "a folder of the corpus's dir sources" if folders else "a dir source (this corpus has none)"
                raise DeclarationError(f"{path}: [toolchain] c_flags: {flag!r} must name {where}")
            flag = f"-I{folder}"
        why = c_flag_problem(flag)
        if why is not None:
            raise DeclarationError(f"{path}: [toolchain] c_flags: {why}")
        out.append(flag)
    return tuple(out)


def dir_source(path: Path, folder: str, allow_dirs=()) -> Path:
    """A `dir` source's folder, resolved from the declaration's folder after symlinks; it must lie inside the
    declaration's folder or inside a folder the user allowed on the command line (--allow-dir)."""
    target = Path(os.path.realpath(path.parent / folder))
    roots = [Path(os.path.realpath(path.parent))] + [Path(os.path.realpath(a)) for a in allow_dirs]
    if not any(target == root or root in target.parents for root in roots):
        raise DeclarationError(f"{path}: dir source {_show(folder)} is {target}, outside the declaration's folder "
                               f"{roots[0]}; a declaration reads only its own folder: if you mean it, "
                               f"add --allow-dir {target}")
    return target


def dir_folders(sources) -> list[Path]:
    """The resolved folders of a declaration's `dir` sources: the corpus's own tree."""
    return [Path(os.path.realpath(s.path)) for s in sources if s.kind == "dir"]
