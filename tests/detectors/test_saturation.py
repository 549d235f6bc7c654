"""saturated_units: sigmoid/tanh outputs pinned at their asymptotes, sustained, outside the output layer."""

from __future__ import annotations

import pytest

from gradmedic.config import Config
from gradmedic.detectors import saturation
from gradmedic.records import SATURATED

from .helpers import make_step, squashing, stack

CFG = Config()
LAYERS = stack(5, activation="Sigmoid", output_activation="Sigmoid")


def run(fractions_per_step, layers=LAYERS, kind="sigmoid", cfg=CFG):
    """fractions_per_step: per step, a dict of layer -> saturated fraction."""
    history = [
        make_step(10 * i, [1.0] * 5, acts={n: squashing(f, kind=kind) for n, f in fr.items()})
        for i, fr in enumerate(fractions_per_step)
    ]
    return saturation.detect(history, layers, cfg)


HEALTHY = {"fc0": 0.05, "fc1": 0.1, "fc2": 0.1, "fc3": 0.05}


@pytest.mark.parametrize("kind", ["sigmoid", "tanh"])
def test_fires_on_saturated_hidden_layers(kind):
    finding = run([{**HEALTHY, "fc3": 0.9, "fc1": 0.8}] * CFG.window, kind=kind)
    assert finding is not None
    assert finding.kind == SATURATED
    assert finding.severity == "warning"
    assert finding.layers == ("fc1", "fc3")
    assert finding.first_step == 0
    assert finding.step == 50
    assert set(finding.evidence) == {"saturated_fraction", "activation", "threshold"}
    assert finding.evidence["saturated_fraction"] == pytest.approx({"fc1": 0.8, "fc3": 0.9})
    assert finding.evidence["activation"] == {"fc1": kind, "fc3": kind}
    assert finding.evidence["threshold"] == CFG.saturated_layer_fraction


def test_layers_in_depth_order_not_dict_order():
    layers = {n: LAYERS[n] for n in ["fc3", "fc0", "fc4", "fc2", "fc1"]}
    finding = run([{**HEALTHY, "fc3": 0.9, "fc1": 0.8}] * CFG.window, layers=layers)
    assert finding is not None
    assert finding.layers == ("fc1", "fc3")


def test_saturated_output_layer_raises_nothing():
    assert run([{**HEALTHY, "fc4": 1.0}] * 10) is None


@pytest.mark.parametrize("position", range(6))
def test_single_saturated_step_raises_nothing(position):
    steps = [HEALTHY] * 12
    steps[6 + position] = {n: 1.0 for n in HEALTHY}
    assert run(steps) is None


def test_persist_threshold():
    sat = {**HEALTHY, "fc2": 0.95}
    assert run([HEALTHY, HEALTHY] + [sat] * 4) is None
    assert run([HEALTHY] + [sat] * 5) is not None


def test_half_saturated_is_not_flagged():
    assert run([{**HEALTHY, "fc2": 0.5}] * CFG.window) is None


def test_window_not_full_raises_nothing():
    assert run([{n: 1.0 for n in HEALTHY}] * (CFG.window - 1)) is None
