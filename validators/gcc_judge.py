"""gcc as the final judge of a C text: does it compile (`gcc -fsyntax-only`)?

A file from a real project, or a sample, uses headers and declarations gencheck never sees, so a bare
gcc rejects most of them for a missing header. To judge structure and syntax instead:

* every `#include "x.h"` / `<x.h>` the system does not have resolves to an empty stub file (a stub
  folder searched after the system's, `-idirafter`), so a missing header is no error;
* identifiers gcc names as unknown are declared in a generated stub header (`-include`) and the text is
  compiled again, up to `ROUNDS` times: `unknown type name 'T'` → `typedef int T;`, `'X' undeclared` →
  `enum { X = 1 };` for an all-capitals name (a constant from a header) else `extern int X;`,
  `implicit declaration of function 'f'` → `int f();`.

What remains is gcc's first error, classified `syntax` (the parse failed: expected, stray, unterminated,
#if/#endif) or `semantic` (the parse succeeded: types, members, redefinitions that stubs cannot fix).

Containment: gcc runs confined by Landlock (confine.py) to the system's programs, libraries and headers,
its temporary folder, the folder of a file being validated and the corpus's declared `-I` folders, so a
host file is not there to read whatever a text makes the preprocessor do (`#line 1 "/path"`, a `_Pragma`
built by a macro, a form feed before `#`, a lone carriage return as a line break). Where Landlock is not
available gcc runs unconfined, and `toolchains.confinement_notice` says so. Before gcc runs, a lexical guard
refuses what it can see (kind `refused`, no gcc run): every `#include`-like directive (`#include`,
`#include_next`, `#import`, `#embed`, `__has_include`, `__has_embed`, `#pragma GCC dependency` and its
`_Pragma` form, `#line` and line markers naming a file), after line splicing, with comments, unterminated
literals, any C whitespace and the `%:` digraph seen as the preprocessor sees them, must name a plain
relative path without `..`; an absolute path, a parent folder or a computed include (`#include MACRO`) is
refused. The guard is a first line, not the fence: it re-lexes C and may trail cpplib, confinement does
not. gcc runs under `sandbox.Limits` in its own process group; an error located in another file than the
text (an included header, a `#line` name) is reported with that file's base name and no line.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile

from . import confine
from .confine import Rules
from .sandbox import Limits, run_limited
from .toolchains import Opinion, version_line

NAME = "gcc"
ROUNDS = 3
LIMITS = Limits(memory_mb=1024, cpu_s=20, wall_s=20.0, file_mb=16)

KINDS: dict[str, str] = {
    "ok": "gcc -fsyntax-only accepted the text (with stub headers and declarations)",
    "syntax": "gcc's first error is a syntax error: expected X before Y, stray characters, unterminated "
              "literals or comments, #else/#endif without #if, #if without #endif",
    "semantic": "the text parses but gcc rejects it: conflicting types, no such member, wrong arguments "
                "(errors a stub declaration cannot fix)",
    "refused": "an #include of an absolute path, a parent folder or a macro (the text's fault), or a gcc flag "
               "outside the allowed forms (the corpus's: no opinion): not compiled",
    "timeout": "no answer within the wall-clock limit (the process group is killed)",
    "limits": "stopped at its memory, CPU or file-size limit (e.g. an exponential macro expansion)",
    "absent": "no gcc on this machine: no opinion",
}

_SYNTAX = re.compile(
    r"^expected |^stray |missing terminating|unterminated|^#(?:else|elif|endif) without #if|^unbalanced|"
    r"^#(?:if|ifdef|ifndef) with no|^invalid preprocessing directive|^#include expects|^#include nested depth|"
    r"^macro .* (?:requires|passed|used without)|^unterminated argument list|^invalid suffix|"
    r"^missing (?:binary operator|expression|\(|'\(')|^empty character constant|^multi-character|"
    r"^expected identifier|^parameter name omitted|^empty (?:file|declaration)|^invalid (?:token|digit)|"
    r"^#(?:elif|else) after #else|^extra tokens|^no macro name|^macro names must be identifiers"
)
_ERROR = re.compile(r"^([^\n:]*):(\d+):(\d+): (?:fatal )?error: (.*)$", re.M)
_UNKNOWN_TYPE = re.compile(r"unknown type name '([A-Za-z_]\w*)'")
_UNDECLARED = re.compile(r"'([A-Za-z_]\w*)' undeclared")
_IMPLICIT = re.compile(r"implicit declaration of function '([A-Za-z_]\w*)'")
#: The driver's words when RLIMIT_CPU or RLIMIT_AS stopped cc1 (the driver itself then exits 1, not by a signal).
_AT_LIMITS = re.compile(r"signal terminated program|out of memory|virtual memory exhausted|cannot allocate memory")
_CAPS = re.compile(r"^[A-Z][A-Z0-9_]*$")

# Translation phases 1-3 as far as directives are concerned: any of CR LF, CR or LF ends a line, spliced
# lines are joined, a comment is one space, an unterminated literal runs to the end of its line, and `%:`
# (digraph) and `??=` (trigraph) read as `#`. Whitespace in a directive is any of space, tab, FF and VT.
_WS = r"[ \t\f\v]"
_SPLICE = re.compile(r"\\" + _WS + r"*\n")
_COMMENT_OR_LITERAL = re.compile(r'/\*.*?(?:\*/|\Z)|//[^\n]*|"(?:[^"\\\n]|\\.)*(?:"|$)|\'(?:[^\'\\\n]|\\.)*(?:\'|$)',
                                 re.S | re.M)
_DIRECTIVE = re.compile(rf"^{_WS}*(?:#|%:|\?\?=){_WS}*(include_next|include|import|embed|pragma|line|(?=\d))(.*)$",
                        re.M)
_HAS_INCLUDE = re.compile(r"__has_(?:include(?:_next)?|embed)\s*\(\s*([^)]*)\)")
_PRAGMA_OPERATOR = re.compile(r"_Pragma\s*\(\s*(?:u8|[uUL])?\"((?:[^\"\\\n]|\\.)*)")
_INCLUDE_ARG = re.compile(r'^\s*(?:"([^"\n]*)"|<([^>\n]*)>)')
_LINE_FILE = re.compile(r'^\s*\d+\s*"((?:[^"\\\n]|\\.)*)"')
_INCLUDE_NAME = re.compile(rf'^{_WS}*#{_WS}*include(?:_next)?{_WS}*(?:"([^"\n]+)"|<([^>\n]+)>)', re.M)


#: The gcc flags a corpus may declare (`[toolchain] c_flags`), each one whole list item: macros with a plain
#: value, a C standard, warnings, and an include folder. Anything else (-wrapper, -B, -specs=, -fplugin=,
#: -include, -imacros, -Wp,..., @file, -o) can run a program or read a file, and is refused.
_C_FLAG_FORMS = (
    ("-DNAME[=value]", re.compile(r"-D[A-Za-z_]\w*(?:\([\w, ]*\))?(?:=[\w .+*/()-]*)?")),
    ("-UNAME", re.compile(r"-U[A-Za-z_]\w*")),
    ("-std=STANDARD", re.compile(r"-std=[a-z0-9+:]+")),
    ("-W<warning>", re.compile(r"-W[a-z0-9][a-z0-9=+-]*|-w|-pedantic(?:-errors)?")),
    ("-I<folder>", re.compile(r"-I[^\0]+")),
)
ALLOWED_C_FLAGS = ", ".join(form for form, _ in _C_FLAG_FORMS)


def c_flag_problem(flag: object) -> str | None:
    """Why a declared gcc flag is refused (one line naming it), or None when it has an allowed form. An
    `-I` folder must be absolute here: the declaration made it so, after checking it is in the corpus."""
    if not isinstance(flag, str) or not any(rx.fullmatch(flag) for _, rx in _C_FLAG_FORMS):
        return f"gcc flag {flag!r} is not allowed (allowed: {ALLOWED_C_FLAGS}, each one list item)"
    if flag.startswith("-I") and not os.path.isabs(flag[2:]):
        return f"gcc flag {flag!r}: the folder must be inside the corpus's own folder"
    return None


def available() -> bool:
    return _gcc() is not None


def _gcc() -> str | None:
    return shutil.which("gcc") or shutil.which("cc")


def version() -> str | None:
    """`gcc (Debian 12.2.0-14) 12.2.0`, or None without gcc."""
    exe = _gcc()
    return version_line([exe, "--version"]) if exe else None


def _safe_relative(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return bool(name) and not name.startswith(("/", "~")) and ".." not in parts and ":" not in name and "\0" not in name


_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]+)|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))", re.S)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "e": "\x1b"}


def _string_value(body: str) -> str:
    """The file name a `#line`/line-marker string literal gives gcc: its escapes decoded (octal, hex,
    universal character names and the one-letter ones), since `"\\057etc\\057passwd"` names /etc/passwd.
    An escape of a value that is no character decodes to NUL, which no safe name holds."""
    def sub(m: re.Match) -> str:
        octal, hexa, u4, u8, other = m.groups()
        if other is not None:
            return _SIMPLE_ESCAPES.get(other, other)  # \\ \" \' \? stand for themselves
        code = int(octal, 8) if octal else int(hexa or u4 or u8, 16)
        return chr(code) if 0 < code <= 0x10FFFF else "\0"
    return _ESCAPE.sub(sub, body)


def _lines(text: str) -> str:
    """Phase 1-2 for directives: CR LF and a lone CR become LF (cpplib ends a line at either), trigraph
    splices and backslash-newline splices are joined."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("??/\n", "")
    return _SPLICE.sub("", text)


