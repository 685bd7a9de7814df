"""The project's own quality gate: a small drill run (tests/baselines/latex-drill-gate.toml, about a minute on
this CPU) whose model is above the 20-gram and the majority beyond 30 characters, checked with `gencheck check`
against a baseline committed in the repo. Another seed passes the gate; the same run with its memory broken
(BPTT cut to 8 characters, the same characters seen) fails it, and the failure names the probe cells.

Tolerances come from the spread over 3 seeds of this configuration (docs/measurements.md, "Quality gate on a
drill"). To refresh the baseline after an intended change:
    GENCHECK_WRITE_BASELINE=1 python -m pytest tests/test_quality_gate.py
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gencheck.cli import main

HERE = Path(__file__).parent / "baselines"
BASELINE = HERE / "latex-drill-gate.json"
GATE = ["run", "--corpus", str(HERE / "latex-drill-gate.toml"), "--profile", "drill", "--steps", "1000",
        "--device", "cpu", "--threads", "2", "--samples", "8", "--max-chars", "400", "--compile-samples", "0",
        "--no-evolution"]
# 3 seeds of GATE (docs/measurements.md, "Quality gate on a drill"): every cell up to 300 characters (the longest
# training distance) at 100 % (controlled: 83-100 %), test bits/char 0.881-0.921, valid 1-3 of 8 samples. Beyond
# 300 characters the seeds differ wildly (301-1k: 39, 89, 99 %; 1k-3k: 0, 74, 52 %), so those cells and the
# overall figures are not gated. A model whose memory is broken falls to 11-18 % in every cell and 1.005 bits/char.
# The figures also move with the CPU's kernels: on an AMD EPYC host (2026-12-04) seed 1 gave the controlled cells
# 77 / 75 / 67 % up to 300 characters where the Intel host that wrote the baseline gave 98 / 100 / 90 %, the same
# corpus and code; so the controlled cells get 0.35 (the broken model is 0.7 below). First matching pattern wins,
# then the family.
TOLERANCES = [f"--tolerance={t}" for t in (
    "probe.*.301-1000=1", "probe.*.1001-3000=1", "probe.*.>3000=1", "probe.*.all=1",
    "controlled.*.301-1000=1", "controlled.*.1001-3000=1", "controlled.*.>3000=1", "controlled.*.all=1",
    "controlled.*=0.35", "probe=0.15", "bpc=0.06", "rate=0.5", "reach.*=3")]


def run_once(out: Path, *extra: str) -> Path:
    assert main([*GATE, "--out", str(out), *extra]) == 0
    (run_dir,) = list(out.iterdir())
    return run_dir


@pytest.mark.slow
@pytest.mark.network  # the drill's filler and openers come from the real `latex` corpus (Debian's archive)
def test_the_gate_passes_another_seed_and_fails_a_model_whose_memory_is_broken(tmp_path, capsys):
    if os.environ.get("GENCHECK_WRITE_BASELINE"):
        run_dir = run_once(tmp_path / "gate", "--seed", "1")
        shutil.copyfile(run_dir / "results.json", BASELINE)
        pytest.skip(f"wrote {BASELINE}")
    good = run_once(tmp_path / "good", "--seed", "2")
    assert main(["check", str(good), "--baseline", str(BASELINE), *TOLERANCES]) == 0, capsys.readouterr().out
    capsys.readouterr()
    broken = run_once(tmp_path / "broken", "--seed", "1", "--seq-len", "8", "--batch-size", "1024")
    assert main(["check", str(broken), "--baseline", str(BASELINE), *TOLERANCES]) == 1
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("regression: ")]
    named = {line.split(":")[1].strip() for line in lines}
    assert {"probe.latex_end.31-100", "probe.latex_end.101-300"} <= named, lines
    assert any(name.startswith("controlled.latex_end.") for name in named), lines
