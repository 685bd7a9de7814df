"""Progress for long work: a rich bar on a terminal, a plain periodic line in CI logs (stderr)."""

from __future__ import annotations

import io
import re
import sys
import time
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

#: Control characters a terminal acts on (C0 but newline and tab, DEL, C1), each shown as a visible picture;
#: a lone surrogate (a byte of a file that is not UTF-8, kept by surrogateescape) as U+FFFD, since no
#: terminal encoding can write it.
_CONTROL = {c: chr(0x2400 + c) for c in range(0x20) if c not in (0x09, 0x0A)}
_CONTROL.update({0x7F: "\u2421", **{c: "\ufffd" for c in range(0x80, 0xA0)}})
_CONTROL.update({c: "\ufffd" for c in range(0xD800, 0xE000)})
_HAS_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def show_controls(text: str) -> str:
    """`text` with every control character a terminal would act on (ESC, OSC, BEL, C1 CSI...) replaced by a
    visible picture of it (U+2400 block), so that a file name or a results.json field can never set the
    terminal's title or move its cursor. rich escapes markup, not control characters."""
    return text.translate(_CONTROL) if _HAS_CONTROL.search(text) else text


class SafeConsole(Console):
    """A rich Console that shows control characters in what it prints instead of sending them.

    Every text segment is passed through show_controls on its way out; rich's own control segments
    (cursor moves of a live progress bar) and its styles (added when the buffer is written) are untouched,
    so colours and bars work as before. Every console gencheck prints data on is one of these."""

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None):
        for seg in super().render(renderable, options):
            if seg.control is None and _HAS_CONTROL.search(seg.text):
                seg = Segment(show_controls(seg.text), seg.style, seg.control)
            yield seg


console = SafeConsole(stderr=True, soft_wrap=True)  # a log line is never folded, an error stays one line


class Reporter:
    """`update(done, **fields)`; fields are shown after the bar (e.g. chars/s, loss).

    `start` is the count already done when this process began (a resumed run's step): the eta is this
    process's rate over what is left, not its elapsed time spread over work an earlier process did."""

    def __init__(self, progress: Progress | None, task, total: int, label: str, every_s: float,
                 start: int = 0) -> None:
        self.progress, self.task, self.total, self.label, self.begun = progress, task, total, label, start
        self.every_s, self.last_print, self.start = every_s, 0.0, time.perf_counter()
        self.finished = False  # the line at completion is printed once, however often the total is reported

    def update(self, done: int, **fields: object) -> None:
        text = "  ".join(f"{k} {v}" for k, v in fields.items())
        if self.progress is not None:
            self.progress.update(self.task, completed=done, fields=text)
            return
        if self.every_s == float("inf"):  # quiet
            return
        now = time.perf_counter()
        last = done >= self.total and not self.finished
        if (now - self.last_print >= self.every_s and not self.finished) or last:
            self.last_print, self.finished = now, self.finished or done >= self.total
            elapsed = now - self.start
            ran = done - self.begun
            eta = elapsed / ran * (self.total - done) if ran > 0 else float("nan")
            console.print(f"{self.label}: {done}/{self.total}  {text}  elapsed {elapsed:.0f}s  eta {eta:.0f}s",
                          highlight=False)


@contextmanager
def progress(label: str, total: int, every_s: float = 15.0, quiet: bool = False,
             start: int = 0) -> Iterator[Reporter]:
    """A bar on a terminal, a line every `every_s` otherwise; `quiet`: neither (work inside other work).
    `start`: what is already done (a resumed run), so that the bar's speed and eta count from there."""
    if quiet:
        yield Reporter(None, None, total, label, float("inf"), start)
    elif console.is_terminal:
        cols = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[fields]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
        with Progress(*cols, console=console, transient=False) as p:
            yield Reporter(p, p.add_task(label, total=total, completed=start, fields=""), total, label,
                           every_s, start)
    else:
        yield Reporter(None, None, total, label, every_s, start)


class _LabelledLines(io.TextIOBase):
    """A stream that starts every line with a label and is never a terminal, so that grid points running
    side by side print plain periodic lines that say whose they are, not bars that overwrite each other."""

    def __init__(self, stream, label: str) -> None:
        self.stream, self.label, self.pending = stream, label, ""

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.stream.write(f"[{self.label}] {line}\n")
        self.stream.flush()
        return len(text)

    def isatty(self) -> bool:
        return False

    def flush(self) -> None:
        self.stream.flush()


def label_output(label: str) -> None:
    """From now on this process's log lines and progress start with `[label]` (a grid point's worker)."""
    console.file = _LabelledLines(sys.stderr, label)


def log(message: str) -> None:
    console.print(message, highlight=False)


def is_tty() -> bool:
    return sys.stderr.isatty()


def print_rows(title: str, columns: tuple[str, ...], cells: list[list[str]], rows: list[dict],
               json_path: str | None = None) -> None:
    """A benchmark's table on stdout (right-aligned figures), and its rows as JSON where asked: every
    script under benchmarks/ ends this way."""
    import json

    from rich.table import Table

    t = Table(title=title)
    for head in columns:
        t.add_column(head, justify="right")
    for row in cells:
        t.add_row(*row)
    SafeConsole().print(t)
    if json_path:
        with open(json_path, "w") as fh:
            json.dump(rows, fh, indent=2)