def _blank_comments(text: str) -> str:
    """Comments become one space (as in phase 3); string literals are kept (they are #include arguments),
    an unterminated one to the end of its line (so a `/*` inside it opens no comment)."""
    def sub(m: re.Match) -> str:
        s = m.group()
        return " " if s.startswith("/") else s
    return _COMMENT_OR_LITERAL.sub(sub, text)


def refused_include(text: str) -> str | None:
    """Why the text may not be compiled (an #include, #line or dependency outside the folder, or a computed
    include), or None. A first line before confinement (see the module docstring)."""
    seen = _blank_comments(_lines(text))
    for m in _DIRECTIVE.finditer(seen):
        name, arg = m.group(1), m.group(2)
        if name == "pragma":
            if re.search(r"\bdependency\b", arg):
                return "#pragma GCC dependency: not compiled"
            continue
        if name in ("line", ""):  # `#line N "file"` and a line marker `# N "file"` rename the text
            lm = _LINE_FILE.match(arg)
            if lm is not None and not _safe_relative(_string_value(lm.group(1))):
                return f"#line naming {lm.group(1)[:80]!r}, outside the sample's folder: not compiled"
            continue
        am = _INCLUDE_ARG.match(arg)
        if am is None:
            return f"#{name} of a computed name ({arg.strip()[:60]!r}): not compiled"
        path = am.group(1) if am.group(1) is not None else am.group(2)
        if not _safe_relative(path):
            return f"#{name} of {path[:80]!r}, outside the sample's folder: not compiled"
    for m in _HAS_INCLUDE.finditer(seen):
        am = _INCLUDE_ARG.match(m.group(1))
        if am is None or not _safe_relative(am.group(1) if am.group(1) is not None else am.group(2)):
            return f"__has_include({m.group(1).strip()[:60]}) outside the sample's folder: not compiled"
    for m in _PRAGMA_OPERATOR.finditer(seen):
        if re.search(r"\bdependency\b", m.group(1)):
            return "_Pragma(\"GCC dependency ...\"): not compiled"
    return None


