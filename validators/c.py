"""C structure validator: an independent linear-time lexer, then pycparser as a second opinion.

Passes (all iterative and linear except pycparser itself):

1. Literals and comments: `/* */`, `//`, string and character literals are located; unterminated
   ones are findings. `#error`/`#warning` lines are read raw (`#error don't` is fine), together
   with their continuation lines: a line ending in a backslash is spliced to the next before
   tokenizing (C11 5.1.1.2, translation phase 2), so a quoted `#error` message continued over
   several lines is one directive, and its closing quote on a later line opens nothing.
2. Preprocessor: directive lines are blanked (so `#define BEGIN {` does not count) and of each
   `#if`/`#ifdef`/`#ifndef` ... `#elif`/`#else` ... `#endif` group only one branch is kept: the
   first, except that a literal `#if 0` (or `#elif 0`) branch is skipped and `__cplusplus` is taken
   as undefined. Real code often opens a brace in both branches of an `#ifdef`; keeping one branch
   keeps it balanced. The kept text has the original length and line breaks, so positions agree.
3. Brackets: `()[]{}` balance on the kept text (`bracket_mismatch`, `bracket_stray_close`,
   `bracket_unclosed`), with the same recover-and-continue rule as the LaTeX scanner.
4. pycparser on the kept text, only when passes 1-3 found nothing. Typedef names are declared in a
   one-line prelude (size_t,
   uint8_t, FILE, va_list, pthread_t, ...), learned from the text (`typedef ... NAME;`, any `*_t`
   identifier), and learned by retry: when the parse fails at `X` right after an identifier `T`
   (`T X`), T is taken as a type from a header and the parse is retried (a few times). GNU
   extensions (`__attribute__((..))`, `__asm__(..)`, `__extension__`, `__inline__`, ...) are removed.

Verdict policy -- why pycparser alone cannot make a document invalid:
a C file from a real project uses macros and types from headers we never see (`MODULE_LICENSE("GPL");`,
`LIST_HEAD(x);`, `u32 v;`), so pycparser rejects a large share of correct real code. Its failure is
therefore a `parse_error` finding with severity "warning" (reported, with the location, and as
`syntax["parses"] = False`, but it never changes the verdict), while the lexer's structural findings
decide the verdict: broken nesting, unterminated literals and comments are errors; things still open
at the end of the text (an unclosed bracket, an unterminated block comment or a literal cut by the
end of the text) are fixable by appending, so a truncated sample is a viable prefix.
`gcc_opinion()` offers gcc's opinion separately (`gencheck validate --gcc` shows it as a column); it is
not part of the default check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
import shutil
import subprocess
import tempfile

from . import register_format
from .base import WARNING, Finding, Report, cap_findings, line_col, line_starts_of

KINDS: dict[str, str] = {
    "bracket_mismatch": "a ')', ']' or '}' closes a different kind of bracket (message names both)",
    "bracket_stray_close": "a ')', ']' or '}' with nothing open",
    "bracket_unclosed": "'(', '[' or '{' still open at the end of the text (fixable by appending)",
    "string_unterminated": "a string literal not closed on its line (fixable only when cut by the end of the text)",
    "char_unterminated": "a character literal not closed on its line (fixable only at the end of the text)",
    "comment_unterminated": "a /* comment still open at the end of the text (fixable by appending */)",
    "pp_unclosed": "#if/#ifdef/#ifndef without #endif at the end of the text (fixable by appending #endif)",
    "pp_stray": "#else/#elif/#endif with no open #if (warning: a fragment may start inside one)",
    "parse_error": "pycparser rejects the text although the lexer found nothing (warning: may be a macro "
    "or type from an unseen header; see the module docstring)",
    "checker_error": "pycparser raised an unexpected exception (a defect in gencheck or pycparser, not in "
    "the text; warning: the verdict rests on the lexer, and syntax.parses is null)",
    "truncated_findings": "more findings than MAX_FINDINGS; the rest are summarised in one finding",
}
FIXABLE_KINDS = frozenset({"bracket_unclosed", "comment_unterminated", "string_unterminated", "char_unterminated", "pp_unclosed"})

MAX_FINDINGS = 100
_SEARCH_DEPTH = 16
_TYPEDEF_RETRIES = 6
#: pycparser recurses per nesting level; deeper texts are judged by the lexer alone.
PYCPARSER_MAX_DEPTH = 150

#: Types from standard and common headers, seeded as typedef names for pycparser.
KNOWN_TYPES = (
    "size_t ssize_t ptrdiff_t intptr_t uintptr_t intmax_t uintmax_t off_t time_t clock_t "
    "int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t "
    "int_least8_t int_least16_t int_least32_t int_least64_t uint_least8_t uint_least16_t "
    "uint_least32_t uint_least64_t int_fast8_t int_fast16_t int_fast32_t int_fast64_t "
    "uint_fast8_t uint_fast16_t uint_fast32_t uint_fast64_t wchar_t wint_t char16_t char32_t "
    "FILE fpos_t va_list jmp_buf sigjmp_buf sig_atomic_t pid_t uid_t gid_t mode_t dev_t ino_t "
    "nlink_t blksize_t blkcnt_t socklen_t sa_family_t in_addr_t in_port_t pthread_t "
    "pthread_mutex_t pthread_cond_t pthread_attr_t pthread_key_t pthread_once_t pthread_rwlock_t "
    "sem_t DIR div_t ldiv_t lldiv_t mbstate_t locale_t fd_set suseconds_t useconds_t "
    "timer_t clockid_t key_t id_t bool u8 u16 u32 u64 s8 s16 s32 s64 __u8 __u16 __u32 "
    "__u64 __s8 __s16 __s32 __s64 BOOL BYTE WORD DWORD HANDLE gboolean gint guint gchar gpointer "
    "__builtin_va_list"
).split()

_LITERALS = re.compile(
    r"(?P<block>/\*)|(?P<line>//)|(?P<str>\")|(?P<chr>')"
    r"|(?P<raw>^[ \t]*#[ \t]*(?:error|warning)\b(?:[^\n\\]|\\\r?\n|\\.)*)",
    re.M,
)
_STR_BODY = re.compile(r'"(?:[^"\\\n]|\\.|\\\n)*"', re.S)
_CHR_BODY = re.compile(r"'(?:[^'\\\n]|\\.|\\\n)*'", re.S)
_LINE_COMMENT = re.compile(r"//(?:[^\n\\]|\\.|\\\n)*", re.S)
_NOT_NL = re.compile(r"[^\n]")
_DIRECTIVE = re.compile(r"^[ \t]*#(?:[^\n\\]|\\.|\\\n)*", re.M | re.S)
_DIRECTIVE_NAME = re.compile(r"#[ \t]*([A-Za-z_]\w*)?[ \t]*(.*)", re.S)
_BRACKETS = re.compile(r'"(?:[^"\\\n]|\\.)*"?|\'(?:[^\'\\\n]|\\.)*\'?|[()\[\]{}]', re.S)
_CLOSER_OF = {"(": ")", "[": "]", "{": "}"}
_OPENER_OF = {")": "(", "]": "[", "}": "{"}


def _blank(seg: str) -> str:
    return _NOT_NL.sub(" ", seg)


class _Lexer:
    """Passes 1-3. Findings are kept as (kind, message, pos, opener_text, opener_pos, fixable, severity)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.raws: list[tuple] = []
        self.pairs: list[tuple[str, int, int, int]] = []  # (closer, opener pos, closer pos, depth): probes
        self.comments: list[tuple[int, int]] = []  # (offset of /*, offset of its */) of closed comments
        self.literals: list[tuple[int, int]] = []  # (start, end) of closed string and character literals: cells

    # pass 1 ------------------------------------------------------------------------------
    def strip_comments(self) -> str:
        """Return the text with comments blanked (newlines kept); report unterminated literals."""
        text, n = self.text, self.n
        parts: list[str] = []
        last = 0
        pos = 0
        search = _LITERALS.search
        while pos < n:
            m = search(text, pos)
            if m is None:
                break
            kind, start = m.lastgroup, m.start()
            if kind == "block":
                end = text.find("*/", start + 2)
                if end == -1:
                    self.raws.append(("comment_unterminated", "/* comment never closed", n, "/*", start, True, None))
                    end = n
                else:
                    self.comments.append((start, end))
                    end += 2
                parts.append(text[last:start])
                parts.append(_blank(text[start:end]))
                last = pos = end
            elif kind == "line":
                end = _LINE_COMMENT.match(text, start).end()
                parts.append(text[last:start])
                parts.append(_blank(text[start:end]))
                last = pos = end
            elif kind == "raw":
                pos = m.end()
            else:
                body = _STR_BODY if kind == "str" else _CHR_BODY
                lm = body.match(text, start)
                if lm is not None:
                    self.literals.append((start, lm.end()))
                    pos = lm.end()
                    continue
                eol = text.find("\n", start)
                end = n if eol == -1 else eol
                if text[text.rfind("\n", 0, start) + 1:start].lstrip().startswith("#"):
                    pos = end  # a stray quote in a directive (`#define Q "`) is only a gcc warning
                    continue
                what = "string" if kind == "str" else "char"
                q = '"' if kind == "str" else "'"
                self.raws.append((f"{what}_unterminated", f"{what} literal {q}... not closed on its line",
                                  end, q, start, eol == -1, None))
                pos = end
        parts.append(text[last:])
        return "".join(parts)

    # pass 2 ------------------------------------------------------------------------------
    def preprocess(self, text: str) -> str:
        """Blank directive lines and the branches of #if groups that are not kept."""
        out: list[str] = []
        last = 0
        # stack of [parent_active, this_branch_active, some_branch_taken, pos]
        stack: list[list] = []
        active = True
        for m in _DIRECTIVE.finditer(text):
            start, end = m.start(), m.end()
            seg = text[last:start]
            out.append(seg if active else _blank(seg))
            out.append(_blank(m.group()))
            last = end
            dm = _DIRECTIVE_NAME.match(m.group().lstrip())
            name = dm.group(1) if dm else None
            arg = dm.group(2).strip() if dm else ""
            if name in ("if", "ifdef", "ifndef"):
                take = _branch_taken(name, arg)
                stack.append([active, active and take, take, start])
                active = active and take
            elif name in ("elif", "else", "elifdef", "elifndef"):
                if not stack:
                    self.raws.append(("pp_stray", f"#{name} with no open #if", start, None, None, False, WARNING))
                    continue
                frame = stack[-1]
                take = (not frame[2]) and (name == "else" or _branch_taken(name, arg))
                frame[1] = frame[0] and take
                frame[2] = frame[2] or take
                active = frame[1]
            elif name == "endif":
                if not stack:
                    self.raws.append(("pp_stray", "#endif with no open #if", start, None, None, False, WARNING))
                    continue
                active = stack.pop()[0]
        seg = text[last:]
        out.append(seg if active else _blank(seg))
        for frame in stack:
            self.raws.append(("pp_unclosed", "#if never closed by #endif", self.n, "#if", frame[3], True, None))
        return "".join(out)

    # pass 3 ------------------------------------------------------------------------------
    def brackets(self, text: str) -> int:
        """Bracket balance on the kept text; returns the maximum nesting depth."""
        stack: list[tuple[str, int]] = []
        counts = {"(": 0, "[": 0, "{": 0}
        depth = 0
        raws = self.raws
        for m in _BRACKETS.finditer(text):
            c = m.group()
            if len(c) != 1 or c in "\"'":
                continue
            if c in _CLOSER_OF:
                stack.append((c, m.start()))
                counts[c] += 1
                if len(stack) > depth:
                    depth = len(stack)
                continue
            want = _OPENER_OF[c]
            if stack and stack[-1][0] == want:
                _, start = stack.pop()
                counts[want] -= 1
                self.pairs.append((c, start, m.start(), len(stack) + 1))
                continue
            if not stack:
                raws.append(("bracket_stray_close", f"{c} with nothing open", m.start(), None, None, False, None))
                continue
            top, tpos = stack[-1]
            raws.append(("bracket_mismatch", f"{top} closed by {c}", m.start(), top, tpos, False, None))
            if counts[want] == 0:
                # nothing of this kind open: a typo'd closer replacing the top's
                counts[stack.pop()[0]] -= 1
                continue
            for i in range(len(stack) - 2, max(-1, len(stack) - 1 - _SEARCH_DEPTH), -1):
                if stack[i][0] == want:
                    for o, _ in stack[i:]:
                        counts[o] -= 1
                    del stack[i:]
                    break
            else:
                counts[stack.pop()[0]] -= 1
        for o, p in stack:
            raws.append(("bracket_unclosed", f"{o} never closed", self.n, o, p, True, None))
        return depth


