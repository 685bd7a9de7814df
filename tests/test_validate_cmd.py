"""`gencheck validate`: inputs, output forms and exit statuses."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from gencheck import validate_cmd


def parse(argv):
    parser = argparse.ArgumentParser(prog="gencheck")
    sub = parser.add_subparsers(dest="command")
    validate_cmd.add_parser(sub)
    return parser.parse_args(["validate", *argv])


@pytest.fixture()
def files(tmp_path):
    (tmp_path / "good.tex").write_text("\\begin{document}$x$\\end{document}\n")
    (tmp_path / "bad.tex").write_text("\\begin{proof}x\\end{lemma}\n")
    (tmp_path / "ok.md").write_text("# The title\n\nSome text under it.\n")
    (tmp_path / "cut.c").write_text("int main(void) {\n")
    (tmp_path / "notes.txt").write_text("ignored in directories\n")
    return tmp_path


def test_all_valid_exit_0(files, capsys):
    assert validate_cmd.run(parse([str(files / "good.tex"), str(files / "ok.md"), "--workers", "1"])) == 0
    out = capsys.readouterr().out
    assert "2 inputs: 2 valid" in out


def test_json_lines_and_exit_1(files, capsys):
    code = validate_cmd.run(parse(["--json", str(files)]))
    assert code == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by = {r["path"].rsplit("/", 1)[-1]: r for r in rows}
    assert set(by) == {"good.tex", "bad.tex", "ok.md", "cut.c"}
    assert by["bad.tex"]["verdict"] == "invalid"
    f = by["bad.tex"]["findings"][0]
    assert f["kind"] == "env_mismatch" and f["opener"] == "\\begin{proof}" and f["line"] == 1 and f["distance"] == 14
    assert set(f) == {"kind", "message", "line", "col", "opener", "distance"}
    assert by["cut.c"]["verdict"] == "viable_prefix" and by["cut.c"]["format"] == "c"
    assert set(by["ok.md"]) == {"path", "format", "verdict", "syntax", "findings", "seconds", "versions"}
    assert by["ok.md"]["versions"]["markdown-it-py"] and by["good.tex"]["versions"]["pylatexenc"]


def test_stdin_needs_format(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("a { b"))
    assert validate_cmd.run(parse(["-"])) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--format" in err
    monkeypatch.setattr("sys.stdin", io.StringIO("a { b"))
    assert validate_cmd.run(parse(["--format", "latex", "--json", "-"])) == 1
    row = json.loads(capsys.readouterr().out)
    assert row["path"] == "-" and row["verdict"] == "viable_prefix"


def test_usage_errors(files, capsys):
    assert validate_cmd.run(parse(["--format", "latx", str(files / "good.tex")])) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "latex" in err
    assert validate_cmd.run(parse([str(files / "missing.tex")])) == 2
    assert validate_cmd.run(parse([str(files / "notes.txt")])) == 2
    assert "format" in capsys.readouterr().err


def test_help_has_example():
    parser = argparse.ArgumentParser(prog="gencheck")
    p = validate_cmd.add_parser(parser.add_subparsers())
    assert "gencheck validate" in p.format_help() and "--json" in p.format_help()


def test_gcc_column_is_a_second_opinion(files, capsys):
    from gencheck.validators.c import gcc_opinion

    if gcc_opinion("int x;\n").ok is None:
        pytest.skip("no gcc on this machine")
    # a type error: the structure is right (pycparser parses it), only a compiler sees what is wrong
    (files / "typo.c").write_text("int main(void) {\n  int x; x.y = 1;\n  return 0;\n}\n")
    code = validate_cmd.run(parse(["--json", "--gcc", str(files / "typo.c"), str(files / "ok.md")]))
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0  # our checks find the structure right; gcc never changes the verdict
    assert rows[0]["verdict"] == "valid" and rows[0]["gcc"]["ok"] is False and rows[0]["gcc"]["message"].startswith("2:11:")
    assert "gcc" not in rows[1]  # only C inputs are compiled
    validate_cmd.run(parse(["--gcc", str(files / "typo.c")]))
    table = capsys.readouterr().out
    assert "gcc" in table and "2:11:" in table


def test_kinds_prints_every_formats_taxonomy(capsys):
    from gencheck.validators import FORMATS

    assert validate_cmd.run(parse(["--kinds"])) == 0
    out = capsys.readouterr().out
    for name in FORMATS.names():
        spec = FORMATS.get(name)
        assert spec.kinds and spec.fixable <= set(spec.kinds), name  # every format documents its kinds
        for kind in spec.kinds:
            assert kind in out
    assert "timeout" in out and "crash" in out
    assert validate_cmd.run(parse(["--kinds", "--format", "nope"])) == 2


def test_no_paths_is_a_usage_error(capsys):
    assert validate_cmd.run(parse([])) == 2
    assert "PATH" in capsys.readouterr().err


def test_valid_c_file_reports_parses_true_and_the_parser_version(tmp_path, capsys):
    from importlib.metadata import version

    src = tmp_path / "ok.c"
    src.write_text("#include <stdio.h>\nint main(void) { size_t n = 0; printf(\"%zu\\n\", n); return 0; }\n")
    assert validate_cmd.run(parse(["--json", "--format", "c", str(src)])) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["verdict"] == "valid" and row["syntax"] == {"balanced": True, "parses": True}
    assert row["versions"]["pycparser"] == version("pycparser") and row["versions"]["gencheck"]


def test_gcc_finds_the_files_own_headers_and_never_a_planted_one(tmp_path, monkeypatch, capsys):
    import tempfile

    from gencheck.validators.c import gcc_opinion

    if gcc_opinion("int x;\n").ok is None:
        pytest.skip("no gcc on this machine")
    shared_tmp = tmp_path / "shared-tmp"  # stands for the system temp dir that other users can write
    shared_tmp.mkdir()
    (shared_tmp / "point.h").write_text('#error "a planted header was included"\n')
    monkeypatch.setattr(tempfile, "tempdir", str(shared_tmp))
    src = tmp_path / "src"
    src.mkdir()
    (src / "point.h").write_text("struct point { int x, y; };\n")
    (src / "main.c").write_text('#include "point.h"\nstruct point p;\nint main(void) { return p.x; }\n')
    assert validate_cmd.run(parse(["--json", "--gcc", str(src / "main.c")])) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["gcc"] == {"ok": True, "message": ""}
    assert row["versions"]["gcc"].startswith(("gcc", "cc"))
    assert list(shared_tmp.iterdir()) == [shared_tmp / "point.h"]  # its private folder is gone too


# --- what validate reads (#21, item 13) ---------------------------------------------------------------------

#: Runs `gencheck validate` and prints its peak resident memory (VmHWM, of this program, not of the test
#: process it was started from) on stderr as its last line.
_MEASURED = ("import atexit, runpy, sys\n"
             "atexit.register(lambda: print('VmHWM', open('/proc/self/status').read().split('VmHWM:')[1].split()[0],"
             " file=sys.stderr))\n"
             "sys.argv = ['gencheck', *sys.argv[1:]]\nrunpy.run_module('gencheck.cli', run_name='__main__')\n")


def validate_in_a_process(*argv: str, timeout: float = 30) -> tuple[int, str, str, int]:
    """`gencheck validate ARGV` as its own process under a 2 GiB address-space cap: exit status, stdout,
    stderr and its peak resident memory in KiB (a hang is a TimeoutExpired, not a stuck test run)."""
    import resource
    import subprocess
    import sys

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    proc = subprocess.run([sys.executable, "-c", _MEASURED, "validate", "--workers", "1", *argv], capture_output=True,
                          text=True, preexec_fn=cap, timeout=timeout)
    *err, peak = proc.stderr.splitlines() or [""]
    return proc.returncode, proc.stdout, "\n".join(err), int(peak.split()[1]) if peak.startswith("VmHWM") else 0


def test_a_fifo_and_a_link_to_dev_zero_in_a_folder_are_skipped_with_a_note(files):
    import os

    os.mkfifo(files / "pipe.tex")
    os.symlink("/dev/zero", files / "zero.tex")
    code, out, err, _ = validate_in_a_process("--json", str(files))
    paths = [json.loads(line)["path"] for line in out.splitlines()]
    assert code == 1 and not any(p.endswith(("pipe.tex", "zero.tex")) for p in paths) and len(paths) == 4
    assert "pipe.tex" in err and "zero.tex" in err and "not a regular file" in err
    code, out, err, _ = validate_in_a_process(str(files / "zero.tex"))
    assert "not a regular file (a device)" in err


def test_a_huge_file_is_read_only_as_far_as_max_chars_needs(tmp_path):
    big = tmp_path / "big.tex"
    with open(big, "wb") as f:
        for _ in range(300):
            f.write(b"x" * (1 << 20))
    code, out, err, peak_kib = validate_in_a_process("--json", "--max-chars", "1000", str(big))
    row = json.loads(out)
    assert row["verdict"] == "unjudged" and row["findings"][0]["kind"] == "too_long" and code == 3
    assert 0 < peak_kib < 150 * 1024  # the 300 MB file was not read into memory


@pytest.mark.parametrize("argv", [["--timeout", "nan"], ["--timeout", "inf"], ["--timeout", "1e300"],
                                  ["--timeout", "0"], ["--max-chars", "-1"], ["--workers", "-1"]])
def test_values_no_run_can_use_are_usage_errors(files, capsys, argv):
    from gencheck.cli import main

    with pytest.raises(SystemExit) as refused:  # at the parser, before any input is read
        main(["validate", *argv, str(files / "good.tex")])
    assert refused.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error:") and argv[0] in line
