"""The README and docs/ run as written: every `gencheck …` command they show uses flags that exist, the
README's commands table lists exactly the subcommands `gencheck --help` does, and every relative link
points at a file (and heading) that exists. Fast: argparse and text only, no training."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
import unicodedata
from pathlib import Path

import pytest

from gencheck.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
SHELL_FENCES = {"bash", "sh", "shell", "console"}
FENCE = re.compile(r"^(```+|~~~+)\s*([\w-]*)")
FLAG = re.compile(r"(?:^|(?<=[\s\[(|]))(--?[A-Za-z][\w-]*)")
OPERATORS = {"&&", "||", "|", ";", ">", ">>", "<", "&", "2>", "2>&1"}


def rel(page: Path) -> str:
    return str(page.relative_to(ROOT))


# --- reading the markdown --------------------------------------------------------------------------

def split_fences(text: str) -> tuple[str, list[tuple[str, list[str]]]]:
    """The text with fenced blocks blanked out (line numbers kept), and the blocks as (info, lines)."""
    prose, blocks, fence, info, body = [], [], None, "", []
    for line in text.split("\n"):
        m = FENCE.match(line)
        if fence is None and m:
            fence, info, body = m.group(1), m.group(2).lower(), []
            prose.append("")
        elif fence is not None and line.strip().startswith(fence[0] * 3) and line.strip().strip(fence[0]) == "":
            blocks.append((info, body))
            fence = None
            prose.append("")
        elif fence is not None:
            body.append(line)
            prose.append("")
        else:
            prose.append(line)
    return "\n".join(prose), blocks


def fenced_commands(page: Path) -> list[str]:
    """`gencheck …` commands in shell code blocks: at the start of a line, or after `&&` / `$ `."""
    cmds = []
    for info, lines in split_fences(page.read_text(encoding="utf-8"))[1]:
        if info not in SHELL_FENCES:
            continue
        joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))  # backslash continuations
        for line in joined.split("\n"):
            for m in re.finditer(r"(?:^|&&\s*|^\$\s+)(gencheck\s.*)", line):
                cmds.append(m.group(1))
    return cmds


def inline_commands(page: Path) -> list[str]:
    """`gencheck …` code spans in the prose and tables (a span may wrap onto the next line)."""
    prose, _ = split_fences(page.read_text(encoding="utf-8"))
    spans = []
    for para in re.split(r"\n\s*\n", prose):
        for m in re.finditer(r"`([^`]+)`", para):
            span = re.sub(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+", "", " ".join(m.group(1).split()).replace("\\|", "|"))
            if span.startswith("gencheck "):
                spans.append(span)
    return spans


def table_rows(page: Path) -> list[tuple[str, list[str]]]:
    """Rows of a commands table: the row's command, and every flag in the row's code spans (the
    description's flags belong to the same subcommand)."""
    prose, _ = split_fences(page.read_text(encoding="utf-8"))
    rows = []
    for line in prose.split("\n"):
        if line.startswith("| `gencheck "):
            spans = [s.replace("\\|", "|") for s in re.findall(r"`([^`]+)`", line)]
            rows.append((spans[0], [f for s in spans for f in FLAG.findall(s)]))
    return rows


def shell_words(cmd: str) -> list[str]:
    """The words of one command, up to the first shell operator or comment."""
    lex = shlex.shlex(cmd, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    lex.commenters = "#"
    words = []
    for w in lex:
        if w in OPERATORS or set(w) <= set("&|;<>"):
            break
        words.append(w)
    return words


# --- the parser --------------------------------------------------------------------------------------

def subparsers_of(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def resolve(words: list[str]) -> list[tuple[list[str], argparse.ArgumentParser]]:
    """The (path, parser) pairs a command's words name: `gencheck corpus list|build` is two."""
    assert words and words[0] == "gencheck", words
    parser = build_parser()
    found = [([], parser)]
    for word in words[1:]:
        if word.startswith("-") or word.startswith("["):
            break
        path, current = found[0]
        subs = subparsers_of(current)
        if not subs:
            break
        names = word.split("|")
        unknown = [n for n in names if n not in subs]
        assert not unknown, f"`{' '.join(words)}`: {unknown} is not a subcommand of `gencheck {' '.join(path)}`" \
                            f" (known: {', '.join(subs)})"
        found = [([*path, n], subs[n]) for n in names]
    return found


def help_text(path: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        main([*path, "--help"])
    assert exit_.value.code == 0, f"gencheck {' '.join(path)} --help exited {exit_.value.code}"
    return out.getvalue()


def check_flags(cmd: str, words: list[str], where: str) -> None:
    flags = FLAG.findall(" ".join(words))
    for path, parser in resolve(words):
        known = set(parser._option_string_actions)
        missing = [f for f in flags if f not in known]
        assert not missing, f"{where}: `{cmd}` uses {missing}, which `gencheck {' '.join(path)}` does not have"
        shown = help_text(path)
        for f in flags:
            assert re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", shown), \
                f"{where}: {f} is not in `gencheck {' '.join(path)} --help`"


# --- the tests ---------------------------------------------------------------------------------------

COMMANDS = [(rel(p), c, "fenced") for p in PAGES for c in fenced_commands(p)] + \
           [(rel(p), c, "inline") for p in PAGES for c in inline_commands(p)]


def test_the_readme_shows_commands():
    assert any(where == "README.md" and kind == "fenced" and c.startswith("gencheck run")
               for where, c, kind in COMMANDS)
    assert sum(where == "README.md" for where, _, _ in COMMANDS) >= 10


@pytest.mark.parametrize("where,cmd,kind", COMMANDS, ids=[f"{w}:{c[:60]}" for w, c, _ in COMMANDS])
def test_documented_command_uses_existing_flags(where, cmd, kind):
    words = shell_words(cmd) if kind == "fenced" else cmd.split()
    check_flags(cmd, words, where)
    if kind == "fenced":  # concrete commands parse as written: flag values, choices and positionals too
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                build_parser().parse_args(words[1:])
            except SystemExit as exc:
                pytest.fail(f"{where}: `{cmd}` does not parse (exit {exc.code}): {err.getvalue().strip()}")


ROWS = [(rel(p), cmd, flags) for p in PAGES for cmd, flags in table_rows(p)]


@pytest.mark.parametrize("where,cmd,flags", ROWS, ids=[f"{w}:{c[:40]}" for w, c, _ in ROWS])
def test_commands_table_row_names_flags_of_its_subcommand(where, cmd, flags):
    check_flags(cmd, [*cmd.split(), *flags], where)


def readme_table_commands() -> list[str]:
    prose, _ = split_fences(README.read_text(encoding="utf-8"))
    section = prose.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.split("\n") if line.startswith("| `gencheck ")]
    return [re.match(r"\| `([^`]+)`", row).group(1).replace("\\|", "|") for row in rows]


def test_gencheck_help_lists_the_subcommands_of_the_readme_table():
    table = readme_table_commands()
    in_table = [c.split()[1] for c in table]
    assert len(in_table) == len(set(in_table)), f"README commands table lists a subcommand twice: {in_table}"
    parser_subs = subparsers_of(build_parser())
    assert set(in_table) == set(parser_subs), (
        f"README commands table {sorted(in_table)} against gencheck's subcommands {sorted(parser_subs)}")
    listed = help_text([])
    block = listed.split("positional arguments:", 1)[1].split("options:", 1)[0]
    in_help = re.findall(r"^ {4}(\w[\w-]*)", block, flags=re.M)
    assert set(in_help) == set(in_table), f"`gencheck --help` lists {in_help}, the README table {in_table}"
    corpus_row = next(c for c in table if c.split()[1] == "corpus")
    assert set(corpus_row.split()[2].split("|")) == set(subparsers_of(parser_subs["corpus"])), corpus_row


def test_ci_reads_the_test_command_from_the_readme():
    """.ci/run runs the line after `# 2. run the tests` as written; it must be a pip command."""
    lines = README.read_text(encoding="utf-8").split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("# 2. run the tests"))
    assert lines[at + 1].startswith("pip") and "pytest" in lines[at + 1], lines[at + 1]
    assert any(line.startswith("# 1. install and run the main job") for line in lines)


# --- links -------------------------------------------------------------------------------------------

def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LNM")
    return kept.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    prose, _ = split_fences(page.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out = set()
    for line in prose.split("\n"):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            s = slug(m.group(1))
            out.add(s if s not in seen else f"{s}-{seen[s]}")
            seen[s] = seen.get(s, 0) + 1
    return out


def links(page: Path) -> list[str]:
    prose, _ = split_fences(page.read_text(encoding="utf-8"))
    prose = re.sub(r"`[^`\n]*`", "``", prose)
    return re.findall(r"\]\(([^)\s]+)\)", prose)


LINKS = [(p, target) for p in PAGES for target in links(p) if not re.match(r"[a-z][a-z+.-]*:", target)]


@pytest.mark.parametrize("page,target", LINKS, ids=[f"{rel(p)}->{t}" for p, t in LINKS])
def test_relative_link_points_at_something_that_exists(page, target):
    path, _, anchor = target.partition("#")
    dest = (page.parent / path).resolve() if path else page
    assert dest.exists(), f"{rel(page)}: link {target} points at {dest}, which does not exist"
    if anchor and dest.suffix == ".md":
        assert anchor in anchors(dest), f"{rel(page)}: link {target}: no heading #{anchor} in {dest.name}"


def test_the_docs_index_lists_every_page():
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    readme = README.read_text(encoding="utf-8")
    for page in DOCS:
        if page.name != "README.md":
            assert f"]({page.name})" in index, f"docs/README.md does not link {page.name}"
            assert f"](docs/{page.name})" in readme, f"README.md does not link docs/{page.name}"