_IF_LITERAL = re.compile(r"\(?\s*(\d+)[uUlL]*\s*\)?\s*$")


def _branch_taken(name: str, arg: str) -> bool:
    """Keep-one-branch policy: literal 0 is false; __cplusplus is undefined; else the branch is taken."""
    arg = arg.split("//")[0].strip()
    if name in ("ifdef", "elifdef"):
        return arg.split()[0:1] != ["__cplusplus"]
    if name in ("ifndef", "elifndef"):
        return True
    m = _IF_LITERAL.match(arg)
    if m:
        return int(m.group(1)) != 0
    if "__cplusplus" in arg:
        return arg.lstrip().startswith("!")
    return True


# pycparser preparation ----------------------------------------------------------------------

_GNU_WORDS = re.compile(
    r"\b(?:__extension__|__inline__|__inline|__restrict__|__restrict|__const__|__const|__volatile__"
    r"|__signed__|_Noreturn|__thread|_Thread_local|__forceinline|__cdecl|__stdcall|__fastcall"
    r"|__declspec|__attribute__|__attribute|__asm__|__asm|asm|_Static_assert|static_assert"
    r"|_Alignas|__typeof__|typeof|__builtin_offsetof)\b"
)
_GNU_REPLACE = {
    "__inline__": "inline", "__inline": "inline", "__forceinline": "inline", "__restrict__": "restrict",
    "__restrict": "restrict", "__const__": "const", "__const": "const", "__volatile__": "volatile",
    "__signed__": "signed", "__extension__": "", "_Noreturn": "", "__thread": "", "_Thread_local": "",
    "__cdecl": "", "__stdcall": "", "__fastcall": "",
}
_TYPEDEF_NAME = re.compile(r"\btypedef\b[^;{}]*?(?:\{[^{}]*\}[^;{}]*?)?\b([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*;")
_T_SUFFIX = re.compile(r"\b([A-Za-z_]\w*_t)\b")
_ERR_LOC = re.compile(r":(\d+):(\d+): before: (.*)$")
_IDENT_BEFORE = re.compile(r"([A-Za-z_]\w*)\s*[*\s]*$")


