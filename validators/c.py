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
   one-line prelude (size_t, uint8_t, FILE, va_list, pthread_t, ...), learned from the text
   (`typedef ... NAME;`, any `*_t` identifier, casts `(T *)`, pointer declarations opening a statement
   `static T *x;`), and learned by retry: when the parse fails at `X` right after an identifier `T`
   (`T X`), T is taken as a type from a header and the parse is retried (a few times); a `*_t` name the
   text declares as no type is dropped again. GNU extensions (`__attribute__((..))`,
   `__asm__ __volatile__(..)`, `__extension__`, `__inline__`, ...) are removed.

What the verdicts mean here (`base.verdict_of_report`):

- valid: the lexer found no error (pycparser's parse is reported beside, not in, the verdict: below), and
  the text has structure: a bracket (`()`, `[]` or `{}`) outside comments, string and character literals and
  preprocessor lines, and at least `base.MIN_CONTENT_CHARS` non-space characters outside comments and
  preprocessor lines;
- viable_prefix: every error is something still open at the end of the text (an unclosed bracket, an
  unterminated block comment or a literal cut by the end, an open `#if`);
- invalid: broken nesting, unterminated literals and comments (`int = 3 x;` is valid here, with
  `parses` false and a `parse_error` warning);
- trivial: no error, but no bracket or under the floor (a header of `#define`s, a comment) -- counted
  beside the rates, not in them; its finding `trivial` says which.

Why the parse is not in the verdict: a C file from a real project uses macros and types from headers we
never see (`MODULE_LICENSE("GPL");`, `LIST_HEAD(x);`, `u32 v;`, `static PyObject *f(...)`), and of each
`#ifdef A ... #endif #ifdef B ... #endif` pair a real build keeps one where the lexer keeps both, so
pycparser rejects a share of correct real code: measured with `gencheck calibrate --split all` on
2026-12-07, 9 of 189 SQLite files (`c`) and 118 of 662 Linux files (`c-linux`) -- every one of them
is released source that builds in its project. A verdict that rejected those would call real text invalid. So the parse is a
second figure beside the verdict: `syntax["parses"]` per text, the scorecard's `parses (pycparser)` row
(samples beside real text, the same rule for both), and a `parse_error` *warning* at the failure. Where
the failure sits next to a name used the way only a macro or a header's type can be (`unseen_name`: `argc
UNUSED`, `static T *x`, a call at file scope, an upper-case macro's arguments, a name the text
`#define`s), the warning says `(maybe: ...)` and names it.
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
from .base import WARNING, Finding, Report, cap_findings, line_col, line_starts_of, nonspace, trivial_reason

KINDS: dict[str, str] = {
    "bracket_mismatch": "a ')', ']' or '}' closes a different kind of bracket (message names both)",
    "bracket_stray_close": "a ')', ']' or '}' with nothing open",
    "bracket_unclosed": "'(', '[' or '{' still open at the end of the text (fixable by appending)",
    "string_unterminated": "a string literal not closed on its line (fixable only when cut by the end of the text)",
    "char_unterminated": "a character literal not closed on its line (fixable only at the end of the text)",
    "comment_unterminated": "a /* comment still open at the end of the text (fixable by appending */)",
    "pp_unclosed": "#if/#ifdef/#ifndef without #endif at the end of the text (fixable by appending #endif)",
    "pp_stray": "#else/#elif/#endif with no open #if (warning: a fragment may start inside one)",
    "parse_error": "warning: pycparser rejects the text although the lexer found nothing (syntax.parses false; "
    "the scorecard's 'parses' row); '(maybe: ...)' names a macro or header type that may explain it. Fixable "
    "when the parse only ran out of text",
    "checker_error": "pycparser raised an unexpected exception (a defect in gencheck or pycparser, not in "
    "the text; warning: the verdict rests on the lexer, and syntax.parses is null)",
    "truncated_findings": "more findings than MAX_FINDINGS; the rest are summarised in one finding",
    "trivial": "warning, and the verdict trivial: no error, but no (), [] or {} outside comments, literals and "
    "preprocessor lines, or fewer than 20 non-space characters outside comments and preprocessor lines",
}
FIXABLE_KINDS = frozenset({"bracket_unclosed", "comment_unterminated", "string_unterminated", "char_unterminated",
                           "pp_unclosed", "parse_error"})

#: What a text lacks when it has no bracket (the `trivial` finding's words).
NO_STRUCTURE = "no (), [] or {}"
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
_DIRECTIVE = re.compile(r"^[ \t]*#(?:[^\n\\]|\\\r?\n|\\.)*", re.M | re.S)  # continued by \ LF or \ CR LF
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
#: `(T *)`, `(const T **)`: only a type can stand there, so T is one from a header (a cast or a sizeof).
_CAST_TYPE = re.compile(r"\(\s*(?:const\s+)?([A-Za-z_]\w*)\s*(?:\*\s*)+(?:const\s*)?\)")
#: `static T *name;`, `extern T* f(void);` opening a statement (or a line after a K&R function's `)`): a
#: declaration of a pointer to T (as an expression, `a * b;` would be a product thrown away), so T is a type.
_DECL_STAR_TYPE = re.compile(r"(?:^|[;{}]|\)[ \t]*\n)\s*(?:(?:static|extern|const|volatile|register|inline)\s+)*"
                             r"([A-Za-z_]\w*)\s*(?:\*\s*)+[A-Za-z_]\w*\s*[;=(\[]")
_ERR_LOC = re.compile(r":(\d+):(\d+): before: (.*)$")
_NOT_A_TYPE = re.compile(r"Non-typedef '(\w+)' previously declared as typedef")
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


#: Qualifiers between `asm` and its operands: `__asm__ __volatile__ ("..." : ...)`.
_ASM_QUALIFIERS = re.compile(r"(?:\s*\b(?:__volatile__|__volatile|volatile|goto|inline)\b)*")


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
        after = _ASM_QUALIFIERS.match(text, m.end()).end() if "asm" in w else m.end()
        end = _skip_parens(text, after)
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


def _no_cr(text: str) -> str:
    """CR LF line ends as pycparser's lexer reads them (it rejects a CR): each CR a space, offsets kept."""
    if "\r" not in text:
        return text
    return text.replace("\\\r\n", " \\\n").replace("\r", " ")


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
    if "*" in text:
        names.update(n for n in _CAST_TYPE.findall(text) if n not in _C_KEYWORDS)
        names.update(n for n in _DECL_STAR_TYPE.findall(text) if n not in _C_KEYWORDS)
    return names - {"int", "char", "long", "short", "float", "double", "void", "unsigned", "signed"}


_PARSER = None


def _parser():
    """One pycparser parser per process (pycparser 2.x builds its PLY tables here), with a lexer that
    remembers the furthest token read, to locate the errors pycparser reports without a position, and
    whether the parser read to the end (a failure there is one appending text may repair).

    Only public API: CParser's `lexer` argument and CLexer's `token()`. A self-check at start-up
    confirms the location on a known error; if it does not hold, errors are reported unlocated."""
    global _PARSER
    if _PARSER is None:
        from pycparser import c_lexer, c_parser

        class FurthestTokenLexer(c_lexer.CLexer):
            furthest = None
            ended = False  # the parser asked for a token past the end: it ran out of text

            def input(self, text, *args, **kw):
                self.furthest, self.source, self.ended = None, text, False
                return super().input(text, *args, **kw)

            def token(self):
                tok = super().token()
                if tok is not None:
                    self.furthest = tok
                else:
                    self.ended = True
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


@dataclass(frozen=True)
class Parse:
    """pycparser's opinion of kept text. `ok` is None when pycparser itself failed (an exception other than
    its ParseError): a defect to see, reported as a `checker_error`, never a verdict on the text.
    `excuse`: why a failure does not count against the text ("" when it does): a name at the failure that
    a header the text does not show could make valid, or a failure pycparser could not locate or reach.
    `at_end`: the parser ran out of text (a cut-off last declaration: appending may repair it)."""

    ok: bool | None
    message: str = ""
    line: int = 1
    col: int = 1
    excuse: str = ""
    at_end: bool = False


def parse_with_pycparser(text: str, macros: frozenset[str] = frozenset()) -> Parse:
    """Parse kept text, learning header typedefs by retrying; on failure, say whether it counts (`macros`:
    names the text `#define`s, whose uses the parse sees unexpanded)."""
    from pycparser import c_parser

    parser, locatable = _parser()
    src = _splice_lines(_degnu(_no_cr(text)))
    names = set(KNOWN_TYPES) | _typedef_names(src)
    tried: set[str] = set()
    msg, line, col = "", 1, 1
    for _ in range(_TYPEDEF_RETRIES + 1):
        try:
            parser.parse(typedef_prelude(names, src) + src, "<sample>")
            return Parse(True, "", 0, 0)
        except c_parser.ParseError as e:
            msg = str(e)
        except RecursionError:
            return Parse(False, "pycparser: nesting too deep", excuse="nesting too deep for pycparser")
        except Exception as e:  # noqa: BLE001 -- a pycparser bug or API change: no opinion, and visible
            return Parse(None, f"pycparser raised {type(e).__name__}: {e}"[:300])
        wrong = _NOT_A_TYPE.search(msg)
        if wrong and wrong.group(1) in names:  # a name guessed to be a type (`*_t`) is declared as none
            names.discard(wrong.group(1))
            continue
        at_end = bool(getattr(parser.clex, "ended", False))
        m = _ERR_LOC.search(msg)
        if not m:  # pycparser 3 reports some errors ("Invalid expression") without a position
            loc = _furthest_location(parser) if locatable else None
            msg = msg.split(": ", 1)[-1]
            if loc is None or loc[0] < 2:
                return Parse(False, f"pycparser: {msg}"[:300], excuse="pycparser gave no location", at_end=at_end)
            line, col = loc[0] - 1, loc[1]
            return _failure(src, f"pycparser: {msg} at line {line} col {col}"[:300], line, col, names - tried,
                            macros, at_end)
        line, col = int(m.group(1)) - 1, int(m.group(2))  # the prelude is line 1
        if line < 1:
            return Parse(False, f"pycparser: {msg}"[:300], excuse="pycparser failed in the type prelude",
                         at_end=at_end)
        # `T x` where T is a type from an unseen header: learn T and retry
        off = _offset(src, line, col)
        im = _IDENT_BEFORE.search(src, max(0, off - 80), off)
        cand = im.group(1) if im else None
        if not cand or cand in tried or cand in _C_KEYWORDS:
            break
        tried.add(cand)
        names.add(cand)
    where = _ERR_LOC.search(msg)
    before = where.group(3) if where else msg
    return _failure(src, f"pycparser: syntax error at line {line} col {col} before {before!r}", max(1, line),
                    max(1, col), names - tried, macros, bool(getattr(parser.clex, "ended", False)))


def _offset(src: str, line: int, col: int) -> int:
    starts = line_starts_of(src)
    return min(len(src), starts[line - 1] + col - 1) if line - 1 < len(starts) else len(src)


def _failure(src: str, message: str, line: int, col: int, types: set[str], macros: frozenset[str],
             at_end: bool) -> Parse:
    """A located failure, with its excuse when a macro or a header's type could explain it. `types`: the
    names known to be types (a name only guessed to be one by a retry that did not help may be a macro)."""
    name = unseen_name(src, _offset(src, line, col), types, macros)
    excuse = "" if not name else f"{name!r} is a macro the parse does not expand" if name in macros else \
        f"{name!r} may be a macro or type from a header the text does not show"
    return Parse(False, message, line, col, excuse, at_end)


#: Tokens of kept C text, coarsely: literals whole (their words are no names), names, numbers, punctuation.
_C_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"?|\'(?:[^\'\\\n]|\\.)*\'?|[A-Za-z_]\w*|\d[\w.]*|\S')
_TAG_WORDS = frozenset({"struct", "union", "enum", "goto"})  # a name after these is a tag or a label


def _is_name(tok: str) -> bool:
    return (tok[0].isalpha() or tok[0] == "_") and tok not in _C_KEYWORDS


def unseen_name(src: str, off: int, types: set[str], macros: frozenset[str] = frozenset()) -> str:
    """A name near pycparser's failure at `off` used the way only a macro or a type from a header the text
    does not show can make valid C; or "". Near: from the start of the statement before the failing one
    (pycparser may report a token after the culprit) to three tokens after the failure.

    Such a use (`_header_use`) is a name the parse does not know as a type that: the text `#define`s itself
    (`macros`: the parse does not expand them); stands next to another word (`argc UNUSED`, `local void f`)
    or before a brace (`PyObject_HEAD }`); stands where a type does (`static T *x`, `f(const T *p)`,
    `typedef T (*fn)(void)`, a cast `= (T)x`); opens a statement as a call where a call cannot stand (at
    file scope: `MODULE_LICENSE("GPL");`) or is followed by a brace or a word (`list_for_each(p, h) {`); or
    is an upper-case name (a macro by convention) called in the failing statement (`DECLARE(static int)`,
    `int TRANS(f)(void)`). A failure near none of these -- `int = 3 x;`, `y = ;`, `if (a > )` -- is the
    text's own: no header could repair it."""
    stmt = _statement_start(src, off)
    start = _statement_start(src, stmt - 1) if stmt > 0 else 0
    toks: list[tuple[str, int]] = []
    for m in _C_TOKEN.finditer(src, start):
        toks.append((m.group(), m.start()))
        if len(toks) > 3 and toks[-4][1] >= off:
            break  # the failing token and the three after it (`T **x`)
    depth = sum(1 if t == "{" else -1 for t in _C_TOKEN.findall(src, 0, start) if t in "{}")
    for i, (tok, at) in enumerate(toks):
        if _is_name(tok) and (tok in macros or tok not in types) and _header_use(toks, i, depth, macros, at >= stmt):
            return tok
        depth += (tok == "{" and at > start) - (tok == "}")
    return ""


def _statement_start(src: str, off: int) -> int:
    """Offset of the last `;`, `{` or `}` before `off` (0 when none): where the statement at `off` begins."""
    return max(0, src.rfind(";", 0, off), src.rfind("{", 0, off), src.rfind("}", 0, off))


def _header_use(toks: list[tuple[str, int]], i: int, depth: int, macros: frozenset[str], failing: bool) -> bool:
    """Whether the name toks[i] is used as only a macro or a header's type can be (see `unseen_name`)."""
    tok = toks[i][0]
    at = lambda k: toks[k][0] if 0 <= k < len(toks) else ""  # noqa: E731
    prev, nxt = at(i - 1) or ";", at(i + 1)
    if tok in macros:
        return True
    if prev in _TAG_WORDS or prev == "." or at(i - 2) + prev == "->":
        return False  # a struct tag, a label, a member
    if _is_word(nxt) or nxt in ("{", "}"):
        return True
    if nxt == "*" and prev in _TYPE_BEFORE:
        k = i + 1
        while at(k) == "*":
            k += 1
        return _is_word(at(k)) or at(k) == "("  # `T *x`, `T **(*f)(void)`
    if nxt == "(" and at(i + 2) == "*" and prev in ("typedef", ";", "{", "}", ","):
        return True  # `typedef T (*fn)(void);`
    if prev == "(" and nxt == ")" and _CAST_BEFORE.fullmatch(at(i - 2)) and (_is_word(at(i + 2)) or at(i + 2)[:1].isdigit()):
        return True  # `= (T)x`: a cast
    if nxt != "(":
        return False
    if failing and _MACRO_CASE.fullmatch(tok):
        return True
    return prev in (";", "{", "}") and (depth <= 0 or _after_call(toks, i + 1) in ("{", "word"))


_MACRO_CASE = re.compile(r"[A-Z_][A-Z0-9_]*[A-Z][A-Z0-9_]*")
#: What may stand before the `(` of a cast `(T)x` (not `if`, `while` or a call's name: `while (x) y = 1;`).
_CAST_BEFORE = re.compile(r"return|[=(,?:+\-*/%&|^!~<>\[]+")
#: What may stand before a type name in a declaration `T *x`.
_TYPE_BEFORE = frozenset({";", "{", "}", "(", ",", "static", "extern", "const", "volatile", "register", "inline",
                          "typedef", "restrict", "auto"})


def _is_word(tok: str) -> bool:
    return bool(tok) and (tok[0].isalpha() or tok[0] == "_")


def _after_call(toks: list[tuple[str, int]], open_at: int) -> str:
    """What follows the `)` matching the `(` at toks[open_at]: "{", "word", another token, or "" (none)."""
    level = 0
    for k in range(open_at, len(toks)):
        t = toks[k][0]
        level += (t == "(") - (t == ")")
        if level == 0:
            after = toks[k + 1][0] if k + 1 < len(toks) else ""
            return "word" if _is_word(after) and after not in _C_KEYWORDS else after
    return ""


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


_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)", re.M)


