"""The C validator: the lexer decides the verdict, pycparser's opinion is a warning."""

from __future__ import annotations

import pytest

from gencheck.validators import FORMATS, INVALID, VALID, VERDICTS, VIABLE_PREFIX, WARNING, validate
from gencheck.validators import c

GOOD = r'''#include <stdio.h>
#include <stdint.h>
#define BEGIN {
#define LINE "unterminated in a macro is not our business
typedef struct node { int v; struct node *next; } Node;
/* a comment with ( [ { and "quotes' */
// another one: }
#ifdef __cplusplus
extern "C" {
#endif
static size_t count(const Node *n, uint8_t flag) {
    size_t k = 0;
    int arr[4] = {0};
    arr[1] = arr[2];
    char q = '"', b = '\'';
    const char *s = "a } string ) with \" escapes\
continued";
#if 0
    }}} ((( this is skipped
#endif
#ifdef FAST
    while (n) {
#else
    while (n != NULL) {
#endif
        k += (n->v > 0) ? 1 : 0;
        n = n->next;
    }
    return k + __builtin_expect(flag, 0) + (q == b);
}
#ifdef __cplusplus
}
#endif
'''


#: A line with structure: what the tests append to a directive to see it judged valid (a text without
#: brackets, or shorter than the floor, is trivial).
CODE = "int main(void) { return 0; }\n"


def kinds(text):
    return [f.kind for f in validate(text, "c").findings if f.severity != WARNING]


def test_registered():
    assert FORMATS.get("c").extensions == (".c", ".h")


def test_real_looking_code_valid_and_parses():
    v = validate(GOOD, "c")
    assert v.verdict == VALID, v.findings
    assert v.syntax == {"balanced": True, "parses": True}


def test_header_types_are_learned():
    v = validate("u32 f(u32 x) { Node *n = 0; my_type v; return x; }", "c")
    assert v.syntax["parses"] is True


def test_unknown_macro_is_a_warning_not_invalid():
    v = validate('MODULE_LICENSE("GPL");\nint x;', "c")
    assert v.verdict == VALID
    assert v.syntax["parses"] is False
    (f,) = v.findings
    assert f.kind == "parse_error" and f.severity == WARNING and (f.line, f.col) == (1, 16)


def test_parse_error_is_a_located_warning_beside_the_verdict():
    v = validate("int main(void) {\n  x = ;\n  return 0;\n}", "c")
    (f,) = v.findings
    assert f.kind == "parse_error" and f.line == 2 and f.severity == WARNING
    assert v.verdict == VALID and v.syntax == {"balanced": True, "parses": False}


def test_unclosed_bracket_is_viable_prefix():
    v = validate("int f(int x) {\n  if (x) {\n    return 1;", "c")
    assert v.verdict == VIABLE_PREFIX
    assert [f.kind for f in v.findings] == ["bracket_unclosed", "bracket_unclosed"]
    assert (v.findings[0].opener_line, v.findings[0].opener_col) == (1, 14)


def test_mismatch_and_stray():
    v = validate("int f() { a[1) ; }", "c")
    assert v.verdict == INVALID
    f = v.findings[0]
    assert f.kind == "bracket_mismatch" and f.message == "[ closed by )" and (f.line, f.col) == (1, 14)
    assert f.distance == 2
    assert kinds("int x; }") == ["bracket_stray_close"]


def test_deleted_close_brace_before_next_function():
    text = "int f() { if (a) { b(); }\nint g() { return 0; }\n"
    assert validate(text, "c").verdict == VIABLE_PREFIX  # still fixable by appending "}"
    assert validate("int f() { g(1; }", "c").verdict == INVALID


def test_unterminated_literals_and_comments():
    assert kinds('char *s = "abc;\nint x;') == ["string_unterminated"]
    assert validate('char *s = "abc;\nint x;', "c").verdict == INVALID
    assert validate('char *s = "abc', "c").verdict == VIABLE_PREFIX
    assert kinds("x = 'a;\ny;") == ["char_unterminated"]
    assert validate("int x; /* abc", "c").verdict == VIABLE_PREFIX
    assert kinds("int x; /* abc") == ["comment_unterminated"]
    assert validate("#error don't do this\n" + CODE, "c").verdict == VALID


def test_preprocessor_groups():
    assert validate("#if 1\nint x;\n", "c").verdict == VIABLE_PREFIX  # #if open at the end
    v = validate("#endif\n" + CODE, "c")
    assert v.verdict == VALID and v.findings[0].kind == "pp_stray" and v.findings[0].severity == WARNING


def test_deep_nesting_no_exception():
    for text in ("(" * 10_000, "(" * 10_000 + ")" * 10_000, "{" * 10_000 + "}" * 10_000, "int x = " + "(" * 500 + "1" + ")" * 500 + ";"):
        assert validate(text, "c").verdict in VERDICTS


@pytest.mark.parametrize("text", ["", "   \n", "\x00", "'", '"', "/*", "/", "#", "#if", "\\", "\udcff"])
def test_edge_inputs(text):
    assert validate(text, "c").verdict in VERDICTS


def test_taxonomy():
    for t in [GOOD, "int f() { a[1) ; } }", "x = 'a;\n", "/* x", "#if 1\n("]:
        for f in validate(t, "c").findings:
            assert f.kind in c.KINDS and f.line >= 1 and f.col >= 1
            if f.fixable_by_append:
                assert f.kind in c.FIXABLE_KINDS


def test_gcc_second_opinion():
    ok = c.gcc_syntax_ok("int main(void) { return 0; }\n")
    if ok is None:
        pytest.skip("no gcc")
    assert ok is True
    assert c.gcc_syntax_ok("int main(void) { return 0 }\n") is False
    op = c.gcc_opinion("int main(void) {\n  return 0\n}\n")
    assert op.ok is False and op.message.startswith("2:11: expected")  # gcc's first error, located


def test_gcc_missing_is_no_opinion(monkeypatch):
    monkeypatch.setattr(c.shutil, "which", lambda name: None)
    op = c.gcc_opinion("int x;\n")
    assert op.ok is None and "no gcc" in op.message


def test_error_directive_continued_over_lines():
    # translation phase 2 splices `\`-newline before tokenizing: one #error directive, one string
    text = '#if !X\n#  error "WAL mode needs NT, compile\\\n with SQLITE_OMIT_WAL."\n#endif\n' + CODE
    assert validate(text, "c").verdict == VALID
    text = '#if A\n# error "Two or more of:\\\n are defined but\\\n at most one is allowed:\\\n A, B"\n#endif\n' + CODE
    assert validate(text, "c").verdict == VALID
    assert validate("#warning don't\\\n do that, it's slow\n" + CODE, "c").verdict == VALID
    # CRLF line ends: the continuation is backslash, CR, LF
    assert validate('#error "a\\\r\n b"\r\n' + CODE.replace("\n", "\r\n"), "c").verdict == VALID


def test_error_directive_without_continuation_ends_at_its_line():
    # no backslash: the next line is code, and its quote really opens an unterminated string
    text = '#if !X\n#  error "WAL mode needs NT, compile\n with SQLITE_OMIT_WAL."\n#endif\nint x;\n'
    v = validate(text, "c")
    assert v.verdict == INVALID
    (f,) = [f for f in v.findings if f.severity != WARNING]
    assert f.kind == "string_unterminated" and (f.opener_line, f.opener_col) == (3, 23)  # where gcc points
    # code after a continued #error is still checked
    assert kinds('#error "a\\\n b"\nint f() { g(1; }\n') == ["bracket_mismatch"]
