"""LaTeX structure validator: environments, braces, math modes, \\left/\\right, verbatim.

Two passes, both bounded:

1. `scan()` -- our own iterative, linear-time scanner (one regex-driven pass, an explicit stack,
   no recursion), so 10,000 nested braces or environments cost nothing special and never raise.
   It knows what LaTeX reads *raw*: verbatim-like environments, `\\verb|..|`, `\\url{..}`,
   `%` comments (but not `\\%`), and the bodies of macro definitions (`\\newcommand`, `\\def`,
   `\\newenvironment`, `\\let`, xparse's `\\NewDocumentCommand`, ...), which are opaque balanced
   brace groups -- `\\newcommand{\\be}{\\begin{equation}}` legitimately has a `\\begin` with no `\\end`.
   Text after a matched `\\end{document}` is ignored, as LaTeX ignores it.

2. pylatexenc's strict walker (`tolerant_parsing=False`) as a second opinion, run only when the
   scanner found nothing (so one defect is never counted twice), the nesting depth is at most
   `PYLATEXENC_MAX_DEPTH` (pylatexenc recurses once per nesting level) and the text is at most
   `PYLATEXENC_MAX_CHARS` long (`syntax["parses"]` is present only when it ran). It parses the
   text with every raw span found by the scanner blanked (newlines kept), reduced to a skeleton
   (each run of plain text and other control sequences becomes one "x"; `skeleton_offset` maps
   error positions back), with an empty macro database (macros take no arguments). That is ~10x
   faster than parsing the text with the default database, and keeps pylatexenc from misreading
   the opaque spans. Its error becomes one `parse_error` finding (fixable only when it merely ran
   out of text).

What the verdicts mean here (`base.verdict_of_report`):

- valid: neither pass found an error, and the text has structure: outside `%` comments it opens an
  environment (`\\begin`, verbatim-like ones included), a brace group (`{...}`, also the arguments of
  definitions and `\\url` read raw; not `\\{`), math (`$`, `$$`, `\\(`, `\\[`) or a `\\left`; and
  it has at least `base.MIN_CONTENT_CHARS` non-space characters outside comments;
- viable_prefix: the only errors are kinds in `FIXABLE_KINDS` (something still open at the end of the
  text, as in a truncated sample);
- invalid: any other error;
- trivial: no error, but none of that structure, or under the floor: an empty file, or 2,000 characters
  of `%` comment lines (what an undertrained model writes after a template's preamble) -- counted beside
  the rates, not in them. Its finding `trivial` says which.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .base import WARNING, Finding, Report, line_col, line_starts_of, matching_end, nonspace, trivial_reason
from .base import cap_findings as _cap_findings
from . import register_format

#: The finding taxonomy: kind -> description. Kinds in FIXABLE_KINDS can be repaired by appending.
KINDS: dict[str, str] = {
    "env_mismatch": "\\end{Y} closes an open \\begin{X} with X != Y (message names both)",
    "env_stray_end": "\\end{Y} with no environment open",
    "env_unclosed": "\\begin{X} still open at the end of the text (fixable by appending \\end{X})",
    "brace_unclosed": "'{' still open at the end of the text (fixable by appending '}')",
    "brace_stray_close": "'}' with no '{' open",
    "group_mismatch": "a '{' group and an environment cross: '{ \\begin{x} }' or '\\begin{x} { \\end{x}'",
    "math_unclosed": "$, $$, \\(, \\[ or a math environment still open: at the end of the text "
    "(fixable), or at a paragraph break (blank line), which TeX rejects (not fixable)",
    "math_mismatch": "a math delimiter or math environment closed by the wrong closer ($$ by $, "
    "\\( by \\], \\begin{equation} by \\end{align}, \\end{x} while $ is open, ...)",
    "math_stray_close": "\\) or \\] with no math open",
    "left_right_unpaired": "\\right with no \\left open, or a \\left closed by something else; "
    "a \\left still open at the end of the text is fixable",
    "verb_unterminated": "\\verb|... with no closing delimiter on its line (fixable only at the end of the text)",
    "parse_error": "pylatexenc's strict parser failed although the scanner found nothing "
    "(fixable when it only ran out of text)",
    "checker_error": "pylatexenc raised an unexpected exception, or recursed too deep (a gap in gencheck or "
    "pylatexenc, not a verdict on the text; warning: the verdict rests on the scanner, syntax.parses is null)",
    "truncated_findings": "more findings than MAX_FINDINGS; the rest are summarised in one finding",
    "trivial": "warning, and the verdict trivial: no error, but no \\begin, {...} group, math or \\left outside "
    "comments, or fewer than 20 non-space characters outside them (nothing to judge; in no rate)",
}
#: What a text lacks when it has none of the structure the scanner checks (the `trivial` finding's words).
NO_STRUCTURE = "no \\begin, {...} group or math"

#: Kinds that are fixable when they occur at the end of the text (the finding's own
#: `fixable_by_append` is authoritative: math_unclosed at a paragraph break is not fixable).
FIXABLE_KINDS = frozenset(
    {"env_unclosed", "brace_unclosed", "math_unclosed", "left_right_unpaired", "verb_unterminated", "parse_error"}
)

#: Environments whose body LaTeX reads verbatim: we jump to the exact `\end{name}`.
VERBATIM_ENVS = frozenset(
    {
        "verbatim", "verbatim*", "Verbatim", "Verbatim*", "BVerbatim", "LVerbatim", "lstlisting",
        "minted", "comment", "filecontents", "filecontents*", "alltt*", "spverbatim", "VerbatimOut",
        "pyverbatim", "lstlisting*", "sourcecode",
    }
)

MATH_ENVS = frozenset(
    {
        "math", "displaymath", "equation", "equation*", "align", "align*", "alignat", "alignat*",
        "gather", "gather*", "multline", "multline*", "flalign", "flalign*", "eqnarray", "eqnarray*",
        "dmath", "dmath*",
    }
)

#: Commands whose arguments LaTeX stores as code rather than typesetting: definitions (the name
#: counts as one argument; `\\newcommand\\x` or `\\newcommand{\\x}`) and hooks. Value: how many
#: mandatory arguments to read opaquely (each a `{...}` group or one control sequence); `[...]`
#: optional arguments in between are skipped and not counted.
_OPAQUE_ARGS: dict[str, int] = {
    "newcommand": 2, "renewcommand": 2, "providecommand": 2, "DeclareRobustCommand": 2,
    "newcommandx": 2, "renewcommandx": 2, "newrobustcmd": 2, "renewrobustcmd": 2,
    "newenvironment": 3, "renewenvironment": 3, "newenvironmentx": 3, "lstnewenvironment": 3,
    "NewDocumentCommand": 3, "RenewDocumentCommand": 3, "ProvideDocumentCommand": 3,
    "DeclareDocumentCommand": 3, "NewExpandableDocumentCommand": 3,
    "NewDocumentEnvironment": 4, "RenewDocumentEnvironment": 4, "DeclareDocumentEnvironment": 4,
    "ProvideDocumentEnvironment": 4, "newcolumntype": 2, "newtcolorbox": 2, "renewtcolorbox": 2,
    "newtcblisting": 2, "NewTColorBox": 3, "DeclareTColorBox": 3, "NewTCBListing": 3,
    "DeclareTCBListing": 3, "tcbset": 1, "csdef": 2, "csgdef": 2, "g@addto@macro": 2,
    "StopEventually": 1, "AtBeginDocument": 1, "AtEndDocument": 1, "AtEndOfClass": 1,
    "AtEndOfPackage": 1, "AtBeginEnvironment": 2, "AtEndEnvironment": 2,
    "BeforeBeginEnvironment": 2, "AfterEndEnvironment": 2, "AddToHook": 2, "DeclareOption": 2,
    "pretocmd": 4, "apptocmd": 4, "patchcmd": 5, "xpatchcmd": 5, "xpretocmd": 4, "xapptocmd": 4,
    # key=value settings of code listings, which name delimiters of the listed language (`{$$}`, `{\\%\\%}`)
    "lstset": 1, "lstdefinestyle": 2, "lstdefinelanguage": 2, "setminted": 1, "fvset": 1,
}
#: Environments whose first mandatory argument(s) are a column spec such as `>{$}c<{$}`:
#: environment -> number of mandatory arguments read opaquely after `\\begin{..}`.
_SPEC_ARGS: dict[str, int] = {
    "tabular": 1, "tabular*": 2, "array": 1, "tabularx": 2, "tabulary": 2, "longtable": 1,
    "longtable*": 1, "tblr": 1, "longtblr": 1, "talltblr": 1, "supertabular": 1, "xtabular": 1,
    "NiceTabular": 1, "NiceArray": 1, "tabu": 1, "longtabu": 1, "subarray": 1, "xltabular": 2,
}
#: tabu's width before its column spec: `\\begin{tabu} to 0.5\\linewidth {X[1,$]r}`, `spread 2em`.
_TABU_WIDTH = re.compile(r"[ \t]*(?:to|spread)[ \t]*[^{}\n]{1,40}?(?=\s*\{)")
#: Definitions that make a new verbatim-like environment: its name is read raw like `verbatim`.
_NEW_VERBATIM = re.compile(
    r"\\(?:DefineVerbatimEnvironment|RecustomVerbatimEnvironment|CustomVerbatimEnvironment"
    r"|lstnewenvironment|newtcblisting|renewtcblisting|NewTCBListing|DeclareTCBListing"
    r"|ProvideTCBListing|excludecomment|specialcomment)\*?\s*\{(?P<name>[^{}\\]+)\}"
    r"|\\newminted(?:\[(?P<mname>[^\]{}]*)\])?\{(?P<lang>[^{}\\]+)\}"
)
#: Environments defined in a class or package the text does not include, named as verbatim-like
#: (`smallverbatim`, `pythoncode` from `\\newminted`): read raw like `verbatim`. Not `listing`: with minted
#: that is a float around the code, and its body holds ordinary LaTeX.
_VERBATIM_NAME = re.compile(r"verbatim|^[a-z]+code\*?$", re.I)
#: `\\MakeShortVerb{\\|}`, `\\MakeShortVerb*\\|`, `\\MakeShortVerb |` (doc's argument is one token), and
#: listings' `\\lstMakeShortInline[opts]|` or `{|}`.
_SHORT_VERB = re.compile(
    r"\\(?:MakeShortVerb|DefineShortVerb)\*?[ \t]*(?:\{\\?(.)\}|\\?([^\sA-Za-z0-9{}\\%]))"
    r"|\\lstMakeShortInline(?:\[[^\]]*\])?(?:\{(.)\}|(.))"
)
#: Verbatim-like definitions made inside classes and packages, which a document loads but does not
#: show: package -> (environments read raw like `verbatim`, short-verbatim characters).
PACKAGE_VERBATIM: dict[str, tuple[frozenset[str], str]] = {
    # brandeis-problemset.sty (TeX Live 2022): four \\lstnewenvironment code listings
    "brandeis-problemset": (frozenset({"java", "scheme", "assembly", "pseudocode"}), ""),
    # rvdtx.sty, the documentation style of elsarticle and els-cas-templates: vquote shows LaTeX source
    "rvdtx": (frozenset({"vquote"}), ""),
    # denisbdoc.sty (Denis Bitouzé's documentation package): ×...× is inline code
    "denisbdoc": (frozenset(), "\u00d7"),
}
_LOADS = re.compile(r"\\(?:documentclass|usepackage|RequirePackage|LoadClass)[ \t]*(?:\[[^\]]*\])?[ \t]*\{([^{}]*)\}")
_TEX_DEFS = frozenset({"def", "gdef", "edef", "xdef"})
_VERB_CMDS = frozenset({"verb", "Verb", "spverb", "lstinline", "mintinline", "mint", "pyv"})
_URL_CMDS = frozenset({"url", "path", "href", "nolinkurl"})
_BRACKET_LIMIT = 1000  # an optional argument longer than this is not one (keeps rescans linear)
_BRACKET = re.compile(r"\\.|[{}\]]|\n[ \t]*\n", re.S)

MAX_FINDINGS = 100
#: pylatexenc recurses per nesting level; deeper documents are left to the iterative scanner alone.
PYLATEXENC_MAX_DEPTH = 60
#: pylatexenc is the slow pass (~1 MB/s on skeletons, worse on very long ones); longer texts are
#: left to the linear scanner, so a 5 MB sample is judged in about a second rather than timing out.
PYLATEXENC_MAX_CHARS = 200_000

_TOKEN = re.compile(
    r"(?P<comment>%[^\n]*)"
    r"|\\(?P<word>[A-Za-z@]+)"
    r"|\\(?P<sym>.)"
    r"|(?P<open>\{)|(?P<close>\})|(?P<dollar>\$\$?)"
    r"|(?P<par>\n[ \t]*(?=\n))",
    re.S,
)
_ENV_ARG = re.compile(r"[ \t]*\n?[ \t]*\{([^{}\\%\n]*)\}")
_RAW = re.compile(r"\\.|[{}]|%[^\n]*", re.S)
_RAW_NOCOMMENT = re.compile(r"\\.|[{}]", re.S)
_WS = re.compile(r"(?:\s|%[^\n]*)*")
_CS = re.compile(r"\\(?:[A-Za-z@]+|.)", re.S)
_NOT_NL = re.compile(r"[^\n]")
#: The skeleton pylatexenc parses: \begin{X}/\end{X}, \( \) \[ \], braces and dollars are kept;
#: every maximal run of anything else (text, other control sequences, comments) becomes one "x".
_SKELETON = re.compile(
    r"(?P<keep>\\(?:begin|end)[ \t]*\n?[ \t]*\{[^{}\\%\n]*\}|\\[()\[\]])"
    r"|(?:[^\\{}$%]+|\\(?!(?:begin|end)[ \t]*\n?[ \t]*\{[^{}\\%\n]*\})[A-Za-z@]+|\\[^A-Za-z@()\[\]]|\\\Z|%[^\n]*)+",
    re.S,
)

# Stack entry classes.
ENV, MENV, BRACE, MATH, LEFT = "env", "menv", "brace", "math", "left"
_FAMILY = {ENV: ENV, MENV: ENV, BRACE: BRACE, MATH: MATH, LEFT: LEFT}
_UNCLOSED_KIND = {
    ENV: "env_unclosed",
    MENV: "math_unclosed",
    BRACE: "brace_unclosed",
    MATH: "math_unclosed",
    LEFT: "left_right_unpaired",
}
_STRAY_KIND = {ENV: "env_stray_end", BRACE: "brace_stray_close", MATH: "math_stray_close", LEFT: "left_right_unpaired"}
#: How far below the top a closer may find its opener (keeps the scan linear).
_SEARCH_DEPTH = 16


@dataclass(slots=True)
class _Open:
    cls: str  # ENV, MENV, BRACE, MATH, LEFT
    key: str  # what closes it: "env:NAME", "}", "$", "$$", "\\)", "\\]", "\\right"
    text: str  # how it reads in messages: "\\begin{proof}", "{", "$", "\\left("
    pos: int


@dataclass(slots=True)
class _Raw:
    """A finding before line/col are computed (kept as offsets until the end, for speed)."""

    kind: str
    message: str
    pos: int
    opener: _Open | None = None
    fixable: bool = False


@dataclass
class ScanResult:
    """What the scanner learned: findings (offsets), raw spans (for blanking), max nesting depth, how many
    structures it opened (environments, brace groups, math, `\\left`; raw ones too) and how many non-space
    characters it read in comments (for `base.trivial_reason`)."""

    raws: list[_Raw]
    raw_spans: list[tuple[int, int]]
    max_depth: int
    opened: int = 0
    comment_chars: int = 0


def _mismatch_kind(a: str, b: str) -> str:
    """Kind for an opener of class `a` closed by a closer of class `b`."""
    if LEFT in (a, b):
        return "left_right_unpaired"
    if a in (MATH, MENV) or b in (MATH, MENV):
        return "math_mismatch"
    if a in (ENV, MENV) and b in (ENV, MENV):
        return "env_mismatch"
    return "group_mismatch"


def loaded_packages(text: str) -> dict[str, int]:
    """Classes and packages the text loads (`\\documentclass`, `\\usepackage{a,b}`, ...) -> offset after
    the first load."""
    if "\\usepackage" not in text and "\\documentclass" not in text and "Package" not in text \
            and "\\LoadClass" not in text:
        return {}
    out: dict[str, int] = {}
    for m in _LOADS.finditer(text):
        for name in m.group(1).split(","):
            name = name.strip()
            if name and name not in out:
                out[name] = m.end()
    return out


def learned_verbatim_envs(text: str, packages: dict[str, int] | None = None) -> frozenset[str]:
    """Environments the document declares verbatim-like (fancyvrb, listings, tcolorbox, minted,
    comment: `\\DefineVerbatimEnvironment{code}...` makes `\\begin{code}` raw), or gets from a package
    it loads (`PACKAGE_VERBATIM`)."""
    names = set()
    for pkg in packages or ():
        if pkg in PACKAGE_VERBATIM:
            names |= PACKAGE_VERBATIM[pkg][0]
    if "Verbatim" not in text and "listing" not in text and "comment" not in text and "minted" not in text \
            and "Listing" not in text:
        return frozenset(names)
    for m in _NEW_VERBATIM.finditer(text):
        if m.group("name"):
            names.add(m.group("name").strip())
        else:
            names.add(m.group("mname") or m.group("lang").strip() + "code")
    return frozenset(names)


def short_verb_chars(text: str, packages: dict[str, int] | None = None) -> tuple[str, int]:
    """Characters made short-verbatim (`\\MakeShortVerb{\\|}`: `|..|` reads raw), by the text or by a
    package it loads, and the offset from which they are active."""
    chars, first = "", len(text)
    for pkg, at in (packages or {}).items():
        for c in PACKAGE_VERBATIM.get(pkg, ((), ""))[1]:
            if c not in chars:
                chars += c
            first = min(first, at)
    if "ShortVerb" not in text and "ShortInline" not in text:
        return chars, first
    for m in _SHORT_VERB.finditer(text):
        c = next((g for g in m.groups() if g), None)
        if c and c not in chars and not c.isalnum() and not c.isspace() and c not in "\\{}%":
            chars += c
            first = min(first, m.end())
    return chars, first


_TOKEN_CACHE: dict[str, re.Pattern] = {}


def _token_pattern(short: str) -> re.Pattern:
    """The token regex, extended with an alternative for short-verbatim characters."""
    if not short:
        return _TOKEN
    pat = _TOKEN_CACHE.get(short)
    if pat is None:
        pat = re.compile(_TOKEN.pattern + "|(?P<short>[" + re.escape(short) + "])", re.S)
        _TOKEN_CACHE[short] = pat
    return pat


class _Scanner:
    """One left-to-right pass with an explicit stack; every method is O(work it consumes)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.stack: list[_Open] = []
        self.family_count = {ENV: 0, BRACE: 0, MATH: 0, LEFT: 0}
        self.math_delims = 0  # open $, $$, \(, \[ (not math environments)
        self.raws: list[_Raw] = []
        self.raw_spans: list[tuple[int, int]] = []
        self.max_depth = 0
        self.opened = 0  # structures opened, read raw or not: none at all makes the text trivial
        self.comment_chars = 0  # non-space characters in % comments
        packages = loaded_packages(text)
        self.verbatim_envs = VERBATIM_ENVS | learned_verbatim_envs(text, packages)
        self.short_verb, self.short_from = short_verb_chars(text, packages)

    # -- stack operations ---------------------------------------------------------------
    def push(self, cls: str, key: str, text: str, pos: int) -> None:
        self.stack.append(_Open(cls, key, text, pos))
        self.opened += 1
        self.family_count[_FAMILY[cls]] += 1
        if cls == MATH:
            self.math_delims += 1
        if len(self.stack) > self.max_depth:
            self.max_depth = len(self.stack)

    def pop_to(self, i: int) -> None:
        """Remove stack[i:], keeping the counters right."""
        for o in self.stack[i:]:
            self.family_count[_FAMILY[o.cls]] -= 1
            if o.cls == MATH:
                self.math_delims -= 1
        del self.stack[i:]

    def close(self, cls: str, key: str, closer: str, pos: int) -> None:
        """Close the innermost opener with `key`; report and recover when it is not on top."""
        stack = self.stack
        if stack and stack[-1].key == key:
            self.pop_to(len(stack) - 1)
            return
        fam = _FAMILY[cls]
        if self.family_count[fam] == 0:
            self.raws.append(_Raw(_STRAY_KIND[fam], f"{closer} with no matching opener", pos))
            return
        top = stack[-1]
        kind = _mismatch_kind(top.cls, cls)
        self.raws.append(_Raw(kind, f"{top.text} closed by {closer}", pos, top))
        lo = max(-1, len(stack) - 1 - _SEARCH_DEPTH)
        for i in range(len(stack) - 2, lo, -1):
            if stack[i].key == key:  # the closer's own opener is a little deeper: close down to it
                self.pop_to(i)
                return
        if _FAMILY[top.cls] == fam:  # same family, wrong name (a typo'd \end): treat as closing the top
            self.pop_to(len(stack) - 1)

    # -- raw readers --------------------------------------------------------------------
    def raw_group(self, pos: int, comments: bool = True) -> int:
        """`text[pos] == '{'`: return the index after its matching '}', reading the body opaquely.
        At EOF report brace_unclosed (fixable) and return n."""
        self.opened += 1
        end = _group_end(self.text, pos, self.n, _RAW if comments else _RAW_NOCOMMENT)
        if end >= 0:
            return end
        self.raws.append(_Raw("brace_unclosed", "{ never closed", self.n, _Open(BRACE, "}", "{", pos), True))
        return self.n

    def skip_ws(self, pos: int) -> int:
        return _WS.match(self.text, pos).end()

    def bracket_group(self, pos: int) -> int:
        """`text[pos] == '['`: index after the matching ']' (braces inside are respected), or `pos`
        when there is none within _BRACKET_LIMIT characters before a paragraph break."""
        depth = 0
        stop = min(self.n, pos + _BRACKET_LIMIT)
        for m in _BRACKET.finditer(self.text, pos + 1, stop):
            c = m.group()
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth < 0:
                    return pos
            elif c == "]":
                if depth == 0:
                    return m.end()
            elif c[0] == "\n":
                return pos
        return pos

    def opaque_args(self, pos: int, count: int) -> int:
        """Read `count` mandatory arguments (`{...}` groups or single control sequences) opaquely,
        skipping `[...]` optional arguments between them; return the index after the last one."""
        text, n = self.text, self.n
        end = pos
        while count > 0:
            q = self.skip_ws(end)
            if q >= n:
                break
            c = text[q]
            if c == "[":
                nq = self.bracket_group(q)
                if nq == q:
                    break
                end = nq
                continue
            if c == "{":
                end = self.raw_group(q)
            elif c == "\\":
                m = _CS.match(text, q)
                end = m.end()
            else:
                break
            count -= 1
        return end

    def definition(self, word: str, start: int, pos: int) -> int:
        """Skip a macro definition or hook opaquely; return where normal scanning resumes."""
        text, n = self.text, self.n
        p = pos
        if p < n and text[p] == "*":
            p += 1
        if word in _TEX_DEFS:
            q = self.skip_ws(p)
            m = _CS.match(text, q)
            if m is None and (q >= n or text[q] in "{}%$#&^_ \t\n"):
                return pos  # `\\cmd{\\def}`: a mention, not a definition
            name_end = m.end() if m else q + 1  # `\\def\\x` or an active character: `\\def~`
            brace = text.find("{", name_end, name_end + 200)
            if brace == -1 or "\n\n" in text[name_end:brace]:
                return pos
            end = self.raw_group(brace)
        elif word == "let":
            m = _CS.match(text, self.skip_ws(p))
            if m is None:
                return pos
            q = self.skip_ws(m.end())
            if q < n and text[q] == "=":
                q = self.skip_ws(q + 1)
            m2 = _CS.match(text, q)
            end = m2.end() if m2 else min(q + 1, n)
        else:
            end = self.opaque_args(p, _OPAQUE_ARGS[word])
        self.raw_spans.append((start, end))
        return end

    def verb(self, word: str, start: int, pos: int) -> int:
        """\\verb|..| and friends: the body is raw up to the same delimiter on the same line."""
        text, n = self.text, self.n
        p = pos
        if p < n and text[p] == "*":
            p += 1
        if word in ("lstinline", "mintinline", "mint"):
            if p < n and text[p] == "[":
                p = self.bracket_group(p)
            if word != "lstinline" and p < n and text[p] == "{":
                p = self.raw_group(p)  # the language name
        if p >= n:
            self.raws.append(_Raw("verb_unterminated", f"\\{word} at the end of the text", n, None, True))
            return n
        delim = text[p]
        if delim.isalpha() or delim.isspace() or delim == "}":  # `\\cmd{\\verb}` mentions, not uses
            return pos  # not a \verb use we understand; scan on normally
        close = "}" if delim == "{" and word != "verb" else delim
        end = text.find(close, p + 1)
        eol = text.find("\n", p + 1)
        if end == -1 or (eol != -1 and eol < end):
            at_eof = eol == -1
            self.raws.append(
                _Raw("verb_unterminated", f"\\{word}{delim}... has no closing {close} on its line", eol if eol != -1 else n,
                     _Open(BRACE, close, f"\\{word}{delim}", start), at_eof)
            )
            end_pos = n if at_eof else eol
            self.raw_spans.append((start, end_pos))
            return end_pos
        self.raw_spans.append((start, end + 1))
        return end + 1

    def short_verbatim(self, c: str, start: int, pos: int) -> int:
        """`|...|` after \\MakeShortVerb{\\|}: raw to the same character on the same line."""
        end = self.text.find(c, pos)
        eol = self.text.find("\n", pos)
        if end == -1 or (eol != -1 and eol < end):
            return pos  # unterminated: leave it to the normal scan
        self.raw_spans.append((start, end + 1))
        return end + 1

    def verbatim_env(self, name: str, start: int, body: int) -> int:
        self.opened += 1
        end_tag = "\\end{" + name + "}"
        end = self.text.find(end_tag, body)
        if end == -1:
            op = _Open(ENV, "env:" + name, "\\begin{" + name + "}", start)
            self.raws.append(_Raw("env_unclosed", f"\\begin{{{name}}} never closed", self.n, op, True))
            self.raw_spans.append((start, self.n))
            return self.n
        self.raw_spans.append((start, end + len(end_tag)))
        return end + len(end_tag)

    def left_right(self, word: str, start: int, pos: int) -> int:
        """\\left<delim> / \\right<delim>: consume the delimiter so `\\left\\{` or `\\right.` is no brace."""
        text, n = self.text, self.n
        p = self.skip_ws(pos)
        if p >= n:
            end = n
        else:
            m = _CS.match(text, p)
            end = m.end() if m else p + 1
        shown = "\\" + word + text[p:end]
        if word == "left":
            self.push(LEFT, "\\right", shown, start)
        else:
            self.close(LEFT, "\\right", shown, start)
        return end

    def dollar(self, tok: str, pos: int) -> int:
        """Inline `$` and display `$$`; a `$$` right after inline math opens is read as `$` `$`."""
        stack = self.stack
        top = stack[-1].key if stack else None
        if tok == "$$":
            if top == "$$":
                self.pop_to(len(stack) - 1)
                return pos + 2
            if top == "$":  # `$a$$b$`: the first $ closes inline math, the second is read anew
                self.pop_to(len(stack) - 1)
                return pos + 1
            self.push(MATH, "$$", "$$", pos)
            return pos + 2
        if top == "$":
            self.pop_to(len(stack) - 1)
        elif stack and stack[-1].cls in (LEFT, ENV, MENV) and any(o.key == "$" for o in stack[-_SEARCH_DEPTH:]):
            self.close(MATH, "$", "$", pos)  # `$\\left( x$`: the $ closes math, the \\left is unpaired
        elif top == "$$":
            if pos + 1 == self.n:  # `$$a$` at the very end: half of the closing `$$`, still open
                return pos + 1
            o = stack[-1]
            self.raws.append(_Raw("math_mismatch", "$$ closed by $", pos, o))
            self.pop_to(len(stack) - 1)
        else:
            self.push(MATH, "$", "$", pos)
        return pos + 1

    def paragraph(self, pos: int) -> None:
        """A blank line ends the paragraph: inline/display math delimiters may not span it."""
        stack = self.stack
        for i in range(len(stack) - 1, -1, -1):
            if stack[i].cls == MATH:
                o = stack[i]
                self.raws.append(_Raw("math_unclosed", f"{o.text} not closed before a paragraph break", pos, o))
                self.pop_to(i)
                return

    # -- main loop ----------------------------------------------------------------------
    def run(self) -> ScanResult:
        text, n = self.text, self.n
        search = _token_pattern(self.short_verb).search
        pos = 0
        while pos < n:
            m = search(text, pos)
            if m is None:
                break
            kind = m.lastgroup
            start, pos = m.start(), m.end()
            if kind == "word":
                pos = self.word(m.group("word"), start, pos)
            elif kind == "open":
                self.push(BRACE, "}", "{", start)
            elif kind == "close":
                self.close(BRACE, "}", "}", start)
            elif kind == "dollar":
                pos = self.dollar(m.group(), start)
            elif kind == "sym":
                c = m.group("sym")
                if c == "(":
                    self.push(MATH, "\\)", "\\(", start)
                elif c == "[":
                    self.push(MATH, "\\]", "\\[", start)
                elif c == ")":
                    self.close(MATH, "\\)", "\\)", start)
                elif c == "]":
                    self.close(MATH, "\\]", "\\]", start)
            elif kind == "par":
                if self.math_delims:
                    self.paragraph(start)
            elif kind == "short" and start >= self.short_from:
                pos = self.short_verbatim(m.group(), start, pos)
            elif kind == "comment":
                self.comment_chars += nonspace(m.group())
        self.unclosed()
        return ScanResult(self.raws, self.raw_spans, self.max_depth, self.opened, self.comment_chars)

    def mention(self, start: int, after: int) -> int:
        """`\\Macro{\\begin{X}}`, `\\addtocontents{toc}{\\protect\\begin{multicols}{2}}`: a brace group that holds
        nothing but one `\\begin`/`\\end` (with its arguments), right after a macro or its previous argument,
        is an argument that mentions the environment -- written to the table of contents, or typeset as
        documentation -- since, executed, it could never work.
        Return the index after the group's `}` (the group is read raw), or -1."""
        stack, text, n = self.stack, self.text, self.n
        if not stack or stack[-1].cls != BRACE or start - stack[-1].pos > 40:
            return -1
        brace = stack[-1].pos
        if text[brace + 1:start].strip() not in ("", "\\protect"):
            return -1
        if not (brace and text[brace - 1] in "}]") and not _ENDS_WITH_CS.search(text, max(0, brace - 40), brace):
            return -1  # a bare `{ \\begin{x} }` is executed, not an argument
        p = after
        for _ in range(4):  # the environment's own arguments
            q = self.skip_ws(p)
            if q < n and text[q] == "[":
                p = self.bracket_group(q)
                if p == q:
                    return -1
            elif q < n and text[q] == "{":
                p = _group_end(text, q, _BRACKET_LIMIT)
                if p < 0:
                    return -1
            else:
                break
        q = self.skip_ws(p)
        if q >= n or text[q] != "}":
            return -1
        self.raw_spans.append((stack[-1].pos, q + 1))
        self.pop_to(len(stack) - 1)
        return q + 1

    def word(self, word: str, start: int, pos: int) -> int:
        """Dispatch a control word; return where scanning resumes."""
        if word == "begin" or word == "end":
            m = _ENV_ARG.match(self.text, pos)
            if m is None:
                return pos
            end = self.mention(start, m.end())
            if end >= 0:
                return end
            name = m.group(1)
            if word == "begin":
                if name in self.verbatim_envs or _VERBATIM_NAME.search(name):
                    return self.verbatim_env(name, start, m.end())
                self.push(MENV if name in MATH_ENVS else ENV, "env:" + name, "\\begin{" + name + "}", start)
                if name in _SPEC_ARGS:  # a column spec such as >{$}c<{$} is read opaquely
                    w = _TABU_WIDTH.match(self.text, m.end()) if name in ("tabu", "longtabu") else None
                    end = self.opaque_args(w.end() if w else m.end(), _SPEC_ARGS[name])
                    self.raw_spans.append((m.end(), end))
                    return end
                return m.end()
            cls = MENV if name in MATH_ENVS else ENV
            self.close(cls, "env:" + name, "\\end{" + name + "}", start)
            if name == "document" and not self.stack:  # LaTeX ignores everything after \end{document}
                self.raw_spans.append((m.end(), self.n))
                return self.n
            return m.end()
        if word in _OPAQUE_ARGS or word in _TEX_DEFS or word == "let":
            return self.definition(word, start, pos)
        if word in _VERB_CMDS:
            return self.verb(word, start, pos)
        if word in _URL_CMDS:
            p = self.skip_ws(pos)
            if p < self.n and self.text[p] == "{":
                end = self.raw_group(p, comments=False)
                self.raw_spans.append((start, end))
                return end
            return pos
        if word == "left" or word == "right":
            return self.left_right(word, start, pos)
        return pos

    def unclosed(self) -> None:
        """Everything still open at the end of the text: fixable by appending its closer."""
        for o in self.stack:
            kind = _UNCLOSED_KIND[o.cls]
            self.raws.append(_Raw(kind, f"{o.text} never closed", self.n, o, True))