def _stub_headers(text: str, stub_dir: str) -> None:
    """An empty file for every header the text includes (found only when the system has none)."""
    for m in _INCLUDE_NAME.finditer(_lines(text)):
        name = m.group(1) or m.group(2)
        if not _safe_relative(name):
            continue
        path = os.path.join(stub_dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.exists(path):
            open(path, "w").close()


def _declarations(err: str, types: set[str], names: dict[str, str]) -> bool:
    """Learn stub declarations from gcc's messages; True when something new was learned."""
    before = (len(types), len(names))
    types.update(_UNKNOWN_TYPE.findall(err))
    for n in _UNDECLARED.findall(err):
        if n not in types:
            names.setdefault(n, f"enum {{ {n} = 1 }};" if _CAPS.match(n) else f"extern int {n};")
    for n in _IMPLICIT.findall(err):
        names[n] = f"int {n}();"
    return (len(types), len(names)) != before


def _stub_text(types: set[str], names: dict[str, str]) -> str:
    return "".join(f"typedef int {t};\n" for t in sorted(types)) + "".join(names[n] + "\n" for n in sorted(names))


def classify(message: str) -> str:
    return "syntax" if _SYNTAX.search(message) else "semantic"


def opinion(text: str, flags: tuple[str, ...] = (), include_dir: str | None = None,
            limits: Limits = LIMITS, rounds: int = ROUNDS) -> Opinion:
    """gcc's verdict on `text` with stubs for what its headers would declare (see the module docstring)."""
    exe = _gcc()
    if exe is None:
        return Opinion(NAME, None, None, "absent", "no gcc or cc on this machine", 0.0)
    bad_flag = next((why for why in map(c_flag_problem, flags) if why is not None), None)
    if bad_flag is not None:  # the corpus's fault, not the text's: no opinion
        return Opinion(NAME, None, None, "refused", bad_flag, 0.0)
    why = refused_include(text)
    if why is not None:
        return Opinion(NAME, None, False, "refused", why, 0.0)
    types: set[str] = set()
    names: dict[str, str] = {}
    seconds = 0.0
    with tempfile.TemporaryDirectory(prefix="gencheck-gcc-") as tmp:  # created 0700
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C", "TMPDIR": tmp}
        rules = _rules(exe, tmp, flags, include_dir)
        with open(f"{tmp}/sample.c", "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
        os.mkdir(f"{tmp}/stubs")
        _stub_headers(text, f"{tmp}/stubs")
        inc = (["-iquote", include_dir] if include_dir else [])
        cmd = [exe, "-fsyntax-only", "-w", "-x", "c", "-fmax-errors=200", "-fno-diagnostics-show-caret", *flags, *inc,
               "-idirafter", f"{tmp}/stubs", "-include", f"{tmp}/gencheck-stubs.h", "sample.c"]
        for _ in range(rounds + 1):
            with open(f"{tmp}/gencheck-stubs.h", "w") as f:
                f.write(_stub_text(types, names))
            done = run_limited(cmd, tmp, env, limits, confine=rules)
            seconds += done.seconds
            if done.timed_out:
                return Opinion(NAME, None, None, "timeout", f"no answer within {limits.wall_s:g} s", seconds)
            err = done.stderr.decode("utf-8", "replace")
            if done.returncode == 0:
                return Opinion(NAME, None, True, "ok", "", seconds)
            if done.signalled or _AT_LIMITS.search(err):
                return Opinion(NAME, None, None, "limits",
                               f"stopped at its limits ({limits.memory_mb} MB, {limits.cpu_s} s CPU)", seconds)
            if not _declarations(err, types, names):
                break
    m = _ERROR.search(err)
    if m is None:
        return Opinion(NAME, None, False, "semantic", (err.strip().splitlines() or ["failed"])[0][:300], seconds)
    where, line, col, msg = m.group(1), int(m.group(2)), m.group(3), m.group(4).strip()
    if where != "sample.c":  # an included header's line, or a name `#line` gave: not a line of the text
        return Opinion(NAME, None, False, classify(msg), f"{os.path.basename(where)}:{line}:{col}: {msg}"[:300], seconds)
    return Opinion(NAME, None, False, classify(msg), f"{line}:{col}: {msg}"[:300], seconds, line=line)


def _rules(exe: str, tmp: str, flags: tuple[str, ...], include_dir: str | None) -> Rules | None:
    """What confined gcc may read (the system's programs, libraries and headers, gcc's own installation,
    the text's folder and the declared -I folders) and write (its folder); None without Landlock."""
    if confine.unavailable() is not None:
        return None
    prefix = os.path.dirname(os.path.dirname(os.path.realpath(exe)))  # /usr for /usr/bin/gcc
    read = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc/ld.so.cache", prefix]
    read += [include_dir] if include_dir else []
    read += [f[2:] for f in flags if f.startswith("-I")]
    return Rules(tuple(read), (tmp, "/dev/null"))


def judge(text: str, ctx) -> Opinion:
    """The `toolchains` entry point: the corpus's declared flags and the file's own folder from `ctx`."""
    return opinion(text, tuple(ctx.c_flags), ctx.include_dir)
