"""The project's own quality gate: a small deterministic CPU model on the real default corpus, checked
with `gencheck check` against a baseline committed in the repo; and proof that the gate fails on a
deliberately weakened model (a tenth of the steps).

Tolerances come from measured run-to-run noise (docs/measurements.md, "Quality gate": 5 seeds of this configuration).
The same seed re-run on the same machine gives the same figures; the tolerances absorb what another
machine or library version moves. To refresh the baseline after an intended change:
    GENCHECK_WRITE_BASELINE=1 python -m pytest tests/test_quality_gate.py
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gencheck.cli import main

BASELINE = Path(__file__).parent / "baselines" / "latex-smoke.json"
GATE = ["run", "--corpus", "latex", "--profile", "smoke", "--steps", "1500", "--seed", "1", "--device", "cpu"]
# 5 seeds of GATE: test bits/char sd 0.054, valid sd 0.047 (16 samples), reach.latex_end 0 or 5 (a model
# at chance), probe cells sd up to 0.12: about three standard deviations each; reach is not gated here
TOLERANCES = ["--tolerance", "bpc=0.15", "--tolerance", "rate=0.15", "--tolerance", "probe=0.15",
              "--tolerance", "controlled.*=0.15", "--tolerance", "reach.*=7"]


def run_once(out: Path, *extra: str) -> Path:
    assert main([*GATE, "--out", str(out), *extra]) == 0
    (run_dir,) = list(out.iterdir())
    return run_dir


@pytest.mark.slow
@pytest.mark.network  # builds the real `latex` corpus from Debian's archive (shared with the corpus tests)
def test_quality_gate_passes_on_the_gate_config_and_fails_on_a_weakened_model(tmp_path, capsys):
    run_dir = run_once(tmp_path / "gate")
    if os.environ.get("GENCHECK_WRITE_BASELINE"):
        shutil.copyfile(run_dir / "results.json", BASELINE)
        pytest.skip(f"wrote {BASELINE}")
    assert main(["check", str(run_dir), "--baseline", str(BASELINE), *TOLERANCES]) == 0, capsys.readouterr().out
    capsys.readouterr()
    weak = run_once(tmp_path / "weak", "--steps", "150", "--no-probes")
    assert main(["check", str(weak), "--baseline", str(BASELINE), *TOLERANCES]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("regression: test_bpc: base ") for line in lines), lines