_ENDS_WITH_CS = re.compile(r"\\[A-Za-z@]+\*?$")


def _group_end(text: str, pos: int, limit: int, pattern: re.Pattern = _RAW_NOCOMMENT) -> int:
    """`text[pos] == '{'`: the index after its matching '}' within `limit` characters, else -1.
    `pattern` tokenizes escapes and braces (and `%` comments, with `_RAW`)."""
    return matching_end(pattern.finditer(text, pos, min(len(text), pos + limit)), "{", "}")


def scan(text: str) -> ScanResult:
    """Run the iterative scanner alone (no pylatexenc)."""
    return _Scanner(text).run()


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """Replace each span by spaces, keeping newlines, so offsets and line numbers are unchanged."""
    if not spans:
        return text
    parts = []
    last = 0
    for a, b in sorted(spans):
        if a < last:
            a = last
        if b <= a:
            continue
        parts.append(text[last:a])
        parts.append(_NOT_NL.sub(" ", text[a:b]))
        last = b
    parts.append(text[last:])
    return "".join(parts)


_ENV_NAME_ODD = re.compile(r"[^A-Za-z0-9*._\-{}\\\s]")


def _skeleton_piece(m: re.Match) -> str:
    keep = m.group("keep")
    if keep is None:
        return "x"
    # pylatexenc rejects names such as `Options+` or `a:b` that LaTeX accepts; the scanner has already
    # matched names exactly, so a same-length stand-in character keeps offsets and pairs intact
    return _ENV_NAME_ODD.sub("_", keep) if keep[1] in "be" else keep


