"""#31, done-when: every command's file inputs — results.json, checkpoints, declarations, corpus caches, prime
files, samples — fed mutated and hostile versions. A hostile input (empty, binary, truncated, a folder, a FIFO,
a device, a sparse multi-GB file, wrong types and out-of-range values) is one line and a non-zero exit; a
mutated one either still works or is one line and a non-zero exit. Never a traceback, never a hang.

The commands run in-process through `gencheck.cli.main`, so an escaping exception fails the test at once with
its traceback, and a hang is caught by the FIFO and device inputs themselves (they are opened non-blocking)."""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
from pathlib import Path
from typing import Callable

import pytest
import torch

from gencheck.cli import main

SMOKE = ["--corpus", "latex-fixture", "--profile", "smoke", "--device", "cpu"]

# --- the verdict ------------------------------------------------------------------------------------------------


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """main's exit status (argparse's SystemExit included) and what it wrote on stderr."""
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse refusing a value
        rc = exc.code if isinstance(exc.code, int) else 2
    return rc, capsys.readouterr().err


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def assert_one_line_failure(rc: int, err: str, argv: list[str]) -> None:
    lines = error_lines(err)
    assert rc != 0, f"{argv}: exit 0 on a hostile input"
    assert "Traceback" not in err, f"{argv}: {err}"
    assert len(lines) == 1 and "error" in lines[0], f"{argv}: not one error line: {lines}"


def assert_works_or_one_line(rc: int, err: str, argv: list[str]) -> None:
    assert "Traceback" not in err, f"{argv}: {err}"
    if rc != 0:
        errors = [line for line in error_lines(err) if "error" in line]
        assert len(errors) == 1, f"{argv}: rc {rc} without exactly one error line: {error_lines(err)[-5:]}"


# --- hostile files ----------------------------------------------------------------------------------------------


def _empty(p: Path, good: bytes) -> None:
    p.write_bytes(b"")


def _binary(p: Path, good: bytes) -> None:
    p.write_bytes(random.Random(7).randbytes(4096))


