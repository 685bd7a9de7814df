"""The gencheck command end to end on the fixture corpus, and its errors (one line, exit code)."""

from __future__ import annotations

import json
import os

import pytest

from gencheck.cli import main
from gencheck.results import SCHEMA_VERSION

SMOKE = ["--corpus", "latex-fixture", "--profile", "smoke", "--steps", "30", "--samples", "8",
         "--max-chars", "300", "--device", "cpu"]


def exit_code(argv: list[str]) -> int:
    """main's exit status, a value refused by the parser (SystemExit) included."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("error:"), err
    assert not any(line.startswith("error:") for line in err[:-1])
    return err[-1]


@pytest.mark.slow
def test_run_end_to_end_writes_results_and_prints_scorecard(tmp_path, capsys):
    assert main(["run", *SMOKE, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "gencheck scorecard" in out and "real text" in out
    (run_dir,) = list(tmp_path.iterdir())
    result = json.loads((run_dir / "results.json").read_text())
    assert result["schema_version"] == SCHEMA_VERSION and result["corpus"]["name"] == "latex-fixture"
    assert len(result["corpus"]["content_hash"]) == 64 and result["seed"] == 1337
    assert result["samples"]["count"] == 8 and sum(result["samples"]["counts"].values()) == 8
    assert result["calibration"]["counts"]["valid"] == result["calibration"]["count"]  # our fixture is valid
    assert result["metrics"]["test_bpc"] < result["metrics"]["unigram_test_bpc"]
    assert {"checkpoint.pt", "samples.jsonl", "results.json"} <= {p.name for p in run_dir.iterdir()}
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_train_resume_and_sample_commands(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *SMOKE[:4], "--steps", "10", "--device", "cpu", "--out", str(out)]) == 0
    assert main(["train", *SMOKE[:4], "--steps", "10", "--device", "cpu", "--out", str(out)]) == 2
    assert "--resume" in one_line_error(capsys)
    assert main(["train", *SMOKE[:4], "--steps", "20", "--device", "cpu", "--out", str(out), "--resume"]) == 0
    assert main(["sample", "--checkpoint", str(out / "checkpoint.pt"), "-n", "3", "--max-chars", "50",
                 "--device", "cpu", "--out", str(tmp_path / "s.jsonl")]) == 0
    rows = [json.loads(x) for x in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and {"index", "text", "truncated"} <= set(rows[0])
    # a run folder names its checkpoint.pt, as for the other commands; a folder without one is one line
    assert main(["sample", "--checkpoint", str(out), "-n", "1", "--max-chars", "20", "--device", "cpu",
                 "--out", str(tmp_path / "f.jsonl")]) == 0
    assert len((tmp_path / "f.jsonl").read_text().splitlines()) == 1
    assert main(["sample", "--checkpoint", str(tmp_path), "-n", "1", "--device", "cpu"]) == 1
    assert "no checkpoint.pt in the folder" in one_line_error(capsys)
    assert main(["sample", "--checkpoint", str(out / "checkpoint.pt"), "-n", "2", "--max-chars", "20",
                 "--device", "cpu", "--out", str(tmp_path / "files")]) == 0
    assert sorted(p.name for p in (tmp_path / "files").iterdir()) == ["sample-0000.tex", "sample-0001.tex"]


def test_run_resume_finishes_a_killed_run(tmp_path, capsys):
    run_dir = tmp_path / "killed"
    assert main(["train", *SMOKE[:4], "--steps", "10", "--device", "cpu", "--out", str(run_dir)]) == 0
    assert main(["run", *SMOKE, "--resume", str(run_dir)]) == 0
    result = json.loads((run_dir / "results.json").read_text())
    assert result["train"]["steps"] == 30 and result["train"]["history"][0]["step"] <= 10
    assert main(["run", *SMOKE, "--resume", str(tmp_path / "nothing")]) == 2
    assert "no checkpoint.pt" in one_line_error(capsys)


def test_unknown_corpus_lists_the_known_ones(capsys):
    assert main(["run", "--corpus", "latx", "--device", "cpu"]) == 2
    err = one_line_error(capsys)
    assert "did you mean 'latex'" in err and "latex-fixture" in err


def test_cuda_without_cuda(capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["run", *SMOKE[:4], "--device", "cuda"]) == 2
    assert "no CUDA device" in one_line_error(capsys)


def test_corrupt_checkpoint_on_resume(tmp_path, capsys):
    (tmp_path / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated zip")
    assert main(["train", *SMOKE[:4], "--device", "cpu", "--out", str(tmp_path), "--resume"]) == 1
    assert "checkpoint.pt" in one_line_error(capsys)


def test_disk_full_leaves_previous_results_intact(tmp_path, monkeypatch):
    import errno

    from gencheck.fsutil import GencheckError, atomic_write_json

    target = tmp_path / "results.json"
    atomic_write_json(target, {"good": True})

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(GencheckError, match="No space left on device"):
        atomic_write_json(target, {"good": False, "big": "x" * 10_000})
    assert json.loads(target.read_text()) == {"good": True}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_corpus_list_and_info(capsys):
    assert main(["corpus", "list"]) == 0
    out = capsys.readouterr().out
    assert "latex" in out and "latex-fixture" in out
    assert main(["corpus", "info", "latex-fixture", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["documents"] == 8 and info["splits"]["train"]["documents"] == 6


def test_help_explains_each_command(capsys):
    for cmd in ("run", "train", "sample", "validate", "corpus"):
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
        assert "example" in capsys.readouterr().out


def test_binary_only_corpus_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "x.tex").write_bytes(bytes(range(256)) * 20)
    assert main(["run", "--corpus", str(tmp_path / "docs"), "--format", "latex", "--device", "cpu"]) == 1
    err = one_line_error(capsys)
    assert "1 binary" in err and "[filters]" in err  # rich markup must not eat the brackets


@pytest.fixture()
def small_cpu_profile(monkeypatch):
    """The cpu profile (the default without --profile) with a tiny budget, so a wrong resume stays fast."""
    from dataclasses import replace

    from gencheck.config import PROFILES

    cpu = PROFILES["cpu"]
    monkeypatch.setitem(PROFILES, "cpu", replace(cpu, train=replace(cpu.train, steps=14)))


def test_train_resume_without_flags_keeps_the_checkpoints_budget(tmp_path, small_cpu_profile):
    from dataclasses import replace

    from gencheck.train import Checkpoint

    out = tmp_path / "run"
    assert main(["train", *SMOKE[:4], "--steps", "8", "--device", "cpu", "--out", str(out)]) == 0
    ck = Checkpoint.load(out / "checkpoint.pt")
    replace(ck, train_config=replace(ck.train_config, steps=12)).save(out / "checkpoint.pt")  # killed at 8 of 12
    assert main(["train", "--corpus", "latex-fixture", "--device", "cpu", "--out", str(out), "--resume"]) == 0
    ck = Checkpoint.load(out / "checkpoint.pt")
    assert ck.step == 12 and ck.train_config.steps == 12 and ck.profile_name == "smoke"


@pytest.mark.parametrize("flags, named", [
    (["--hidden", "512"], ["--hidden 512", "64"]),
    (["--lr", "1"], ["--lr 1", "0.003"]),
    (["--seed", "1337"], ["--seed 1337", "7"]),
    (["--profile", "cpu"], ["--profile cpu", "smoke"]),
    (["--batch-size", "4"], ["--batch-size 4", "16"]),
    (["--model", "gru"], ["--model gru", "lstm"]),
    (["--steps", "5"], ["--steps 5", "10"]),
])
def test_resume_refuses_flags_that_differ_from_the_checkpoint(tmp_path, capsys, small_cpu_profile, flags, named):
    out = tmp_path / "run"
    assert main(["train", *SMOKE[:4], "--steps", "10", "--seed", "7", "--device", "cpu", "--out", str(out)]) == 0
    before = (out / "checkpoint.pt").read_bytes()
    base = ["--corpus", "latex-fixture", "--device", "cpu"]
    assert main(["train", *base, *flags, "--out", str(out), "--resume"]) == 2
    err = one_line_error(capsys)
    assert all(n in err for n in named) and str(out / "checkpoint.pt") in err, err
    assert main(["run", *base, *flags, "--resume", str(out)]) == 2
    err = one_line_error(capsys)
    assert all(n in err for n in named), err
    assert (out / "checkpoint.pt").read_bytes() == before and not (out / "results.json").exists()
    # the same values as the checkpoint's are fine
    assert main(["train", *base, "--profile", "smoke", "--hidden", "64", "--seed", "7", "--steps", "10",
                 "--out", str(out), "--resume"]) == 0


def test_run_resume_reports_the_checkpoints_settings(tmp_path, capsys, small_cpu_profile):
    out = tmp_path / "run"
    assert main(["train", *SMOKE[:4], "--steps", "10", "--seed", "7", "--device", "cpu", "--out", str(out)]) == 0
    assert main(["run", "--corpus", "latex-fixture", "--device", "cpu", "--samples", "4", "--max-chars", "100",
                 "--resume", str(out)]) == 0
    result = json.loads((out / "results.json").read_text())
    assert (result["seed"], result["profile"], result["train"]["steps"]) == (7, "smoke", 10)
    assert (result["train"]["batch_size"], result["model"]["hidden"], result["samples"]["count"]) == (16, 64, 4)
    assert result["train"]["sample_max_chars"] == 100 and 0 < result["train"]["chars_per_s"] < 10_000_000
    # the run chose its sample settings; finishing it again with others is refused
    assert main(["run", "--corpus", "latex-fixture", "--device", "cpu", "--samples", "5", "--resume", str(out)]) == 2
    err = one_line_error(capsys)
    assert "--samples 5" in err and "num_samples 4" in err, err


@pytest.mark.parametrize("failure", ["enospc", "stream_writer"])
def test_disk_full_while_saving_a_checkpoint_is_one_line(tmp_path, capsys, monkeypatch, failure):
    import errno

    import torch

    out = tmp_path / "run"
    assert main(["train", *SMOKE[:4], "--steps", "4", "--device", "cpu", "--out", str(out)]) == 0
    before = (out / "checkpoint.pt").read_bytes()
    real_save = torch.save

    class Full:
        """A file that takes 4 kB, then fails like a full disk."""

        def __init__(self, fh):
            self.fh, self.n = fh, 0

        def write(self, b):
            self.n += len(b)
            if self.n > 4096:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.fh.write(b)

        def __getattr__(self, name):
            return getattr(self.fh, name)

    def full_save(obj, fh):
        if failure == "enospc":
            return real_save(obj, Full(fh))  # torch turns the OSError into its own RuntimeError
        fh.write(b"PK partial")
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(torch, "save", full_save)
    assert main(["train", *SMOKE[:4], "--steps", "8", "--device", "cpu", "--out", str(out), "--resume"]) == 1
    err = one_line_error(capsys)
    assert str(out / "checkpoint.pt") in err and ("No space left" in err or "file write failed" in err), err
    assert (out / "checkpoint.pt").read_bytes() == before
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_interrupt_while_writing_propagates_and_leaves_no_temp_file(tmp_path):
    from gencheck.fsutil import atomic_write

    def interrupted(fh):
        fh.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "x.json", interrupted)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_honour_the_umask(tmp_path, umask, mode):
    from gencheck.fsutil import atomic_write_text

    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "new.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == mode


def test_rewriting_a_file_keeps_its_mode(tmp_path):
    from gencheck.fsutil import atomic_write_text

    target = tmp_path / "results.json"
    target.write_text("old")
    target.chmod(0o640)
    old = os.umask(0o022)
    try:
        atomic_write_text(target, "new")
    finally:
        os.umask(old)
    assert target.read_text() == "new" and target.stat().st_mode & 0o777 == 0o640


# --- values no command can use are one line and exit 2 (#21, item 12) ------------------------------------------

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("ck")
    assert main(["train", *SMOKE[:4], "--steps", "2", "--device", "cpu", "--out", str(out)]) == 0
    return out / "checkpoint.pt"


@pytest.mark.parametrize("argv, flag", [
    (["-n", "0"], "-n"), (["-n", "-1"], "-n"), (["--max-chars", "-1"], "--max-chars"),
    (["--temperature", "nan"], "--temperature"), (["--temperature", "-1"], "--temperature"),
    (["--temperature", "inf"], "--temperature"), (["--top-k", "-5"], "--top-k"),
    (["--prime-file", "/nonexistent/prime.tex"], "--prime-file"), (["--prime-file", "NOT_UTF8"], "--prime-file"),
    (["--out", "/proc/x.jsonl"], "/proc/x.jsonl"), (["--out", "/proc/self/x/"], "/proc/self/x"),
])
def test_sample_values_that_cannot_work_are_one_line_and_exit_2(checkpoint, tmp_path, capsys, argv, flag):
    if "NOT_UTF8" in argv:
        (tmp_path / "p.tex").write_bytes(b"\\begin{\xff\xfe}")
        argv = [a.replace("NOT_UTF8", str(tmp_path / "p.tex")) for a in argv]
    assert exit_code(["sample", "--checkpoint", str(checkpoint), "--device", "cpu", "--max-chars", "20", *argv]) == 2
    assert flag in one_line_error(capsys)


def test_run_with_no_samples_is_refused_before_training(tmp_path, capsys):
    assert exit_code(["run", *SMOKE[:4], "--device", "cpu", "--samples", "0", "--out", str(tmp_path)]) == 2
    assert "--samples" in one_line_error(capsys) and not list(tmp_path.iterdir())


@pytest.mark.parametrize("minutes", ["nan", "inf", "0", "-1", "1e300"])
def test_grid_minutes_that_are_not_a_usable_number_are_refused(tmp_path, capsys, minutes):
    args = ["run", *SMOKE[:4], "--device", "cpu", "--grid", "hidden=8,16", "--minutes", minutes, "--out", str(tmp_path)]
    assert exit_code(args) == 2
    assert "--minutes" in one_line_error(capsys)
    assert exit_code(["run", *SMOKE[:4], "--device", "cpu", "--minutes", minutes]) == 2  # and without --grid
    assert "--minutes" in one_line_error(capsys)


@pytest.fixture(scope="module")
def timed_grid(tmp_path_factory):
    """A --minutes grid run once (a fixed timing: 1,000 chars/s), leaving its grid-minutes-*.json."""
    import gencheck.train as tr

    out = tmp_path_factory.mktemp("grid")
    args = ["run", *SMOKE[:4], "--device", "cpu", "--grid", "hidden=8,16", "--minutes", "0.01", "--no-probes",
            "--no-evolution", "--samples", "2", "--max-chars", "30", "--out", str(out)]
    mp = pytest.MonkeyPatch()
    mp.setattr(tr, "step_rate", lambda profile, vocab_size, device, seconds=3.0: 1000.0)
    try:
        assert main(args) == 0
    finally:
        mp.undo()
    (timing,) = out.glob("grid-minutes-*.json")
    return args, timing


@pytest.mark.parametrize("content", ["{not json", "[]", '{"rates": {}}', '{"budget": -5}', '{"budget": "lots"}',
                                     '{"budget": true}', '{"budget": 1e400}'])
def test_a_damaged_grid_minutes_file_is_one_line_naming_it(timed_grid, capsys, content):
    args, timing = timed_grid
    good = timing.read_text()
    timing.write_text(content)
    try:
        assert main(args) == 2
        line = one_line_error(capsys)
        assert timing.name in line and "delete it" in line
    finally:
        timing.write_text(good)


@pytest.mark.parametrize("kind", ["mingru", "transformer", "conv"])
def test_every_model_family_trains_resumes_and_samples_from_the_command_line(tmp_path, kind):
    out = tmp_path / "run"
    flags = [*SMOKE[:4], "--model", kind, "--layers", "2", "--hidden", "16", "--context", "12", "--heads", "2",
             "--batch-size", "4", "--seq-len", "16", "--device", "cpu", "--out", str(out)]
    assert main(["train", *flags, "--steps", "6"]) == 0
    assert main(["train", *flags, "--steps", "10", "--resume"]) == 0
    assert main(["sample", "--checkpoint", str(out / "checkpoint.pt"), "-n", "2", "--max-chars", "30",
                 "--device", "cpu", "--out", str(tmp_path / "s.jsonl")]) == 0
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == 2


def test_an_unknown_model_names_every_family(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", *SMOKE[:4], "--model", "gpt5", "--out", "x"])
    assert exc.value.code == 2
    assert "'gpt5': choose from lstm, gru, rnn, mingru, transformer, conv" in capsys.readouterr().err


def test_the_progress_line_shows_no_val_before_the_first_evaluation(tmp_path, capsys):
    """Before the first evaluation there is no val bits/char: the line says "—", never "nan"."""
    assert main(["train", *SMOKE[:4], "--steps", "4", "--device", "cpu", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr()
    lines = [line for line in (out.out + out.err).splitlines() if line.startswith("train ")]
    assert lines and "val —" in lines[0] and not any("val nan" in line for line in lines), lines


def test_resume_builds_the_corpus_the_run_started_on(tmp_path, capsys):
    """#37: `gencheck run --resume RUN_DIR` alone continues on the checkpoint's corpus (the default,
    `latex`, would be built first on a fresh machine and then refused); a declaration file of the user's
    own is found where the run read it."""
    import shutil

    from gencheck.corpus import builtin_specs

    mine = tmp_path / "decl"
    shutil.copytree(builtin_specs().get("latex-fixture").parent / "fixtures" / "latex", mine / "fixtures" / "latex")
    text = builtin_specs().get("latex-fixture").read_text().replace('description = "', 'description = "mine: ')
    (mine / "their.toml").write_text(text)
    for corpus in ("latex-fixture", str(mine / "their.toml")):
        run_dir = tmp_path / f"killed-{len(corpus)}"
        assert main(["train", "--corpus", corpus, "--profile", "smoke", "--steps", "6", "--device", "cpu",
                     "--out", str(run_dir)]) == 0
        assert main(["run", "--resume", str(run_dir), "--no-probes", "--no-evolution", "--compile-samples", "0",
                     "--device", "cpu", "--offline"]) == 0
        assert json.loads((run_dir / "results.json").read_text())["corpus"]["name"] in ("latex-fixture", "their")
    capsys.readouterr()


def test_an_interrupted_run_names_its_folder_and_the_command_that_continues_it(tmp_path, capsys, monkeypatch):
    from gencheck import pipeline

    started = {}

    def killed(corpus, profile, device, run_dir, *a, **kw):
        started["dir"] = run_dir
        if kw.get("resume") is False and started.get("checkpoint"):
            run_dir.mkdir(parents=True)
            (run_dir / "checkpoint.pt").write_bytes(b"")
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "run", killed)
    assert main(["run", *SMOKE, "--out", str(tmp_path)]) == 130
    out = capsys.readouterr()
    assert f"{started['dir']} has no checkpoint yet" in " ".join((out.err + out.out).split())
    started["checkpoint"] = True
    assert main(["run", *SMOKE, "--out", str(tmp_path)]) == 130
    text = " ".join((capsys.readouterr().err + capsys.readouterr().out).split())
    assert f"continue with: gencheck run --resume {started['dir']}" in text


def test_report_with_a_killed_run_reports_the_rest_and_names_the_skipped(tmp_path, capsys):
    done, killed = tmp_path / "done", tmp_path / "killed"
    assert main(["run", *SMOKE, "--no-probes", "--no-evolution", "--out", str(done)]) == 0
    (run_dir,) = list(done.iterdir())
    assert main(["train", *SMOKE[:4], "--steps", "4", "--device", "cpu", "--out", str(killed)]) == 0
    capsys.readouterr()
    assert main(["report", str(run_dir), str(killed)]) == 1
    out = capsys.readouterr()
    assert "gencheck scorecard" in out.out
    err = " ".join(out.err.split())
    assert f"warning: skipped {killed}: no results.json there" in err and f"gencheck run --resume {killed}" in err
    assert main(["report", str(killed)]) == 2  # nothing to report: the error, as before
    assert "no results.json" in one_line_error(capsys)


def test_calibrate_with_the_toolchain_keeps_the_mutation_table(capsys):
    """#37: `calibrate --toolchain` printed only the toolchain's view; the validator's own calibration (the
    mutation table) comes first, then the agreement (or n/a where pdflatex is missing)."""
    assert main(["calibrate", "--corpus", "latex-fixture", "--split", "all", "--toolchain", "--limit", "1",
                 "--mutations", "1"]) == 0
    out = capsys.readouterr().out
    assert "mutations of accepted documents" in out and "pdflatex" in out
    assert out.index("mutations of accepted documents") < out.index("pdflatex")


def test_a_progress_line_at_completion_is_printed_once(capsys):
    """#37: `generate drill latex-drill: 21200000/21200000` was printed three times (the total reported again
    by the last pieces of work)."""
    from gencheck.progress import progress

    with progress("generate drill x", 10) as bar:
        for done in (3, 10, 10, 10):
            bar.update(done)
    err = capsys.readouterr().err
    assert err.count("10/10") == 1 and err.count("3/10") == 1


def test_a_resumed_progress_counts_its_eta_from_where_it_started(capsys, monkeypatch):
    """A resumed 2×256 run at step 3,949 of 19,000 printed `eta 60s` (16 s elapsed spread over all 3,949
    steps, 3,900 of them done by an earlier process); the eta is this process's rate over what is left."""
    from gencheck import progress as prog

    clock = iter([0.0, 16.0])  # the reporter's start, then its one update
    monkeypatch.setattr(prog.time, "perf_counter", lambda: next(clock))
    with prog.progress("train x", 19000, start=3900) as bar:
        bar.update(3949)
    err = capsys.readouterr().err
    assert "eta 4915s" in err  # 16 s for 49 steps, 15,051 steps left
