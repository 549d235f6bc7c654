"""``gradmedic run`` on an unmodified Keras script: every fit is watched; no TensorFlow for other scripts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent / "scripts"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "gradmedic", "run", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@pytest.mark.integration
def test_run_watches_every_fit_of_a_keras_script(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    done = _run("--json", str(out), "--logdir", str(tmp_path / "logs"), str(SCRIPTS / "train_sigmoid_stack.py"))
    assert done.returncode == 0, done.stderr
    assert "trained" in done.stdout
    report = json.loads(out.read_text())
    assert report["steps"] == 2 * 29  # both fit calls, one callback kept across them
    assert "vanishing_gradients" in {d["kind"] for d in report["diagnoses"] if d["severity"] != "info"}
    assert (tmp_path / "logs" / "gradmedic.jsonl").is_file()
    assert any((tmp_path / "logs").glob("events.out.tfevents.*"))


def test_run_does_not_import_tensorflow_for_a_script_without_keras(tmp_path: Path) -> None:
    done = _run("--json", str(tmp_path / "r.json"), str(SCRIPTS / "no_keras.py"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]
