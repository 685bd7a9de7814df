"""#31 items 9, 10, 11, 15, 16: every value the command line or a checkpoint gives is parsed into its range
before anything is built; every file the CLI reads is a regular file of a capped size; messages say what is
wrong on one line. A traceback, a hang or an allocation the input asked for is a defect."""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gencheck import cli, train
from gencheck.cli import build_parser, main

SMOKE = ["--corpus", "latex-fixture", "--profile", "smoke", "--device", "cpu"]
HOSTILE = ["9" * 400, "-1", "nan", "inf"]


def exit_and_err(argv: list[str], capsys) -> tuple[int, list[str]]:
    """main's exit status (a value refused at the parser included) and the non-empty lines on stderr."""
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 2
    return rc, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def assert_one_error_line(rc: int, err: list[str], expected_rc: int, *words: str) -> None:
    assert rc == expected_rc, (rc, err)
    assert len(err) == 1 and "error" in err[0] and "Traceback" not in err[0], err
    for w in words:
        assert w in err[0], err


# --- item 10: every numeric flag of every subcommand parses into its range ---------------------------------------

def subcommands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(path, parser) of every (sub)command, `corpus build` included."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from subcommands(sub, (*path, name))


def numeric_flags() -> list[tuple[tuple[str, ...], str, str]]:
    """(command path, flag, value prefix) of every flag whose type parses a number into a range."""
    out = []
    for path, parser in subcommands(build_parser()):
        for action in parser._actions:
            if getattr(action.type, "numeric", False) and action.option_strings:
                out.append((path, action.option_strings[-1], getattr(action.type, "example", "")))
    return out


def test_no_flag_takes_a_bare_int_or_float():
    """New flags are covered by the test below only if they use the range types: int and float accept
    400 digits, negatives, NaN and inf."""
    bare = [(path, a.option_strings or a.dest) for path, parser in subcommands(build_parser())
            for a in parser._actions if a.type in (int, float)]
    assert not bare, bare
    flags = {flag for _, flag, _ in numeric_flags()}
    assert {"--hidden", "--seed", "--threads", "--temperature", "--budget", "--match", "--warm-start",
            "--resources-per-point", "--workers", "--timeout", "--mutations", "--doc", "--jobs"} <= flags