def _truncated(p: Path, good: bytes) -> None:
    p.write_bytes(good[: len(good) // 2])


def _not_utf8(p: Path, good: bytes) -> None:
    p.write_bytes(b"\xff\xfe" + good[:100] + b"\xc3\x28")


def _folder(p: Path, good: bytes) -> None:
    p.mkdir()


def _fifo(p: Path, good: bytes) -> None:
    os.mkfifo(p)


def _dev_zero(p: Path, good: bytes) -> None:
    p.symlink_to("/dev/zero")


def _sparse(p: Path, good: bytes) -> None:
    with open(p, "wb") as fh:
        fh.truncate(3 << 30)  # 3 GB of nothing: no blocks on disk


HOSTILE: dict[str, Callable[[Path, bytes], None]] = {
    "empty": _empty, "binary": _binary, "truncated": _truncated, "not-utf8": _not_utf8, "folder": _folder,
    "fifo": _fifo, "dev-zero": _dev_zero, "sparse-3GB": _sparse,
}


def place(path: Path, kind: str, good: bytes) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    HOSTILE[kind](path, good)


def byte_mutations(good: bytes, n: int, seed: int) -> list[bytes]:
    """Seeded byte-level damage: flipped bytes, a cut, a repeated stretch."""
    rng, out = random.Random(seed), []
    for i in range(n):
        b = bytearray(good)
        how = i % 3
        if how == 0:
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif how == 1:
            del b[rng.randrange(1, len(b)):]
        else:
            a = rng.randrange(len(b))
            b[a:a] = b[a:a + rng.randint(1, 200)] * rng.randint(2, 50)
        out.append(bytes(b))
    return out


# --- a real run to damage ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("good")
    argv = ["run", *SMOKE, "--steps", "4", "--samples", "2", "--max-chars", "40", "--no-evolution",
            "--compile-samples", "0", "--out", str(out)]
    assert main(argv) == 0
    (run,) = [p for p in out.iterdir() if (p / "results.json").is_file()] or [out]
    assert (run / "checkpoint.pt").is_file()
    return run


def fresh_copy(good_run: Path, tmp_path: Path, name: str = "run") -> Path:
    dst = tmp_path / name
    shutil.copytree(good_run, dst, ignore=shutil.ignore_patterns(".lock"))
    return dst


def results_commands(run: Path, good: Path) -> list[list[str]]:
    return [["report", str(run)], ["report", "--markdown", str(run)], ["report", "--plot", str(run)],
            ["report", "--json", str(run)], ["compare", str(good), str(run)],
            ["check", str(run), "--baseline", str(good)]]


def checkpoint_commands(run: Path) -> list[list[str]]:
    return [["sample", "--checkpoint", str(run / "checkpoint.pt"), "-n", "1", "--max-chars", "5", "--device", "cpu"],
            ["cells", str(run), "--max-chars", "300"],
            ["train", *SMOKE, "--out", str(run), "--resume"]]


# --- results.json -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_results_json_is_one_line(good_run, tmp_path, capsys, kind):
    run = fresh_copy(good_run, tmp_path)
    good = (good_run / "results.json").read_bytes()
    place(run / "results.json", kind, good)
    for argv in results_commands(run, good_run):
        rc, err = run_cli(argv, capsys)
        assert_one_line_failure(rc, err, argv)


def test_mutated_results_json_works_or_is_one_line(good_run, tmp_path, capsys):
    run = fresh_copy(good_run, tmp_path)
    for data in byte_mutations((good_run / "results.json").read_bytes(), 12, seed=31):
        (run / "results.json").write_bytes(data)
        for argv in results_commands(run, good_run):
            rc, err = run_cli(argv, capsys)
            assert_works_or_one_line(rc, err, argv)


# --- checkpoints ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_checkpoint_is_one_line(good_run, tmp_path, capsys, kind):
    run = fresh_copy(good_run, tmp_path)
    good = (good_run / "checkpoint.pt").read_bytes()
    place(run / "checkpoint.pt", kind, good)
    for argv in checkpoint_commands(run):
        rc, err = run_cli(argv, capsys)
        assert_one_line_failure(rc, err, argv)


HOSTILE_VALUES = [-1, 0, 10**9, 10**400 if False else 2**70, "64", None, float("nan"), float("inf"), [1], {"a": 1}]


def checkpoint_variants(payload: dict) -> list[tuple[str, dict]]:
    """The saved settings with hostile values, a foreign vocabulary, damaged positions and weights."""
    out: list[tuple[str, dict]] = []
    for key in payload["model_config"]:
        for value in HOSTILE_VALUES:
            p = copy.deepcopy(payload)
            p["model_config"][key] = value
            out.append((f"model_config.{key}={value!r}", p))
    for vocab in ([1, 2, 3], ["ab", "c"], [], ["a", "a"], "abc", None):
        p = copy.deepcopy(payload)
        p["vocab"] = vocab
        out.append((f"vocab={vocab!r}", p))
    for key in payload["position"]:
        for value in (-1, "5", None, 2**70):
            p = copy.deepcopy(payload)
            p["position"][key] = value
            out.append((f"position.{key}={value!r}", p))
    for key in list(payload["model"])[:3]:
        p = copy.deepcopy(payload)
        p["model"][key] = torch.zeros(3)
        out.append((f"model.{key} wrong shape", p))
        p = copy.deepcopy(payload)
        p["model"][key] = p["model"][key].to(torch.int64)
        out.append((f"model.{key} int64", p))
    for key in ("model_config", "vocab", "model", "position", "train_config", "corpus", "rng", "hidden"):
        p = copy.deepcopy(payload)
        del p[key]
        out.append((f"without {key}", p))
    return out


def test_damaged_checkpoint_settings_work_or_are_one_line(good_run, tmp_path, capsys):
    run = fresh_copy(good_run, tmp_path)
    payload = torch.load(good_run / "checkpoint.pt", map_location="cpu", weights_only=True)
    sample_argv = checkpoint_commands(run)[0]
    for label, p in checkpoint_variants(payload):
        torch.save(p, run / "checkpoint.pt")
        rc, err = run_cli(sample_argv, capsys)
        assert "Traceback" not in err, label
        assert_works_or_one_line(rc, err, [label, *sample_argv])


def test_byte_damaged_checkpoint_works_or_is_one_line(good_run, tmp_path, capsys):
    run = fresh_copy(good_run, tmp_path)
    for data in byte_mutations((good_run / "checkpoint.pt").read_bytes(), 9, seed=9):
        (run / "checkpoint.pt").write_bytes(data)
        for argv in checkpoint_commands(run)[:2]:
            rc, err = run_cli(argv, capsys)
            assert_works_or_one_line(rc, err, argv)


# --- prime files and samples ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(set(HOSTILE) - {"truncated", "empty"}))  # an empty prime file: an empty prime
def test_hostile_prime_file_is_one_line(good_run, tmp_path, capsys, kind):
    prime = tmp_path / "prime.tex"
    place(prime, kind, b"\\begin{proof}\n")
    argv = ["sample", "--checkpoint", str(good_run / "checkpoint.pt"), "-n", "1", "--max-chars", "5",
            "--device", "cpu", "--prime-file", str(prime)]
    rc, err = run_cli(argv, capsys)
    assert_one_line_failure(rc, err, argv)


def test_a_huge_prime_file_is_refused_before_it_is_read(good_run, tmp_path, capsys):
    prime = tmp_path / "prime.tex"
    prime.write_bytes(b"a" * (4 << 20))
    argv = ["sample", "--checkpoint", str(good_run / "checkpoint.pt"), "-n", "1", "--max-chars", "5",
            "--device", "cpu", "--prime-file", str(prime)]
    rc, err = run_cli(argv, capsys)
    assert_one_line_failure(rc, err, argv)


@pytest.mark.parametrize("ext", ["tex", "c", "md"])
def test_hostile_and_mutated_samples_are_findings_not_crashes(tmp_path, capsys, ext):
    good = (b"\\begin{proof}\n$x$\n\\end{proof}\n" if ext == "tex" else b"int main(void) { return 0; }\n"
            if ext == "c" else b"# t\n\n```\ncode\n```\n")
    for i, data in enumerate([*byte_mutations(good * 20, 6, seed=3), b"{" * 50_000, b"(" * 50_000,
                              b"\\begin{a}" * 20_000, b"x" * 1_500_000 + b"\n"]):
        (tmp_path / f"s{i}.{ext}").write_bytes(data)
    for kind in ("binary", "not-utf8", "fifo", "dev-zero"):
        place(tmp_path / f"h-{kind}.{ext}", kind, good)
    rc, err = run_cli(["validate", "--timeout", "5", str(tmp_path)], capsys)
    assert "Traceback" not in err and rc in (0, 1, 2)


# --- declarations and caches ------------------------------------------------------------------------------------


GOOD_DECLARATION = b"""name = "fuzzed"
format = "latex"
description = "a fuzzed declaration"
license = "CC0"

split = [0.6, 0.2, 0.2]

[[sources]]
kind = "dir"
path = "docs"
"""


def declaration_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "decl"
    (folder / "docs").mkdir(parents=True)
    for i in range(8):
        (folder / "docs" / f"d{i}.tex").write_text(f"\\begin{{proof}}\n{'x ' * (50 + i)}\n\\end{{proof}}\n")
    return folder


def test_the_good_declaration_builds(tmp_path, capsys):
    folder = declaration_folder(tmp_path)
    (folder / "x.toml").write_bytes(GOOD_DECLARATION)
    assert run_cli(["corpus", "build", "--offline", str(folder / "x.toml")], capsys)[0] == 0


@pytest.mark.parametrize("kind", sorted(set(HOSTILE) - {"truncated"}))
def test_hostile_declaration_is_one_line(tmp_path, capsys, kind):
    folder = declaration_folder(tmp_path)
    place(folder / "x.toml", kind, GOOD_DECLARATION)
    argv = ["corpus", "build", "--offline", str(folder / "x.toml")]
    rc, err = run_cli(argv, capsys)
    assert_one_line_failure(rc, err, argv)


def test_mutated_declarations_work_or_are_one_line(tmp_path, capsys):
    folder = declaration_folder(tmp_path)
    for data in byte_mutations(GOOD_DECLARATION, 30, seed=4):
        (folder / "x.toml").write_bytes(data)
        argv = ["corpus", "build", "--offline", str(folder / "x.toml")]
        rc, err = run_cli(argv, capsys)
        assert_works_or_one_line(rc, err, argv)


def test_damaged_corpus_caches_are_rebuilt_or_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GENCHECK_HOME", str(tmp_path / "home"))
    assert run_cli(["corpus", "build", "latex-fixture"], capsys)[0] == 0
    files = [p for p in (tmp_path / "home").rglob("*") if p.is_file() and p.name != ".lock"]
    assert files
    goods = {p: p.read_bytes() for p in files}
    for path, good in goods.items():
        variants = [*(("hostile", k) for k in ("empty", "binary", "truncated", "folder")),
                    *(("bytes", d) for d in byte_mutations(good, 3, seed=len(good)) if good)]
        for how, v in variants:
            if how == "hostile":
                place(path, v, good)
            else:
                path.write_bytes(v)
            for argv in (["corpus", "list"], ["corpus", "info", "latex-fixture"]):
                rc, err = run_cli(argv, capsys)
                assert_works_or_one_line(rc, err, [str(path), how, *argv])
            if path.is_dir():
                shutil.rmtree(path)
            path.write_bytes(good)
