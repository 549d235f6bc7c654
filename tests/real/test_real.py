"""Real, unmodified public training scripts under ``gradmedic run`` (the manifest is suite.py).

For each case: the script runs the same under gradmedic as under python (exit code, stdout, the files
it writes), a healthy run gets nothing above ``info`` and is actually watched, and a failing run gets
its labelled kinds. ``make real`` runs this file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .suite import CASES, Case
from .workspace import Outcome, prepare, run

pytestmark = pytest.mark.integration
SEVERITY = {"info": 0, "warning": 1, "error": 2}


def _param(case: Case) -> object:
    marks = [pytest.mark.slow] if case.slow else []
    if case.missing:
        marks.append(pytest.mark.xfail(reason=f"needs {case.missing}", strict=False))
    return pytest.param(case, id=case.name, marks=marks)


def _comparable(outcome: Outcome) -> list[str]:
    """Stdout lines with run-to-run noise (timings, throughput) masked."""
    masked = re.sub(r"\d+(\.\d+)?\s*(ms|s\b|%)", "<t>", outcome.stdout)
    masked = re.sub(r"(time|ms/batch|mfu|lr)\s*[:=]?\s*[-\d.e]+", r"\1 <t>", masked)
    return [" ".join(line.split()) for line in masked.splitlines()]


def _file_names(files: set[str]) -> set[str]:
    return {re.sub(r"events\.out\.tfevents\..*", "events.out.tfevents.*", f) for f in files}


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_real_script(case: Case, tmp_path: Path) -> None:
    plain = run(case, prepare(case, tmp_path / "plain"))
    report_path = tmp_path / "report.json"
    watched = run(case, prepare(case, tmp_path / "watched"), ["--json", str(report_path)])

    assert plain.code == watched.code, (
        f"exit {plain.code} under python, {watched.code} under gradmedic:\n{watched.stderr[-3000:]}"
    )
    if case.seeded:
        assert _comparable(plain) == _comparable(watched), "gradmedic changed the script's stdout"
    else:  # an unseeded script prints other numbers on every run: the lines must still match one for one
        assert len(_comparable(plain)) == len(_comparable(watched)), "gradmedic changed the script's stdout"
    assert _file_names(plain.files) == _file_names(watched.files), "gradmedic changed the files the script writes"
    assert not any("gradmedic" in line for line in watched.stdout.splitlines()), "gradmedic wrote to stdout"

    report = json.loads(report_path.read_text())
    raised = {
        (d["kind"], d["severity"], tuple(d["layers"][:3]), d["message"][:160])
        for d in report["diagnoses"]
        if SEVERITY[d["severity"]] > SEVERITY["info"]
    }
    assert report["steps"] > 0, "gradmedic watched no step of this script"
    if case.kinds:
        assert case.kinds <= {k for k, _, _, _ in raised}, f"expected {sorted(case.kinds)}, got {sorted(raised)}"
    else:
        assert not raised, f"false alarm on a healthy run: {sorted(raised)}"