def _skip_parens(text: str, pos: int) -> int:
    """Index after the balanced (...) starting at or after `pos` (whitespace allowed first)."""
    n = len(text)
    while pos < n and text[pos] in " \t\n":
        pos += 1
    if pos >= n or text[pos] != "(":
        return pos
    depth = 0
    for i in range(pos, n):
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    return n


def _degnu(text: str) -> str:
    """Remove GNU/MSVC extensions pycparser does not know, keeping offsets and line breaks."""
    if "__" not in text and "asm" not in text and "_Noreturn" not in text and "static_assert" not in text \
            and "_Alignas" not in text and "typeof" not in text and "_Thread_local" not in text:
        return text
    parts, last = [], 0
    for m in _GNU_WORDS.finditer(text):
        if m.start() < last:
            continue
        w = m.group()
        parts.append(text[last:m.start()])
        if w in _GNU_REPLACE:
            rep = _GNU_REPLACE[w]
            parts.append(rep + " " * (len(w) - len(rep)))
            last = m.end()
            continue
        end = _skip_parens(text, m.end())
        if w in ("__typeof__", "typeof"):
            parts.append("int" + _blank(text[m.start() + 3:end]) if end - m.start() >= 3 else _blank(text[m.start():end]))
        elif w == "__builtin_offsetof":
            parts.append("0" + _blank(text[m.start() + 1:end]))
        else:  # attributes, asm, declspec, static asserts, _Alignas: drop with their arguments
            if w in ("_Static_assert", "static_assert") and end < len(text) and text[end:end + 1] == ";":
                end += 1
            parts.append(_blank(text[m.start():end]))
        last = end
    parts.append(text[last:])
    return "".join(parts)


