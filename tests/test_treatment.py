"""End to end: ``watch(..., treat=True)`` cures each problem scenario and leaves healthy runs alone."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import gradmedic
from gradmedic.demo.scenarios import SCENARIOS, train

from .scenario_runs import monitored, plain

PROBLEMS = [name for name, s in SCENARIOS.items() if not s.healthy]
HEALTHY = [name for name, s in SCENARIOS.items() if s.healthy]


def test_every_problem_has_a_healthy_twin() -> None:
    for name in PROBLEMS:
        assert SCENARIOS[name].twin in HEALTHY, name


@pytest.mark.parametrize("name", PROBLEMS)
def test_treatment_brings_the_problem_close_to_its_healthy_twin(name: str) -> None:
    scenario = SCENARIOS[name]
    untreated = plain(name)
    treated, report = monitored(name, "treated")
    twin = plain(scenario.twin)
    assert report.treatments, f"{name}: nothing was treated"
    assert all(t.action and t.reason and t.reverse for t in report.treatments)
    if twin.accuracy is not None and treated.accuracy is not None and untreated.accuracy is not None:
        assert untreated.accuracy < twin.accuracy - 0.3, f"{name}: the untreated run is not a failure"
        assert treated.accuracy >= twin.accuracy - 0.1, (
            f"{name}: treated accuracy {treated.accuracy:.3f} vs twin {twin.accuracy:.3f}; {report.to_dict()['treatments']}"
        )
    else:
        assert math.isfinite(treated.final_loss) and treated.final_loss <= 10 * twin.final_loss, (
            f"{name}: treated loss {treated.final_loss:.3g} vs twin {twin.final_loss:.3g} "
            f"(untreated {untreated.final_loss:.3g}); {report.to_dict()['treatments']}"
        )
    applied = {r.name for d in report.diagnoses for r in d.remedies if r.applied}
    assert applied <= {t.remedy for t in report.treatments}
    assert not any(t.outcome.startswith("stuck") for t in report.treatments), f"{name}: every step was dropped"
    # every diagnosis that fired stays in the report, with its outcome
    assert all(d.outcome for d in report.diagnoses if d.severity != "info"), report.to_dict()["diagnoses"]


@pytest.mark.parametrize("name", HEALTHY)
def test_no_treatment_on_a_healthy_run(name: str) -> None:
    treated, report = monitored(name, "treated")
    assert not report.treatments and report.healthy
    assert treated.final_loss == pytest.approx(plain(name).final_loss, rel=1e-5)  # the gate changed nothing


def test_treatments_reach_the_log_and_the_html_page(tmp_path: Path) -> None:
    from gradmedic.report.build import build_report
    from gradmedic.report.load import load_log

    _, report = train(SCENARIOS["born_dead_relu"], watch=gradmedic.watch, console=False, treat=True, logdir=tmp_path)
    lines = [json.loads(line) for line in (tmp_path / "gradmedic.jsonl").read_text().splitlines()]
    streamed = [r for r in lines if r["type"] == "treatment"]
    assert [r["outcome"] for r in streamed] == ["judging", "worked"]  # logged when applied, again when judged
    run = load_log(tmp_path / "gradmedic.jsonl")
    assert [t.outcome for t in run.treatments] == [t.outcome for t in report.treatments] == ["worked"]
    page = build_report(tmp_path).read_text()
    assert page.count('class="treatment"') == 1 and "Outcome: <b>worked</b>" in page
    assert "revive" in page


def test_the_clip_snippet_shows_the_threshold_the_run_was_clipped_at() -> None:
    """One number (clip_threshold.suggested_clip): what the advice says to paste is what treatment applied."""
    _, report = train(SCENARIOS["relu_huge_lr"], watch=gradmedic.watch, console=False, treat=True)
    clipped = [t for t in report.treatments if "clip_applied" in t.before]
    assert clipped, report.to_dict()["treatments"]
    at = clipped[0].before["clip_applied"]
    assert f"{at:.3g}" in clipped[0].action
    diagnosis = next(d for d in report.diagnoses if d.kind == clipped[0].kind)
    clip = next(r for r in diagnosis.remedies if r.name == "clip_grad_norm")
    assert f"max_norm={at:.3g}" in clip.snippet
    assert diagnosis.evidence["suggested_clip"] == at
    assert diagnosis.evidence["suggested_clip_basis"].startswith(f"applied in flight from step {clipped[0].step}")
