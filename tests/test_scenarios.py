"""End to end: small real runs on digits and synthetic sequences, diagnosed (or left alone) correctly."""

from __future__ import annotations

import pytest

from gradmedic.demo.scenarios import SCENARIOS

from .scenario_runs import monitored

PROBLEMS = [name for name, s in SCENARIOS.items() if not s.healthy]
HEALTHY = [name for name, s in SCENARIOS.items() if s.healthy]


@pytest.mark.parametrize("name", PROBLEMS)
def test_problem_is_diagnosed(name: str) -> None:
    scenario = SCENARIOS[name]
    _, report = monitored(name, "watched")
    found = report.kinds(at_least="warning")
    assert found & scenario.expect, (
        f"{name}: expected one of {sorted(scenario.expect)}, got {report.to_dict()['diagnoses']}"
    )


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_run_stays_quiet(name: str) -> None:
    _, report = monitored(name, "watched")
    assert report.healthy, f"{name}: false alarm {[(d.kind, d.severity, d.message) for d in report.diagnoses]}"
    assert report.steps == SCENARIOS[name].steps


def test_born_dead_layer_is_named_as_cause() -> None:
    _, report = monitored("born_dead_relu", "watched")  # the run test_problem_is_diagnosed judged
    dead = next(d for d in report.diagnoses if d.kind == "dead_units")
    assert dead.layers[0] == "2"  # the Linear whose bias was set to -20
    assert dead.evidence["cause"] == "2"
    assert dead.evidence["dead_fraction"]["2"] == 1.0
    assert dead.first_step < 10
    assert dead.remedies and "LeakyReLU" in dead.remedies[0].snippet


def test_deep_sigmoid_names_early_layers_and_output_reference() -> None:
    _, report = monitored("deep_sigmoid", "watched")  # the run test_problem_is_diagnosed judged
    vanishing = next(d for d in report.diagnoses if d.kind == "vanishing_gradients")
    assert vanishing.evidence["output_layer"] == "20"
    assert "0" in vanishing.layers and "2" in vanishing.layers
    assert all(r < 1e-3 for r in vanishing.evidence["ratio_to_output"].values())
    assert "Sigmoid" in vanishing.message
    assert any(r.name == "non_saturating_activation" for r in vanishing.remedies)


def test_exploding_rnn_suggests_clip_threshold_from_observed_norms() -> None:
    _, report = monitored("rnn_long_sequence", "watched")  # the run test_problem_is_diagnosed judged
    exploding = next(d for d in report.diagnoses if d.kind == "exploding_gradients")
    clip = next(r for r in exploding.remedies if r.name == "clip_grad_norm")
    threshold = exploding.evidence["suggested_clip"]
    assert 0.1 < threshold < 1e3
    assert f"max_norm={threshold:.3g}" in clip.snippet
