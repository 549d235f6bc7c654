"""vanishing_gradients on synthetic depth profiles of weight-gradient RMS."""

from __future__ import annotations

import pytest

from gradmedic.config import Config
from gradmedic.detectors import vanishing
from gradmedic.records import VANISHING, LayerInfo

from .helpers import make_step, stack

CFG = Config()
LAYERS = stack(5)
HEALTHY = [0.5, 0.6, 0.8, 0.9, 1.0]
# ratios to the output: fc0 1e-5, fc1 1e-5, fc2 1e-4, fc3 1e-2
VANISH = [1e-5, 1e-5, 1e-4, 1e-2, 1.0]


def run(profiles, layers=LAYERS, cfg=CFG):
    history = [make_step(10 * i, rms) for i, rms in enumerate(profiles)]
    return vanishing.detect(history, layers, cfg)


def test_fires_on_clear_depth_profile():
    finding = run([VANISH] * CFG.window)
    assert finding is not None
    assert finding.kind == VANISHING
    assert finding.severity == "warning"
    assert finding.layers == ("fc0", "fc1", "fc2")
    assert finding.first_step == 0
    assert finding.step == 50
    assert set(finding.evidence) == {"ratio_to_output", "output_layer", "threshold", "grad_rms"}
    assert finding.evidence["output_layer"] == "fc4"
    assert finding.evidence["threshold"] == CFG.vanishing_ratio
    assert finding.evidence["ratio_to_output"] == pytest.approx({"fc0": 1e-5, "fc1": 1e-5, "fc2": 1e-4})
    assert finding.evidence["grad_rms"] == pytest.approx({"fc0": 1e-5, "fc1": 1e-5, "fc2": 1e-4, "fc4": 1.0})


def test_error_severity_below_error_ratio():
    finding = run([[1e-3, 1e-8, 1e-3, 1e-1, 1.0]] * CFG.window)
    assert finding is not None
    assert finding.severity == "error"
    assert finding.layers == ("fc1",)


def test_layers_reported_in_depth_order_not_dict_order():
    shuffled = {name: LAYERS[name] for name in ["fc3", "fc1", "fc4", "fc0", "fc2"]}
    finding = run([VANISH] * CFG.window, layers=shuffled)
    assert finding is not None
    assert finding.layers == ("fc0", "fc1", "fc2")
    assert finding.evidence["output_layer"] == "fc4"


def test_first_step_is_first_low_step_in_window():
    finding = run([HEALTHY] + [VANISH] * (CFG.window - 1))
    assert finding is not None
    assert finding.first_step == 10


def test_window_not_full_raises_nothing():
    assert run([VANISH] * (CFG.window - 1)) is None


@pytest.mark.parametrize("position", range(6))
def test_single_low_step_raises_nothing(position):
    profiles = [HEALTHY] * 12
    profiles[6 + position] = VANISH
    assert run(profiles) is None


def test_persist_threshold():
    # 4 low steps of 6 are not enough, 5 are
    assert run([HEALTHY, HEALTHY] + [VANISH] * 4) is None
    assert run([HEALTHY] + [VANISH] * 5) is not None


def test_bias_before_batchnorm_is_ignored():
    """A bias feeding BatchNorm has grads ~1e-8, but weight grads are healthy: no vanishing."""
    layers = stack(5)
    layers["bn1"] = LayerInfo(name="bn1", type="BatchNorm1d", order=1, has_weights=False, units=8)
    layers["fc1"] = LayerInfo(name="fc1", type="Linear", order=1, activation="ReLU", units=8)
    history = [
        make_step(
            i,
            {**dict(zip(LAYERS, HEALTHY)), "bn1": 1e-9},
            layer_fields={"fc0": {"bias_grad_norm": 1e-8}, "fc1": {"bias_grad_norm": 1e-8}},
        )
        for i in range(CFG.window)
    ]
    assert history[0].layers["fc1"].bias_grad_norm == 1e-8
    assert vanishing.detect(history, layers, CFG) is None


def test_first_layer_alone_never_triggers():
    assert run([[1e-9, 0.5, 0.8, 0.9, 1.0]] * 10) is None


def test_first_layer_is_reported_along_with_inner_layers():
    finding = run([[1e-5, 1e-4, 0.5, 0.9, 1.0]] * CFG.window)
    assert finding is not None
    assert finding.layers == ("fc0", "fc1")


def test_exactly_zero_gradient_is_not_vanishing():
    assert run([[0.5, 0.0, 0.0, 0.9, 1.0]] * 10) is None


def test_zero_output_gradient_raises_nothing():
    assert run([[1e-9, 1e-9, 1e-9, 1e-9, 0.0]] * 10) is None


def test_needs_three_weight_layers():
    assert run([[1e-9, 1.0]] * 10, layers=stack(2)) is None


def test_first_layer_does_not_set_severity():
    # inner layer fc1 at ratio 1e-4 is a warning; fc0 at 1e-9 only reflects the input scale
    finding = run([[1e-9, 1e-4, 0.5, 0.9, 1.0]] * CFG.window)
    assert finding is not None
    assert finding.severity == "warning"
