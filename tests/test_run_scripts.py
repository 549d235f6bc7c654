"""Unmodified training scripts under ``gradmedic run``: each is diagnosed as its header says.

Every ``tests/scripts/train_*.py`` is a plain PyTorch script that knows nothing about gradmedic. One of
its first three lines declares what a correct diagnosis is::

    # expect: healthy                              nothing above info
    # expect: vanishing_gradients|non_finite       any one of these kinds, at warning or error

Other files in tests/scripts/ (such as common_data.py) are local helper modules the scripts import.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS_DIR = Path(__file__).parent / "scripts"
SCRIPTS = sorted(SCRIPTS_DIR.glob("train_*.py"))
TIMEOUT = 90  # seconds per script; each trains for a few seconds on two CPU cores

PROBLEM_KINDS = {
    "vanishing_gradients",
    "exploding_gradients",
    "dead_units",
    "saturated_units",
    "non_finite",
    "loss_divergence",
}
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}
REPORT_KEYS = {"version", "steps", "layers", "diagnoses", "treatments", "incidents", "models"}
DIAGNOSIS_KEYS = {"kind", "severity", "layers", "first_step", "message", "evidence", "remedies"}

# Scripts on which gradmedic is known to be wrong today. strict: the day it is fixed, the test says so.

_HEADER = re.compile(r"^#\s*expect:\s*(?P<kinds>[\w|\s]+?)\s*$")


def expectation(script: Path) -> frozenset[str]:
    """The kinds a script must be diagnosed with (any one of them); empty for ``healthy``."""
    for line in script.read_text().splitlines()[:3]:
        match = _HEADER.match(line.strip())
        if match:
            kinds = {k.strip() for k in match["kinds"].split("|")}
            if kinds == {"healthy"}:
                return frozenset()
            unknown = kinds - PROBLEM_KINDS
            if unknown:
                raise ValueError(f"{script.name}: unknown kinds {sorted(unknown)} in its '# expect:' header")
            return frozenset(kinds)
    raise ValueError(f"{script.name}: no '# expect: ...' header in its first three lines")


def _param(script: Path) -> object:
    return pytest.param(script, id=script.stem)


def test_suite_is_found_and_covers_every_failure_twice() -> None:
    assert len(SCRIPTS) >= 20
    assert not [s for s in SCRIPTS_DIR.glob("*.py") if s not in SCRIPTS and not s.name.startswith("common_")]
    expected = [expectation(s) for s in SCRIPTS]
    for kind in ("vanishing_gradients", "exploding_gradients", "dead_units"):
        assert sum(kind in e for e in expected) >= 2, f"fewer than two scripts that should raise {kind}"
    assert sum(not e for e in expected) >= 10


def test_header_parser() -> None:
    ok, bad = SCRIPTS_DIR / "train_cnn_batchnorm.py", Path(__file__)
    assert expectation(ok) == frozenset()
    assert expectation(SCRIPTS_DIR / "train_exploding_rnn_long_sequences.py") == {"exploding_gradients", "non_finite"}
    with pytest.raises(ValueError, match="no '# expect"):
        expectation(bad)


@pytest.mark.parametrize("script", [_param(s) for s in SCRIPTS])
def test_script_is_diagnosed_as_expected(script: Path, tmp_path: Path) -> None:
    expect = expectation(script)
    report_path = tmp_path / "report.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "gradmedic", "run", "--quiet", "--json", str(report_path), str(script)],
        cwd=tmp_path,  # not the scripts' folder: the script's own folder must be put on sys.path
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, f"{script.name} exited {result.returncode}:\n{result.stderr[-3000:]}"
    assert report_path.is_file(), f"no report for {script.name}"

    report = json.loads(report_path.read_text())
    assert set(report) >= REPORT_KEYS, f"missing keys {REPORT_KEYS - set(report)}"
    assert report["steps"] > 0 and report["layers"] and report["models"]
    for d in report["diagnoses"]:
        assert set(d) >= DIAGNOSIS_KEYS, f"diagnosis missing keys {DIAGNOSIS_KEYS - set(d)}"
        assert d["severity"] in SEVERITY_RANK

    found = {d["kind"] for d in report["diagnoses"] if SEVERITY_RANK[d["severity"]] >= SEVERITY_RANK["warning"]}
    summary = [(d["kind"], d["severity"], d["layers"][:4], d["message"][:200]) for d in report["diagnoses"]]
    if expect:
        assert found & expect, f"{script.name}: expected one of {sorted(expect)}, got {summary}"
    else:
        assert not found, f"{script.name}: false alarm on a healthy run: {summary}"


# Healthy scripts whose loops are most likely to trip a treatment gate: GradScaler, schedulers, GANs,
# accumulation, tied weights, several optimizers.
TRICKY_HEALTHY = {
    "train_amp_gradscaler",
    "train_lr_scheduler",
    "train_gan",
    "train_gradient_accumulation",
    "train_tied_weights_autoencoder",
    "train_two_optimizers",
    "train_by_hand_data_add",  # no optimizer: the gate acts at the end of backward
    "train_by_hand_no_grad",
}
TREATED = [s for s in SCRIPTS if expectation(s) or s.stem in TRICKY_HEALTHY]


@pytest.mark.parametrize("script", [_param(s) for s in TREATED])
def test_script_under_treat(script: Path, tmp_path: Path) -> None:
    """``--treat``: every failing script is treated, no healthy one is touched, and nothing crashes."""
    report_path = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "gradmedic", "run", "--treat", "--json", str(report_path), str(script)],
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, f"{script.name} exited {result.returncode}:\n{result.stderr[-3000:]}"
    treatments = json.loads(report_path.read_text())["treatments"]
    if expectation(script):
        assert treatments, f"{script.name}: diagnosed but not treated"
        assert "TREATED" in result.stderr  # the console names each treatment as it happens
        for t in treatments:
            assert {"step", "kind", "remedy", "action", "reason", "before", "after", "outcome", "reverse"} <= set(t)
    else:
        assert not treatments, f"{script.name}: a healthy run was treated: {treatments}"
