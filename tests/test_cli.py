"""The gencheck command end to end on the fixture corpus, and its errors (one line, exit code)."""

from __future__ import annotations

import json
import os

import pytest

from gencheck.cli import main

SMOKE = ["--corpus", "latex-fixture", "--profile", "smoke", "--steps", "30", "--samples", "8",
         "--max-chars", "300", "--device", "cpu"]


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
    assert result["schema_version"] == 1 and result["corpus"]["name"] == "latex-fixture"
    assert len(result["corpus"]["content_hash"]) == 64 and result["seed"] == 1337
    assert result["samples"]["count"] == 8 and sum(result["samples"]["counts"].values()) == 8
    assert result["calibration"]["counts"]["valid"] == result["calibration"]["count"]  # our fixture is valid
    assert result["metrics"]["test_bpc"] < result["metrics"]["unigram_bpc"]
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
