"""Imported by the validator pool's fork server: judge one small text per format, so that every lazily
built parser (markdown-it's block parser, pycparser's tables, pylatexenc) exists before workers are
forked from the server, and each worker starts warm instead of paying ~50 ms to build them again."""

from __future__ import annotations

from . import FORMATS, validate

_TEXTS = {
    "latex": "\\begin{document}\n\\section{A} $x$ {\\bf b} \\verb|v|\n\\end{document}\n",
    "c": "#include <stdio.h>\nint main(void) { int a[2] = {0}; return a[0]; }\n",
    "markdown": "# T\n\nA `code` [link](u) <b>b</b>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```js\nx\n```\n",
}

for _name in FORMATS.names():
    if _name in _TEXTS:
        try:
            validate(_TEXTS[_name], _name)
        except Exception:  # noqa: BLE001 -- warming is an optimisation; a worker reports real failures
            pass
