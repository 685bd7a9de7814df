"""Run folders: unique ids, exclusive creation, one gencheck at a time, no silent resume of another config."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from gencheck import pipeline
from gencheck.fsutil import GencheckError, locked_dir
from gencheck.train import train

CPU = torch.device("cpu")


def test_run_ids_made_in_the_same_second_differ(tiny_profile, monkeypatch):
    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2024, 5, 1, 12, 0, 0)

    monkeypatch.setattr(pipeline.dt, "datetime", Frozen)
    seed = lambda s: replace(tiny_profile, train=replace(tiny_profile.train, seed=s))  # noqa: E731
    a, b, c = (pipeline.new_run_id("latex", seed(s)) for s in (1, 2, 1))
    assert len({a, b, c}) == 3  # other seed, and the same seed twice
    assert re.fullmatch(r"20240501-120000-latex-lstm1x32-s1-[0-9a-f]{6}", a) and "-s2-" in b


def test_a_locked_run_folder_refuses_a_second_holder(tmp_path):
    with locked_dir(tmp_path):
        in_use = rf"run folder {tmp_path} is in use by another gencheck \(pid {os.getpid()}\)"
        with pytest.raises(GencheckError, match=in_use):
            with locked_dir(tmp_path):  # a second open file description conflicts, as another process would
                pass
        code = "import sys; from gencheck.fsutil import locked_dir\nwith locked_dir(sys.argv[1]): pass"
        other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
        assert other.returncode != 0 and f"pid {os.getpid()}" in other.stderr
    with locked_dir(tmp_path):  # released on exit
        pass


def test_train_into_a_folder_in_use_is_one_clear_error(tmp_path, capsys):
    from gencheck.cli import main

    with locked_dir(tmp_path):
        assert main(["train", "--corpus", "latex-fixture", "--profile", "smoke", "--device", "cpu",
                     "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error:") and "in use by another gencheck" in err
    assert not (tmp_path / "checkpoint.pt").exists()


def test_run_into_a_folder_with_another_configs_checkpoint_is_refused(fixture_corpus, tiny_profile, tmp_path):
    run_dir = tmp_path / "taken"
    train(fixture_corpus, replace(tiny_profile, train=replace(tiny_profile.train, steps=4)), run_dir, CPU)
    before = (run_dir / "checkpoint.pt").read_bytes()
    other = replace(tiny_profile, hidden=48, train=replace(tiny_profile.train, seed=2))
    with pytest.raises(GencheckError, match="already exists"):
        pipeline.run(fixture_corpus, other, CPU, run_dir, "smoke")  # a new run never reuses a folder
    with pytest.raises(GencheckError, match=r"other settings.*hidden"):
        pipeline.run(fixture_corpus, other, CPU, run_dir, "smoke", resume=True)
    assert (run_dir / "checkpoint.pt").read_bytes() == before and not (run_dir / "results.json").exists()


def test_a_folder_holding_only_its_lock_is_a_new_run_and_a_held_lock_still_refuses_it(tmp_path, fixture_corpus,
                                                                                         tiny_profile):
    from gencheck.pipeline import run

    run_dir = tmp_path / "killed-early"
    run_dir.mkdir()
    (run_dir / ".lock").write_text("123\n")  # what a run killed before its first checkpoint leaves
    with locked_dir(run_dir):
        with pytest.raises(GencheckError, match="in use by another gencheck"):
            run(fixture_corpus, tiny_profile, torch.device("cpu"), run_dir, "smoke", probes=False)
    result = run(fixture_corpus, tiny_profile, torch.device("cpu"), run_dir, "smoke", probes=False)
    assert (run_dir / "results.json").is_file() and result.train["steps"] == tiny_profile.train.steps


def test_a_lock_that_is_a_symlink_or_a_hard_link_is_refused_and_its_target_kept(tmp_path):
    """OUT/.lock pointing at another file: the lock is refused (one line) and the file keeps every byte."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n" * 100)
    for name, make in (("symlinked", lambda lock: lock.symlink_to(victim)),
                       ("hardlinked", lambda lock: os.link(victim, lock))):
        out = tmp_path / name
        out.mkdir()
        make(out / ".lock")
        with pytest.raises(GencheckError, match=rf"could not lock run folder .*{name}.*\.lock"):
            with locked_dir(out):
                pass
        assert victim.read_text() == "precious\n" * 100
    (tmp_path / "dir" / ".lock").mkdir(parents=True)  # not a regular file either
    with pytest.raises(GencheckError, match="not a regular file"):
        with locked_dir(tmp_path / "dir"):
            pass


def test_a_lock_file_is_never_truncated(tmp_path):
    """The holder's pid is written over the start of the file and blanked on release; nothing is cut."""
    lock = tmp_path / ".lock"
    lock.write_text("x" * 40)
    with locked_dir(tmp_path):
        assert lock.read_text().split()[0] == str(os.getpid()) and lock.stat().st_size == 40
    assert lock.stat().st_size == 40 and str(os.getpid()) not in lock.read_text()


@pytest.mark.parametrize("target", ["/proc/x.jsonl", "/proc/self/no/such/x.json"])
def test_a_write_where_no_file_can_be_made_is_one_error_naming_it(target):
    """The folder and the temporary file are made inside atomic_write's error handling too."""
    from pathlib import Path

    from gencheck.fsutil import atomic_write_text

    with pytest.raises(GencheckError, match=f"could not write {target}"):
        atomic_write_text(Path(target), "x")
