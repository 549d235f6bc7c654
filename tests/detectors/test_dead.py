"""dead_units: units never active over the whole window, cause and cascade, and healthy sparsity."""

from __future__ import annotations

import numpy as np
import pytest

from gradmedic.config import Config
from gradmedic.detectors import dead
from gradmedic.records import DEAD, ActivationStats

from .helpers import alive, make_step, relu, relu_from_batch, stack

CFG = Config()
UNITS = 100
LAYERS = stack(5, units=UNITS)
HIDDEN = ["fc0", "fc1", "fc2", "fc3"]


def healthy_acts():
    return {name: alive(UNITS) for name in HIDDEN}


def run(acts_per_step, layers=LAYERS, cfg=CFG):
    history = [make_step(10 * i, [1.0] * 5, acts=acts) for i, acts in enumerate(acts_per_step)]
    return dead.detect(history, layers, cfg)


def test_cause_and_cascade():
    acts = {**healthy_acts(), "fc1": alive(UNITS, dead=95), "fc2": alive(UNITS, dead=60), "fc3": alive(UNITS, dead=30)}
    finding = run([acts] * CFG.window)
    assert finding is not None
    assert finding.kind == DEAD
    assert finding.severity == "error"
    assert finding.layers == ("fc1", "fc2")  # fc3 (30 %) is below the layer threshold: only in the evidence
    assert finding.first_step == 0
    assert finding.step == 50
    ev = finding.evidence
    assert set(ev) == {"dead_fraction", "cause", "cascade", "units", "zero_fraction", "window_steps"}
    assert ev["cause"] == "fc1"
    assert ev["cascade"] == ["fc2"]
    assert ev["dead_fraction"] == pytest.approx({"fc1": 0.95, "fc2": 0.6, "fc3": 0.3})
    assert ev["units"] == {"fc1": UNITS, "fc2": UNITS, "fc3": UNITS}
    assert ev["zero_fraction"] == pytest.approx({"fc1": 0.95, "fc2": 0.6, "fc3": 0.3})
    assert ev["window_steps"] == [0, 50]


def test_cause_is_first_in_depth_order_not_dict_order():
    layers = {name: LAYERS[name] for name in ["fc3", "fc4", "fc2", "fc0", "fc1"]}
    acts = {**healthy_acts(), "fc1": alive(UNITS, dead=60), "fc3": alive(UNITS, dead=95)}
    finding = run([acts] * CFG.window, layers=layers)
    assert finding is not None
    assert finding.layers == ("fc1", "fc3")
    assert finding.evidence["cause"] == "fc1"
    assert finding.evidence["cascade"] == ["fc3"]


@pytest.mark.parametrize(
    ("n_dead", "severity"),
    [
        (0, None),
        (24, None),
        (25, "info"),
        (49, "info"),
        (50, "warning"),
        (89, "warning"),
        (90, "error"),
        (100, "error"),
    ],
)
def test_severity_thresholds(n_dead, severity):
    assert (CFG.dead_info_fraction, CFG.dead_layer_fraction, CFG.dead_error_fraction) == (0.25, 0.5, 0.9)
    finding = run([{**healthy_acts(), "fc2": alive(UNITS, dead=n_dead)}] * CFG.window)
    if severity is None:
        assert finding is None
    else:
        assert finding is not None
        assert finding.severity == severity
        assert finding.layers == ("fc2",)
        assert finding.evidence["cause"] == "fc2"
        assert finding.evidence["cascade"] == []


def test_single_dead_batch_raises_nothing():
    steps = [healthy_acts() for _ in range(12)]
    steps[8] = {name: alive(UNITS, dead=UNITS) for name in HIDDEN}
    history = [make_step(i, [1.0] * 5, acts=a) for i, a in enumerate(steps)]
    for end in range(CFG.window, 13):
        assert dead.detect(history[:end], LAYERS, CFG) is None


def test_unit_active_once_in_window_is_alive():
    steps = [{**healthy_acts(), "fc1": alive(UNITS, dead=UNITS)} for _ in range(CFG.window)]
    steps[3]["fc1"] = alive(UNITS)
    assert run(steps) is None


def test_window_not_full_raises_nothing():
    assert run([{**healthy_acts(), "fc1": alive(UNITS, dead=UNITS)}] * (CFG.window - 1)) is None


def test_units_that_die_mid_window_wait_for_a_full_window():
    steps = [healthy_acts()] * 3 + [{**healthy_acts(), "fc1": alive(UNITS, dead=UNITS)}] * CFG.window
    history = [make_step(10 * i, [1.0] * 5, acts=a) for i, a in enumerate(steps)]
    assert dead.detect(history[: 3 + CFG.window - 1], LAYERS, CFG) is None
    finding = dead.detect(history, LAYERS, CFG)
    assert finding is not None
    assert finding.first_step == 30


def test_natural_relu_sparsity_is_healthy():
    """60-70 % zeros at every step, but every unit active at least once per window: nothing is dead."""
    rng = np.random.default_rng(1)
    steps = []
    for i in range(12):
        mask = (np.arange(UNITS) % 3 == i % 3) | (rng.random(UNITS) < 0.03)  # each unit active every 3rd step
        assert 0.6 <= 1.0 - mask.mean() <= 0.7
        steps.append({name: relu(mask) for name in HIDDEN})
    history = [make_step(i, [1.0] * 5, acts=a) for i, a in enumerate(steps)]
    for end in range(CFG.window, len(history) + 1):
        assert dead.detect(history[:end], LAYERS, CFG) is None


def test_per_example_sparsity_from_batches():
    """Per-example ReLU outputs with ~65 % zeros reduce to a mask where every unit is active."""
    rng = np.random.default_rng(2)
    steps = []
    for _ in range(CFG.window):
        acts = {}
        for name in HIDDEN:
            batch = rng.normal(-0.4, 1.0, size=(32, UNITS)).clip(min=0.0)  # P(x > 0) ~ 0.34
            acts[name] = relu_from_batch(batch)
            assert 0.6 <= acts[name].zero_fraction <= 0.7
        steps.append(acts)
    assert run(steps) is None


def test_dropout_like_random_zeros_are_not_death():
    rng = np.random.default_rng(3)
    steps = []
    for _ in range(CFG.window):
        acts = {}
        for name in HIDDEN:
            batch = rng.lognormal(size=(16, UNITS)) * (rng.random((16, UNITS)) >= 0.5)  # dropout p=0.5
            acts[name] = relu_from_batch(batch)
        steps.append(acts)
    assert run(steps) is None


def test_output_layer_is_never_judged():
    acts = {**healthy_acts(), "fc4": alive(UNITS, dead=UNITS)}
    layers = stack(5, units=UNITS, output_activation="ReLU")
    assert run([acts] * CFG.window, layers=layers) is None


def test_non_relu_layers_are_not_judged():
    never = np.zeros(UNITS, dtype=bool)
    tanh = ActivationStats(kind="tanh", zero_fraction=1.0, saturated_fraction=0.0, active=never)
    assert run([{**healthy_acts(), "fc1": tanh}] * CFG.window) is None


def test_layer_missing_activation_in_a_step_is_skipped():
    steps = [{**healthy_acts(), "fc1": alive(UNITS, dead=UNITS)} for _ in range(CFG.window)]
    del steps[2]["fc1"]
    assert run(steps) is None