@pytest.mark.parametrize("path, flag, prefix", numeric_flags(), ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
def test_every_numeric_flag_refuses_huge_negative_nan_and_inf_with_one_line(path, flag, prefix, capsys, tmp_path,
                                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing is made: a refusal happens before any folder would be
    for bad in HOSTILE:
        rc, err = exit_and_err([*path, flag, prefix + bad], capsys)
        assert_one_error_line(rc, err, 2, flag)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("argv, flag", [
    (["run", "--seed", "18446744073709551616"], "--seed"),
    (["cells", "run", "--seed", "-1"], "--seed"),
    (["sample", "--checkpoint", "x", "--temperature", "1e-320"], "--temperature"),
    (["run", "--hidden", "1000000000"], "--hidden"),
    (["run", "--threads", "100000000000000000000"], "--threads"),
    (["run", "--grid", "hidden=8", "--budget", "1" * 400], "--budget"),
    (["run", "--match", "params=" + "1" * 400], "--match"),
    (["run", "--warm-start", "latex-drill:" + "1" * 400], "--warm-start"),
    (["run", "--grid", "hidden=8", "--engine", "ray", "--resources-per-point", "cpu=" + "9" * 35],
     "--resources-per-point"),
])
def test_the_values_of_the_issue_are_refused_at_the_parser(argv, flag, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, err = exit_and_err(argv, capsys)
    assert_one_error_line(rc, err, 2, flag)
    assert not list(tmp_path.iterdir())  # --seed 2**64 made the run folder first


def test_grid_values_are_held_to_the_same_ranges_as_their_flags(capsys):
    for spec in ("hidden=8,1000000000", "dropout=nan", "lr=inf", "layers=" + "9" * 400):
        rc, err = exit_and_err(["run", *SMOKE, "--grid", spec], capsys)
        assert_one_error_line(rc, err, 2, "--grid")


def test_a_repeated_grid_key_is_refused(capsys):
    rc, err = exit_and_err(["run", *SMOKE, "--grid", "layers=1 layers=2"], capsys)
    assert_one_error_line(rc, err, 2, "layers is given twice")


# --- item 9: a damaged checkpoint is one line, whatever its saved settings say ------------------------------------

@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ck")
    assert main(["train", *SMOKE, "--steps", "2", "--out", str(out)]) == 0
    return out / "checkpoint.pt"


def damaged(saved: Path, tmp_path: Path, change) -> Path:
    payload = torch.load(saved, map_location="cpu", weights_only=True)
    change(payload)
    path = tmp_path / "checkpoint.pt"
    torch.save(payload, path)
    return path


def model_setting(name: str, value):
    return lambda p: p["model_config"].__setitem__(name, value)


@pytest.mark.parametrize("change, words", [
    (model_setting("hidden", 10**9), "hidden"), (model_setting("layers", -1), "layers"),
    (model_setting("hidden", "64"), "hidden"), (model_setting("vocab_size", -5), "vocab_size"),
    (model_setting("dropout", math.nan), "dropout"), (model_setting("kind", "gpt5"), "kind"),
    (lambda p: p.__setitem__("vocab", [1, 2, 3]), "vocabulary"),
    (lambda p: p.__setitem__("vocab", p["vocab"][:-1]), "vocabulary"),
    (lambda p: p["train_config"].__setitem__("seed", 2**64), "seed"),
    (model_setting("hidden", 16_384), "do not fit"),  # in range, but not what the weights hold: never allocated
    (model_setting("layers", 256), "do not fit"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_damaged_model_settings_are_one_line_for_sample(saved, tmp_path, capsys, change, words):
    path = damaged(saved, tmp_path, change)
    rc, err = exit_and_err(["sample", "--checkpoint", str(path), "--device", "cpu", "-n", "1", "--max-chars", "5"],
                           capsys)
    assert_one_error_line(rc, err, 1, words)


def test_every_checkpoint_load_goes_through_the_one_check(saved, tmp_path, monkeypatch):
    """sample, cells, a run's scoring, resume and warm start read checkpoints only through Checkpoint.load,
    and Checkpoint.load reads the file only through the capped, regular-file-only _load_payload."""
    import re

    root = Path(train.__file__).parent
    loads = [f"{p.name}" for p in root.rglob("*.py") if re.search(r"torch\.load\(", p.read_text())]
    assert loads == ["train.py"] and train.__file__.endswith("train.py")
    assert len(re.findall(r"torch\.load\(", Path(train.__file__).read_text())) == 1
    path = damaged(saved, tmp_path, model_setting("layers", -1))
    with pytest.raises(train.GencheckError, match="layers"):
        train.Checkpoint.load(path)


def test_a_checkpoint_that_is_no_regular_file_or_too_big_is_refused_before_torch_load(saved, tmp_path, monkeypatch,
                                                                                      capsys):
    fifo = tmp_path / "fifo.pt"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero"), tmp_path):
        rc, err = exit_and_err(["sample", "--checkpoint", str(path), "--device", "cpu"], capsys)
        assert_one_error_line(rc, err, 1, "checkpoint")
    monkeypatch.setattr(train, "MAX_CHECKPOINT_BYTES", saved.stat().st_size - 1)
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load of an oversize file"))
    rc, err = exit_and_err(["sample", "--checkpoint", str(saved), "--device", "cpu"], capsys)
    assert_one_error_line(rc, err, 1, "allowed")


# --- item 11: the prime file -------------------------------------------------------------------------------------

def test_prime_files_that_are_no_regular_file_or_too_long_are_refused(saved, tmp_path, capsys, monkeypatch):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    big = tmp_path / "big.tex"
    big.write_text("x" * 5000)
    monkeypatch.setattr("gencheck.config.MAX_PRIME_CHARS", 1000)
    for path in (fifo, Path("/dev/zero"), big):
        rc, err = exit_and_err(["sample", "--checkpoint", str(saved), "--device", "cpu", "--prime-file", str(path)],
                               capsys)
        assert_one_error_line(rc, err, 2, "--prime-file")


def test_a_long_prime_is_fed_in_chunks_with_the_state_of_one_pass(saved):
    """The logits of a 4 MB prime at once asked for 8 GB; in chunks the samples are the same."""
    from gencheck import sample
    from gencheck.config import SampleConfig

    ck = train.Checkpoint.load(saved)
    model = ck.build_model(torch.device("cpu"))
    cfg = SampleConfig(2, 20, 0.8, 0, "\\begin{document} x " * 40, 3)
    whole = sample.generate(model, ck.vocab, cfg, torch.device("cpu"), quiet=True)
    orig = sample.PRIME_CHUNK
    try:
        sample.PRIME_CHUNK = 7
        chunked = sample.generate(model, ck.vocab, cfg, torch.device("cpu"), quiet=True)
    finally:
        sample.PRIME_CHUNK = orig
    assert [s.text for s in whole] == [s.text for s in chunked]


def test_a_sampling_batch_too_large_to_hold_is_refused(saved, capsys):
    rc, err = exit_and_err(["sample", "--checkpoint", str(saved), "--device", "cpu", "-n", "1000000",
                            "--max-chars", "100000000"], capsys)
    assert_one_error_line(rc, err, 2, "in one batch")


# --- item 15: Ray resources no node has -------------------------------------------------------------------------

def test_resources_no_node_has_are_refused_before_submitting():
    from gencheck.fsutil import UsageError
    from gencheck.ray_engine import PointResources, check_fits

    class FakeRay:
        def nodes(self):
            return [{"Alive": True, "Resources": {"CPU": 4.0}}, {"Alive": True, "Resources": {"CPU": 2.0, "GPU": 1.0}},
                    {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}}]

        def cluster_resources(self):
            return {"CPU": 6.0, "GPU": 1.0}

    check_fits(FakeRay(), PointResources(4, 0.0))
    check_fits(FakeRay(), PointResources(2, 1.0))
    for too_much in (PointResources(5, 0.0), PointResources(4, 1.0), PointResources(1, 2.0)):
        with pytest.raises(UsageError, match="no node"):
            check_fits(FakeRay(), too_much)


# --- item 16: messages ------------------------------------------------------------------------------------------

def test_an_interrupted_validate_gives_no_resume_hint(tmp_path, capsys, monkeypatch):
    from gencheck import validate_cmd

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(validate_cmd, "run", interrupted)
    assert main(["validate", str(tmp_path)]) == 130
    out = capsys.readouterr()
    assert "interrupted" in out.err + out.out and "resume" not in out.err + out.out


def test_an_empty_corpus_name_is_refused(capsys):
    rc, err = exit_and_err(["run", "--corpus", ""], capsys)
    assert_one_error_line(rc, err, 2, "--corpus")
    rc, err = exit_and_err(["corpus", "info", " "], capsys)
    assert_one_error_line(rc, err, 2, "name")


def test_validate_with_every_input_skipped_is_not_exit_0(tmp_path, capsys):
    fifo = tmp_path / "pipe.tex"
    os.mkfifo(fifo)
    rc, err = exit_and_err(["validate", str(fifo)], capsys)
    assert rc == 2 and "nothing to validate" in err[-1] and "skipped" in err[0]
    rc, err = exit_and_err(["validate", str(tmp_path)], capsys)  # the folder holds only the FIFO
    assert rc == 2 and "nothing to validate" in err[-1]
    (tmp_path / "good.tex").write_text("\\begin{itemize}\\item x\\end{itemize}\n")
    rc, err = exit_and_err(["validate", str(tmp_path)], capsys)
    assert rc == 3, err  # one valid, one skipped: not all judged, never passed off as valid


def test_a_warm_start_folder_takes_the_format_given(tmp_path, capsys, monkeypatch):
    """`--warm-start DIR --format latex` asked for --format again."""
    from gencheck import corpus

    seen = []
    real = corpus.resolve_spec
    monkeypatch.setattr(corpus, "resolve_spec", lambda name, fmt=None, allow_dirs=(): seen.append((name, fmt))
                        or real(name, fmt, allow_dirs))
    (tmp_path / "warm").mkdir()
    (tmp_path / "warm" / "a.tex").write_text("\\begin{document}x\\end{document}\n" * 50)
    args = argparse.Namespace(format="latex", offline=True, mirror=[], allow_dir=[])
    profile = argparse.Namespace(train=argparse.Namespace(warm_start=str(tmp_path / "warm")))
    try:
        cli._warm_corpus(args, profile)
    except Exception as exc:  # noqa: BLE001 - building a tiny folder may fail later for other reasons
        assert "--format" not in str(exc), exc
    assert (str(tmp_path / "warm"), "latex") in seen


def test_a_closed_stdout_is_a_quiet_exit(tmp_path):
    """`gencheck corpus list --json | head -1`: the reader went away; no BrokenPipeError traceback."""
    r, w = os.pipe()
    os.close(r)  # every write now fails with EPIPE, deterministically
    try:
        proc = subprocess.run([sys.executable, "-m", "gencheck.cli", "corpus", "list", "--json"], stdout=w,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(w)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.stderr.strip() == "" and proc.returncode != 0


def test_limits_are_the_ones_sizing_and_the_parser_use():
    from gencheck.config import LIMITS
    from gencheck.models.sizing import MAX_HIDDEN

    assert MAX_HIDDEN == LIMITS["hidden"].hi
    assert cli.setting("hidden")("16384") == 16384
