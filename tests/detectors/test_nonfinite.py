"""non_finite: NaN or Inf in gradients, weights, loss or output; no hysteresis."""

from __future__ import annotations

from gradmedic.config import Config
from gradmedic.detectors import nonfinite
from gradmedic.records import NON_FINITE

from .helpers import make_step, stack

CFG = Config()
LAYERS = stack(4)
RMS = [0.5, 0.5, 0.5, 0.5]


def healthy(step, norm=1.0):
    return make_step(step, RMS, norm=norm, loss=1.0)


def test_healthy_history_raises_nothing():
    assert nonfinite.detect([healthy(i) for i in range(10)], LAYERS, CFG) is None


def test_nan_gradient_in_a_layer():
    history = [healthy(0, 1.5), healthy(10, 2.5)]
    history.append(make_step(20, RMS, norm=float("nan"), layer_fields={"fc2": {"nonfinite_grad": True}}))
    finding = nonfinite.detect(history, LAYERS, CFG)
    assert finding is not None
    assert finding.kind == NON_FINITE
    assert finding.severity == "error"
    assert finding.layers == ("fc2",)
    assert finding.first_step == 20
    assert finding.step == 20
    assert set(finding.evidence) == {"in", "nonfinite_grad_layers", "nonfinite_weight_layers", "last_finite_grad_norm"}
    assert finding.evidence["in"] == ["gradients"]
    assert finding.evidence["nonfinite_grad_layers"] == ["fc2"]
    assert finding.evidence["nonfinite_weight_layers"] == []
    assert finding.evidence["last_finite_grad_norm"] == 2.5


def test_several_nan_gradients_in_depth_order():
    layers = {n: LAYERS[n] for n in ["fc3", "fc1", "fc0", "fc2"]}
    bad = {"nonfinite_grad": True}
    step = make_step(5, RMS, norm=float("inf"), layer_fields={"fc3": bad, "fc1": bad})
    finding = nonfinite.detect([step], layers, CFG)
    assert finding is not None
    assert finding.layers == ("fc1", "fc3")
    assert finding.evidence["nonfinite_grad_layers"] == ["fc1", "fc3"]
    assert finding.evidence["last_finite_grad_norm"] is None


def test_nan_loss():
    history = [healthy(0), make_step(10, RMS, loss=float("nan"), nonfinite_loss=True)]
    finding = nonfinite.detect(history, LAYERS, CFG)
    assert finding is not None
    assert finding.severity == "error"
    assert finding.layers == ()
    assert finding.first_step == 10
    assert finding.evidence["in"] == ["loss"]


def test_nan_weights_and_output():
    step = make_step(7, RMS, nonfinite_output=True, layer_fields={"fc0": {"nonfinite_weight": True}})
    finding = nonfinite.detect([healthy(0), step], LAYERS, CFG)
    assert finding is not None
    assert finding.evidence["in"] == ["output", "weights"]
    assert finding.evidence["nonfinite_weight_layers"] == ["fc0"]
    assert finding.layers == ("fc0",)


def test_first_nonfinite_step_earlier_than_sampled_step():
    step = make_step(40, RMS, loss=float("nan"), nonfinite_loss=True, first_nonfinite_step=33)
    finding = nonfinite.detect([healthy(30), step], LAYERS, CFG)
    assert finding is not None
    assert finding.first_step == 33
    assert finding.step == 40


def test_nonfinite_output_alone_is_not_a_failure():
    # masked scores can hold -inf by design: only the loss, a gradient or a weight confirms trouble
    step = make_step(40, RMS, nonfinite_output=True, first_nonfinite_step=35)
    assert nonfinite.detect([healthy(30), step], LAYERS, CFG) is None


def test_nonfinite_output_dates_the_onset_once_confirmed():
    step = make_step(
        40, RMS, nonfinite_output=True, first_nonfinite_step=35, layer_fields={"fc2": {"nonfinite_weight": True}}
    )
    finding = nonfinite.detect([healthy(30), step], LAYERS, CFG)
    assert finding is not None
    assert finding.first_step == 35
    assert finding.evidence["in"] == ["output", "weights"]


def test_first_occurrence_is_kept():
    bad = {"nonfinite_grad": True}
    history = [
        healthy(0),
        make_step(10, RMS, layer_fields={"fc1": bad}),
        healthy(20),
        make_step(30, RMS, layer_fields={"fc3": bad}),
    ]
    finding = nonfinite.detect(history, LAYERS, CFG)
    assert finding is not None
    assert finding.first_step == 10
    assert finding.step == 30
    assert finding.layers == ("fc1",)


def test_mixed_weight_and_grad_layers_in_depth_order():
    step = make_step(5, RMS, layer_fields={"fc0": {"nonfinite_grad": True}, "fc2": {"nonfinite_weight": True}})
    finding = nonfinite.detect([step], LAYERS, CFG)
    assert finding is not None
    assert finding.layers == ("fc0", "fc2")
