"""Where exploding gradients grow, on synthetic records: through time (a recurrent radius >= 1) or not at all."""

from __future__ import annotations

import math

from gradmedic.advice import explain
from gradmedic.config import Config
from gradmedic.detectors import exploding
from gradmedic.detectors.engine import Engine
from gradmedic.records import LayerInfo, LayerStats, Recurrence, StepStats
from gradmedic.remedies.figures import far_from_healthy

CFG = Config()
LAYERS = {
    "rnn": LayerInfo(name="rnn", type="RNN", order=0),
    "head": LayerInfo(name="head", type="Linear", order=1, is_output=True),
}


def _step(step: int, norm: float, radius: float, steps: int = 300, loss: float = 1.0) -> StepStats:
    bad = not math.isfinite(norm)
    layers = {name: LayerStats(grad_norm=norm, nonfinite_grad=bad) for name in LAYERS}
    recurrence = {"rnn.weight_hh_l0": Recurrence("rnn", "weight_hh_l0", radius, steps)}
    return StepStats(step, layers, norm, loss=loss, losses={step: loss}, recurrence=recurrence)


def test_overflow_at_the_first_step_through_a_recurrent_weight_is_exploding_through_time() -> None:
    finding = exploding.detect([_step(0, math.inf, 1.05)], LAYERS, CFG)
    assert finding is not None and finding.severity == "error" and finding.layers == ("rnn",)
    assert finding.evidence["from_start"] and finding.evidence["through_time"]["rnn.weight_hh_l0"]["steps"] == 300
    diagnosis = explain(finding, LAYERS)
    assert diagnosis.remedies[0].name == "rescale_recurrent"
    assert "lower_lr" not in {r.name for r in diagnosis.remedies}


def test_no_cause_through_time_below_radius_one_or_over_short_sequences() -> None:
    assert exploding.detect([_step(0, math.inf, 0.95)], LAYERS, CFG) is None
    assert exploding.detect([_step(0, math.inf, 1.05, steps=5)], LAYERS, CFG) is None


def test_once_the_gradient_is_finite_again_the_rule_no_longer_fires() -> None:
    history = [_step(0, math.inf, 1.05)] + [_step(s, 1.0, 0.9) for s in range(1, 8)]
    assert exploding.detect(history, LAYERS, CFG) is None


def test_the_non_finite_diagnosis_names_the_explosion_as_its_cause() -> None:
    engine = Engine(CFG)
    engine.update(_step(0, math.inf, 1.05), LAYERS)
    assert engine.findings["non_finite"].evidence["explained_by"] == "exploding_gradients"
    assert engine.findings["exploding_gradients"].first_step == 0


def test_far_from_healthy_figures() -> None:
    before = {"loss": 2.3, "max_dead_fraction": 1.0}
    assert "still dead" in (far_from_healthy("dead", before, {"loss": 1.0, "max_dead_fraction": 0.47}, CFG) or "")
    assert far_from_healthy("dead", before, {"loss": 2.25, "max_dead_fraction": 0.3}, CFG) is None
    assert "still 1.0e-05x" in (far_from_healthy("weak_signal", {}, {"min_ratio_to_output": 1e-5}, CFG) or "")
    assert far_from_healthy("dead", before, {"loss": 0.6, "max_dead_fraction": 0.1}, CFG) is None
    assert far_from_healthy("unstable", before, {"loss": 5.0}, CFG) is None
