"""End to end: ``gradmedic run`` on a makemore-style script with a hand-written GRU cell.

Before the activations were measured where computed, the saturated gates were diluted by the data they
are concatenated with, and this run was reported as having no problems.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "cells" / "train_gru_cell_charlm.py"
GATES = {"cell.xh_to_r", "cell.xh_to_z", "cell.xh_to_hbar"}


def _run(tmp_path: Path, *script_args: str) -> dict:  # type: ignore[type-arg]
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "gradmedic", "run", "--quiet", "--json", str(report), str(SCRIPT), *script_args],
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "final loss" in result.stdout
    return json.loads(report.read_text())  # type: ignore[no-any-return]


@pytest.mark.integration
@pytest.mark.slow
def test_saturated_gru_cell_is_diagnosed_at_its_gates(tmp_path: Path) -> None:
    report = _run(tmp_path, "--init-std", "3.0")
    saturated = [d for d in report["diagnoses"] if d["kind"] == "saturated_units"]
    assert saturated and saturated[0]["severity"] == "warning"
    assert set(saturated[0]["layers"]) >= GATES
    assert all(saturated[0]["evidence"]["saturated_fraction"][g] > 0.5 for g in GATES)
    layers = {layer["name"]: layer for layer in report["layers"]}
    assert all(layers[g]["activation"] == "functional" and layers[g]["units"] == 48 for g in GATES)


@pytest.mark.integration
@pytest.mark.slow
def test_healthy_gru_cell_is_not_flagged(tmp_path: Path) -> None:
    report = _run(tmp_path)
    assert [d["kind"] for d in report["diagnoses"] if d["severity"] != "info"] == []
    assert {layer["name"] for layer in report["layers"] if layer["units"]} >= GATES  # measured, and quiet
