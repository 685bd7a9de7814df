"""`gencheck validate` on inputs the checker could not judge: their own verdict and exit status."""

from __future__ import annotations

import argparse
import json

from gencheck import validate_cmd


def parse(argv):
    parser = argparse.ArgumentParser(prog="gencheck")
    sub = parser.add_subparsers(dest="command")
    validate_cmd.add_parser(sub)
    return parser.parse_args(["validate", *argv])


def test_unjudged_input_is_reported_and_exits_3(tmp_path, capsys):
    good = tmp_path / "good.tex"
    good.write_text("\\begin{document}$x$\\end{document}\n")
    assert validate_cmd.run(parse(["--json", "--max-chars", "5", "--workers", "1", str(good)])) == 3
    row = json.loads(capsys.readouterr().out)
    assert row["verdict"] == "unjudged" and row["findings"][0]["kind"] == "too_long"
    assert validate_cmd.run(parse(["--max-chars", "5", "--workers", "1", str(good)])) == 3
    assert "1 inputs: 0 valid, 0 viable_prefix, 0 invalid, 0 trivial, 1 unjudged" in capsys.readouterr().out


def test_a_judged_failure_outranks_unjudged(tmp_path, capsys):
    (tmp_path / "bad.tex").write_text("\\end{x}\n")
    (tmp_path / "long.tex").write_text("\\begin{document}$x$\\end{document}\n")
    assert validate_cmd.run(parse(["--max-chars", "10", "--workers", "1", str(tmp_path)])) == 1
    assert "2 inputs: 0 valid, 0 viable_prefix, 1 invalid, 0 trivial, 1 unjudged" in capsys.readouterr().out


def test_help_documents_the_exit_statuses():
    parser = argparse.ArgumentParser(prog="gencheck")
    text = " ".join(validate_cmd.add_parser(parser.add_subparsers()).format_help().split())
    assert "unjudged" in text and "3 when" in text