def _splice_lines(text: str) -> str:
    """Join backslash-continued lines as the C preprocessor does, adding the removed line breaks
    after the joined line so later line numbers are unchanged (pycparser does not splice)."""
    if "\\\n" not in text:
        return text
    out, pending = [], 0
    for line in text.split("\n"):
        if line.endswith("\\"):
            out.append(line[:-1])
            pending += 1
            continue
        out.append(line + "\n" * pending if pending else line)
        if pending:
            out.append("\n")
            pending = 0
        else:
            out.append("\n")
    return "".join(out)[:-1] if out else text


def _typedef_names(text: str) -> set[str]:
    names = {m.group(1) for m in _TYPEDEF_NAME.finditer(text)}
    names.update(_T_SUFFIX.findall(text))
    return names - {"int", "char", "long", "short", "float", "double", "void", "unsigned", "signed"}


_PARSER = None


def _parser():
    """One pycparser parser per process (pycparser 2.x builds its PLY tables here), with a lexer that
    remembers the furthest token read, to locate the errors pycparser reports without a position.

    Only public API: CParser's `lexer` argument and CLexer's `token()`. A self-check at start-up
    confirms the location on a known error; if it does not hold, errors are reported unlocated."""
    global _PARSER
    if _PARSER is None:
        from pycparser import c_lexer, c_parser

        class FurthestTokenLexer(c_lexer.CLexer):
            furthest = None

            def input(self, text, *args, **kw):
                self.furthest, self.source = None, text
                return super().input(text, *args, **kw)

            def token(self):
                tok = super().token()
                if tok is not None:
                    self.furthest = tok
                return tok

        parser = c_parser.CParser(lexer=FurthestTokenLexer)
        _PARSER = (parser, False)
        try:
            parser.parse("int f(void) {\n  x = ;\n}\n", "<check>")
        except c_parser.ParseError:
            _PARSER = (parser, _furthest_location(parser) == (2, 7))
    return _PARSER


