"""``gradmedic run`` on an unmodified Lightning script, whose optimizer steps take a closure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lightning")

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # about 20 s: a subprocess imports Lightning

SCRIPT = Path(__file__).parent / "scripts" / "lit_deep_sigmoid.py"


def test_gradmedic_run_reads_each_steps_own_gradients_in_a_lightning_script(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "gradmedic", "run", "--quiet", "--json", str(tmp_path / "r.json")]
    command += ["--logdir", str(tmp_path / "logs"), str(SCRIPT)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["steps"] == 40
    assert "vanishing_gradients" in {d["kind"] for d in report["diagnoses"] if d["severity"] != "info"}
    records = [json.loads(line) for line in (tmp_path / "logs" / "gradmedic.jsonl").read_text().splitlines()]
    first = next(r for r in records if r["type"] == "step")
    # Lightning runs backward inside optimizer.step(closure): read before it, step 0 would have no gradients
    assert first["step"] == 0 and first["global_grad_norm"] > 0
    assert "net.0" in first["layers"] and first["layers"]["net.0"]["grad_norm"] > 0