def skeleton(text: str) -> str:
    """The structural skeleton of (blanked) text: pylatexenc reads it ~10x faster than the text."""
    return _SKELETON.sub(_skeleton_piece, text)


def skeleton_offset(text: str, skel_pos: int) -> int:
    """Map an offset in `skeleton(text)` back to an offset in `text` (run only on an error)."""
    out = 0  # position in the skeleton
    last = 0  # position in text after the previous match
    for m in _SKELETON.finditer(text):
        gap = m.start() - last  # unmatched characters are copied one for one
        if skel_pos < out + gap:
            return last + (skel_pos - out)
        out += gap
        piece = _skeleton_piece(m)
        if skel_pos < out + len(piece):
            return m.start() + (skel_pos - out if m.group("keep") is not None else 0)
        out += len(piece)
        last = m.end()
    return min(len(text), last + (skel_pos - out))


_WALKER_DB = None


def _walker_db():
    """An empty pylatexenc context: macros/environments/specials take no arguments (built once)."""
    global _WALKER_DB
    if _WALKER_DB is None:
        from pylatexenc import macrospec

        db = macrospec.LatexContextDb()
        db.set_unknown_macro_spec(macrospec.MacroSpec(""))
        db.set_unknown_environment_spec(macrospec.EnvironmentSpec(""))
        db.set_unknown_specials_spec(macrospec.SpecialsSpec(""))
        _WALKER_DB = db
    return _WALKER_DB


