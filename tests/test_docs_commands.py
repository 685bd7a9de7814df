"""#37: every `gencheck …` command written in README.md and docs/*.md (fenced blocks and inline code) is one
the command line accepts today: parsed by the real parser, so a renamed flag, a removed choice or a value
out of range in the docs fails here. Usage lines (`[--profile smoke|cpu]`, `…`) and a bare command name in
prose are left out; running them is the other tests' work (the README's commands 1 and 2 run in CI)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from gencheck.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMANDS = ("run", "train", "sample", "validate", "calibrate", "report", "compare", "check", "corpus", "cells",
            "probe")
USAGE = re.compile(r"[\[\]|…<>{}]|\.\.\.|\bRUN_DIR\b.*\bN\b")


def written_commands(path: Path) -> list[str]:
    """The `gencheck <command> …` lines of one markdown file: in fenced blocks (line by line) and inline code
    spans (which may wrap over lines), up to a shell comment."""
    text = path.read_text(encoding="utf-8")
    fenced = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    lines = [line for block in fenced for line in block.splitlines()]
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    lines += [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]
    out = []
    for line in lines:
        m = re.search(r"(?:^|&& |\$ |\s)(gencheck (?:%s)\b.*)" % "|".join(COMMANDS), " " + line.strip())
        if m:
            out.append(m.group(1).split(" #")[0].strip())
    return out


CASES = [(p.name, c) for p in DOCS for c in written_commands(p)
         if not USAGE.search(c) and len(c.split()) > 2 and "--model-entry" != c.split()[-1]]


def test_the_docs_have_commands_to_check():
    assert len(CASES) >= 40 and any(c.startswith("gencheck run --corpus latex") for _, c in CASES)


@pytest.mark.parametrize("doc,command", CASES, ids=[f"{d}:{c[:60]}" for d, c in CASES])
def test_a_command_in_the_docs_parses(doc, command, capsys):
    try:
        # a one-letter placeholder stands for a number there (`--seed N`, `--seed S`)
        build_parser().parse_args([re.sub(r"^[A-Z]$", "1", a) for a in shlex.split(command)[1:]])
    except SystemExit as exc:  # --help exits 0; a refusal exits 2 with its one line
        assert exc.code == 0, f"{doc}: `{command}` is refused: {capsys.readouterr().err.strip()}"


@pytest.mark.parametrize("command", [[c] for c in COMMANDS] + [["corpus", a] for a in ("list", "build", "info")])
def test_every_commands_help_has_an_example(command, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([*command, "--help"])
    text = capsys.readouterr().out
    assert exc.value.code == 0 and re.search(r"^examples?:", text, re.M), f"gencheck {' '.join(command)} --help"