def _furthest_location(parser) -> tuple[int, int] | None:
    """(line, column) of the furthest token the parser read: the error is at or just before it."""
    lexer = parser.clex
    tok = getattr(lexer, "furthest", None)
    if tok is None:
        return None
    col = getattr(tok, "column", None)
    if col is None and hasattr(tok, "lexpos"):  # pycparser 2.x (PLY tokens carry an offset)
        col = tok.lexpos - lexer.source.rfind("\n", 0, tok.lexpos)
    return (int(tok.lineno), int(col)) if col else None


_WORD = re.compile(r"[A-Za-z_]\w*")


def typedef_prelude(names: set[str], src: str) -> str:
    """`typedef int T;` for each known type name that occurs in `src`, all on one line.

    Through pycparser's public API the only way to make a name a type is to declare it; declaring
    only the names the text uses keeps the prelude to a few declarations (a full ~150-name prelude
    measured 5-11 ms per parse, about as much as parsing a 2 KB sample)."""
    used = names.intersection(_WORD.findall(src))
    return "".join(f"typedef int {t};" for t in sorted(used)) + "\n"


def parse_with_pycparser(text: str) -> tuple[bool | None, str, int, int]:
    """Parse kept text; returns (ok, message, line, col). Learns header typedefs by retrying.

    ok is None when pycparser itself failed (an exception other than its ParseError): that is a
    defect to see, reported as a `checker_error`, never a verdict on the text."""
    from pycparser import c_parser

    parser, locatable = _parser()
    src = _splice_lines(_degnu(text))
    names = set(KNOWN_TYPES) | _typedef_names(src)
    tried: set[str] = set()
    msg, line, col = "", 1, 1
    for _ in range(_TYPEDEF_RETRIES + 1):
        try:
            parser.parse(typedef_prelude(names, src) + src, "<sample>")
            return True, "", 0, 0
        except c_parser.ParseError as e:
            msg = str(e)
        except RecursionError:
            return False, "pycparser: nesting too deep", 1, 1
        except Exception as e:  # noqa: BLE001 -- a pycparser bug or API change: no opinion, and visible
            return None, f"pycparser raised {type(e).__name__}: {e}"[:300], 1, 1
        m = _ERR_LOC.search(msg)
        if not m:  # pycparser 3 reports some errors ("Invalid expression") without a position
            loc = _furthest_location(parser) if locatable else None
            msg = msg.split(": ", 1)[-1]
            if loc is None or loc[0] < 2:
                return False, f"pycparser: {msg}"[:300], 1, 1
            line, col = loc[0] - 1, loc[1]
            return False, f"pycparser: {msg} at line {line} col {col}"[:300], line, col
        line, col = int(m.group(1)) - 1, int(m.group(2))  # the prelude is line 1
        if line < 1:
            return False, f"pycparser: {msg}"[:300], 1, 1
        # `T x` where T is a type from an unseen header: learn T and retry
        starts = line_starts_of(src)
        off = starts[line - 1] + col - 1 if line - 1 < len(starts) else len(src)
        im = _IDENT_BEFORE.search(src, max(0, off - 80), off)
        cand = im.group(1) if im else None
        if not cand or cand in tried or cand in _C_KEYWORDS:
            break
        tried.add(cand)
        names.add(cand)
    where = _ERR_LOC.search(msg)
    before = where.group(3) if where else msg
    return False, f"pycparser: syntax error at line {line} col {col} before {before!r}", max(1, line), max(1, col)