def pylatexenc_error(text: str) -> Finding | None:
    """pylatexenc's strict parse of `text` (already blanked), run on its skeleton; its first error
    as a Finding located in `text`, or None. Any other exception from pylatexenc (including
    RecursionError) is a `checker_error` warning: a second opinion must never raise, and its own
    failure must stay visible instead of passing for "parses"."""
    import logging
    import warnings

    from pylatexenc.latexwalker import LatexWalker, LatexWalkerError

    logging.getLogger("pylatexenc").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            LatexWalker(skeleton(text), tolerant_parsing=False, latex_context=_walker_db()).get_latex_nodes()
    except LatexWalkerError as e:
        msg = (str(getattr(e, "msg", "")) or "parse error").splitlines()[0]
        pos = getattr(e, "pos", None)
        pos = len(text) if pos is None else skeleton_offset(text, pos)
        line, col = line_col(text, max(0, min(pos, len(text))))
        return Finding("parse_error", f"pylatexenc: {msg}", line, col, fixable_by_append="end of stream" in msg)
    except Exception as e:  # noqa: BLE001 -- includes RecursionError
        return Finding("checker_error", f"pylatexenc raised {type(e).__name__}: {e}"[:300], 1, 1, severity=WARNING)
    return None


def _finding(text: str, starts: list[int], r: _Raw) -> Finding:
    line, col = line_col(text, r.pos, starts)
    if r.opener is None:
        return Finding(r.kind, r.message, line, col, fixable_by_append=r.fixable)
    ol, oc = line_col(text, r.opener.pos, starts)
    return Finding(
        r.kind, r.message, line, col, opener=r.opener.text, opener_line=ol, opener_col=oc,
        distance=r.pos - r.opener.pos, fixable_by_append=r.fixable,
    )