def defined_macros(text: str) -> frozenset[str]:
    """Names the text `#define`s: the kept text the parse reads has their uses, not their expansions."""
    return frozenset(_DEFINE.findall(text)) if "define" in text else frozenset()


@register_format("c", (".c", ".h"), "C: brackets, literals, comments (lexer) and pycparser's parse",
                 kinds=KINDS, fixable=FIXABLE_KINDS)
def check(text: str) -> Report:
    """The lexer's errors; when there are none, pycparser's parse, reported as `syntax["parses"]` and, when it
    fails, a `parse_error` warning. Trivial without brackets or under the floor."""
    findings, kept, _depth = lex(text)
    errors = [f for f in findings if f.severity != WARNING]
    syntax = {"balanced": not any(f.kind.startswith(("bracket_", "pp_unclosed")) for f in errors)}
    if not errors and _depth > PYCPARSER_MAX_DEPTH:
        syntax["parses"] = False
        findings.append(Finding("parse_error", f"not parsed: bracket nesting {_depth} > {PYCPARSER_MAX_DEPTH}",
                                1, 1, severity=WARNING))
    elif not errors:
        p = parse_with_pycparser(kept, defined_macros(text))
        syntax["parses"] = p.ok
        if p.ok is None:
            findings.append(Finding("checker_error", p.message, p.line, p.col, severity=WARNING))
        elif not p.ok:  # a warning: the verdict is the lexer's; the parse is its own rate (syntax.parses)
            why = f" (maybe: {p.excuse})" if p.excuse else ""
            findings.append(Finding("parse_error", f"{p.message}{why}", p.line, p.col,
                                    fixable_by_append=p.at_end, severity=WARNING))
    else:
        syntax["parses"] = False
    trivial = trivial_reason(text, nonspace(kept), "" if _depth else NO_STRUCTURE, "outside comments and preprocessor lines")
    return Report(tuple(cap_findings(findings, MAX_FINDINGS)), syntax, trivial)


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