_C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline int "
    "long register restrict return short signed sizeof static struct switch typedef union unsigned void "
    "volatile while _Bool _Complex".split()
)


def _to_finding(text: str, starts: list[int], r: tuple) -> Finding:
    kind, message, pos, opener, opos, fixable, severity = r
    line, col = line_col(text, pos, starts)
    kw = {"severity": severity} if severity else {}
    if opener is None:
        return Finding(kind, message, line, col, fixable_by_append=fixable, **kw)
    ol, oc = line_col(text, opos, starts)
    return Finding(kind, message, line, col, opener=opener, opener_line=ol, opener_col=oc,
                   distance=pos - opos, fixable_by_append=fixable, **kw)


def lex(text: str) -> tuple[list[Finding], str, int]:
    """Passes 1-3: (findings, kept text for the parser, maximum bracket depth)."""
    lx = _Lexer(text)
    kept = lx.preprocess(lx.strip_comments())
    depth = lx.brackets(kept)
    starts = line_starts_of(text) if lx.raws else []
    return [_to_finding(text, starts, r) for r in lx.raws], kept, depth


@register_format("c", (".c", ".h"), "C: brackets, literals, comments (lexer) and pycparser's parse (warning)",
                 kinds=KINDS, fixable=FIXABLE_KINDS)