def cap_findings(findings: list[Finding], limit: int = MAX_FINDINGS) -> list[Finding]:
    """See `base.cap_findings` (kept here for callers of the LaTeX module)."""
    return _cap_findings(findings, limit)


@register_format("latex", (".tex",), "LaTeX: environments, braces, math modes, \\left/\\right, verbatim",
                 kinds=KINDS, fixable=FIXABLE_KINDS)
def check(text: str) -> Report:
    """Scanner findings; if none, pylatexenc's strict verdict on the blanked text; trivial when the scanner
    opened nothing or read under the floor outside comments."""
    res = scan(text)
    starts = line_starts_of(text) if res.raws else []
    findings = [_finding(text, starts, r) for r in res.raws]
    ran_strict = False
    if not findings and res.max_depth <= PYLATEXENC_MAX_DEPTH and len(text) <= PYLATEXENC_MAX_CHARS:
        ran_strict = True
        err = pylatexenc_error(_blank(text, res.raw_spans))
        if err is not None:
            findings.append(err)
    balanced = not any(f.kind not in ("parse_error", "checker_error") for f in findings)
    syntax = {"balanced": balanced}
    if ran_strict:
        syntax["parses"] = None if any(f.kind == "checker_error" for f in findings) else not findings
    trivial = trivial_reason(text, nonspace(text) - res.comment_chars, "" if res.opened else NO_STRUCTURE)
    return Report(tuple(cap_findings(findings)), syntax, trivial)