def check(text: str) -> Report:
    """The lexer decides the verdict; pycparser runs when the lexer is clean, as a warning."""
    findings, kept, _depth = lex(text)
    errors = [f for f in findings if f.severity != WARNING]
    syntax = {"balanced": not any(f.kind.startswith(("bracket_", "pp_unclosed")) for f in errors)}
    if not errors and _depth > PYCPARSER_MAX_DEPTH:
        syntax["parses"] = False
        findings.append(Finding("parse_error", f"not parsed: bracket nesting {_depth} > {PYCPARSER_MAX_DEPTH}",
                                1, 1, severity=WARNING))
    elif not errors:
        ok, msg, line, col = parse_with_pycparser(kept)
        syntax["parses"] = ok
        if ok is None:
            findings.append(Finding("checker_error", msg, line, col, severity=WARNING))
        elif not ok:
            findings.append(Finding("parse_error", msg, line, col, severity=WARNING))
    else:
        syntax["parses"] = False
    return Report(tuple(cap_findings(findings, MAX_FINDINGS)), syntax)


@dataclass(frozen=True)
class GccOpinion:
    """gcc -fsyntax-only on one text: ok is None when there is no gcc or it did not answer in time."""

    ok: bool | None
    message: str  # gcc's first error as "line:col: message"; why there is no opinion; "" when ok


_GCC_ERROR = re.compile(r"^[^\n:]*:(\d+):(\d+): (?:fatal )?error: (.*)$", re.M)


#: Limits for a gcc judge, as the validator pool gives its workers: address space and CPU seconds.
GCC_MEMORY_MB = 1024
GCC_CPU_S = 20

# `ulimit` in a shell in front of gcc: no preexec_fn, which is unsafe in the threads that run gcc.
_LIMITED = 'ulimit -v "$1" 2>/dev/null; ulimit -t "$2" 2>/dev/null; shift 2; exec "$@"'


def gcc_opinion(text: str, timeout_s: float = 10.0, include_dir: str | None = None) -> GccOpinion:
    """A second opinion from a real compiler, where one is installed. It sees what our checks do not
    (types, declarations) but also fails on fragments whose headers or declarations are elsewhere.

    The text is compiled in a private temporary folder (so `#include "x.h"` never finds a file someone
    planted in the shared temp dir), with `include_dir` (the file's own folder) on the include path,
    under an address-space and CPU limit and a wall-clock kill."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        return GccOpinion(None, "no gcc or cc on this machine")
    with tempfile.TemporaryDirectory(prefix="gencheck-gcc-") as tmp:  # created 0700
        src = f"{tmp}/sample.c"
        with open(src, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
        cmd = [gcc, "-fsyntax-only", "-w", "-x", "c"] + (["-I", include_dir] if include_dir else []) + [src]
        limited = ["/bin/sh", "-c", _LIMITED, "sh", str(GCC_MEMORY_MB * 1024), str(GCC_CPU_S), *cmd]
        try:
            r = subprocess.run(limited, capture_output=True, timeout=timeout_s, cwd=tmp)
        except subprocess.TimeoutExpired:
            return GccOpinion(None, f"gcc gave no answer within {timeout_s:g} s")
        except OSError as e:
            return GccOpinion(None, f"gcc could not run: {e}")
    if r.returncode == 0:
        return GccOpinion(True, "")
    err = r.stderr.decode("utf-8", "replace")
    m = _GCC_ERROR.search(err)
    if m:
        return GccOpinion(False, f"{m.group(1)}:{m.group(2)}: {m.group(3)}")
    if r.returncode < 0 or "virtual memory exhausted" in err or "out of memory" in err:
        return GccOpinion(None, f"gcc stopped at its limits ({GCC_MEMORY_MB} MB, {GCC_CPU_S} s CPU)")
    return GccOpinion(False, (err.strip().splitlines() or ["failed"])[0])


def gcc_syntax_ok(text: str, timeout_s: float = 10.0) -> bool | None:
    """gcc -fsyntax-only as a second opinion (headers resolved by the system); None without gcc."""
    return gcc_opinion(text, timeout_s).ok
