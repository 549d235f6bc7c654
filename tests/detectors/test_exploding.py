"""exploding_gradients: spike, growth, overflow and depth rules on synthetic global norms."""

from __future__ import annotations

import numpy as np
import pytest

from gradmedic.config import Config
from gradmedic.detectors import exploding
from gradmedic.records import EXPLODING

from .helpers import make_step, stack

CFG = Config()
LAYERS = stack(5)
FLAT = [1.0, 1.0, 1.0, 1.0, 1.0]


def run(norms, profiles=None, layers=LAYERS, cfg=CFG):
    profiles = profiles or [FLAT] * len(norms)
    history = [make_step(10 * i, rms, norm=n) for i, (n, rms) in enumerate(zip(norms, profiles))]
    return exploding.detect(history, layers, cfg)


def test_spike_rule():
    w = CFG.window
    finding = run([1.0] * CFG.exploding_min_history + [500.0] * w)
    assert finding is not None
    assert finding.kind == EXPLODING
    assert finding.severity == "warning"
    assert finding.evidence["rules"] == ["spike"]
    assert finding.evidence["baseline_norm"] == pytest.approx(1.0)
    assert finding.evidence["spike_factor"] == pytest.approx(500.0)
    assert finding.evidence["suggested_clip"] == pytest.approx(1.0)
    assert finding.first_step == 10 * CFG.exploding_min_history
    assert finding.step == 10 * (CFG.exploding_min_history + w - 1)
    assert {"global_grad_norm", "rules", "suggested_clip", "baseline_norm", "spike_factor"} <= set(finding.evidence)


def test_spike_needs_min_history():
    assert run([1.0] * (CFG.exploding_min_history - 1) + [500.0] * CFG.window) is None


def test_spike_needs_persist_steps():
    base = [1.0] * CFG.exploding_min_history
    assert run(base + [1.0, 1.0] + [500.0] * (CFG.persist - 1)) is None
    assert run(base + [1.0] + [500.0] * CFG.persist) is not None


@pytest.mark.parametrize("position", range(6))
def test_single_spike_raises_nothing(position):
    norms = [1.0] * (CFG.exploding_min_history + CFG.window)
    norms[CFG.exploding_min_history + position] = 1e4
    assert run(norms) is None


def test_growth_rule():
    finding = run([3.0**i for i in range(CFG.window)])  # 1 .. 243: growth 243, five rises
    assert finding is not None
    assert finding.evidence["rules"] == ["growth"]
    assert finding.evidence["growth_in_window"] == pytest.approx(243.0)
    assert finding.severity == "warning"
    assert finding.first_step == 0


def test_growth_needs_sustained_rises():
    # the same growth, but in one jump: not a sustained climb
    assert run([1.0, 1.0, 1.0, 1.0, 1.0, 500.0]) is None
    # growth below the factor
    assert run([2.0**i for i in range(CFG.window)]) is None


def test_overflow_rule_twice():
    finding = run([1.0, 1.0, 1.0, 1.0, 2e6, 3e6])
    assert finding is not None
    assert finding.evidence["rules"] == ["overflow"]
    assert finding.evidence["max_norm"] == pytest.approx(3e6)
    assert finding.severity == "error"


def test_overflow_once_raises_nothing():
    assert run([1.0, 1.0, 1.0, 1.0, 1.0, 2e6]) is None


def test_depth_rule():
    # inner layers 100x the output layer's RMS; the first layer is high too but never judged by depth
    finding = run([1.0] * CFG.window, profiles=[[1.0, 1.0, 1.0, 1.0, 0.01]] * CFG.window)
    assert finding is not None
    assert finding.evidence["rules"] == ["depth"]
    assert finding.layers == ("fc1", "fc2", "fc3")
    assert finding.evidence["ratio_to_output"] == pytest.approx({"fc1": 100.0, "fc2": 100.0, "fc3": 100.0})
    assert finding.severity == "warning"


def test_depth_rule_ignores_first_layer_and_moderate_ratios():
    assert run([1.0] * 10, profiles=[[500.0, 60.0, 60.0, 1.0, 1.0]] * 10) is None


def test_depth_rule_hysteresis():
    high = [1.0, 1.0, 100.0, 1.0, 1.0]
    assert run([1.0] * 6, profiles=[FLAT, FLAT, high, high, high, high]) is None
    assert run([1.0] * 6, profiles=[FLAT, high, high, high, high, high]) is not None


def test_layers_tie_on_growth_goes_to_largest_gradient():
    profiles = [[1.0, 5.0, 2.0, 1.0, 1.0]] * 14
    finding = run([1.0] * 8 + [500.0] * 6, profiles=profiles)
    assert finding is not None
    assert finding.layers == ("fc1",)


def test_layers_name_the_layer_whose_gradient_grew_most():
    calm = [[1.0, 5.0, 2.0, 1.0, 1.0]] * 8
    wild = [[1.0, 50.0, 2.0, 30.0, 1.0]] * 6  # fc1 grew 10x to 50 (the largest); fc3 grew 30x to 30
    finding = run([1.0] * 8 + [500.0] * 6, profiles=calm + wild)
    assert finding is not None
    assert finding.layers == ("fc3",)


def test_a_new_steady_level_after_a_plateau_is_not_an_explosion():
    # learning takes off: the norm rises 13x from the warm-up plateau and holds (train_two_optimizers.py)
    assert run([0.23] * 12 + [3.0, 2.5, 3.2, 2.8, 3.1, 2.9] * 3) is None


def test_a_moderate_spike_that_keeps_climbing_is_an_explosion():
    finding = run([1.0] * 10 + [12.0, 15.0, 20.0, 40.0, 60.0, 90.0])
    assert finding is not None and "spike" in finding.evidence["rules"]


def test_window_not_full_raises_nothing():
    assert run([3.0**i for i in range(CFG.window - 1)]) is None
    assert run([1e7] * (CFG.window - 1)) is None


def test_steady_noisy_history_raises_nothing():
    rng = np.random.default_rng(0)
    n = 300
    norms = 2.0 * rng.lognormal(0.0, 0.3, size=n)
    profiles = (np.array([0.2, 0.4, 0.6, 0.8, 1.0]) * rng.lognormal(0.0, 0.3, size=(n, 5))).tolist()
    history = [make_step(i, rms, norm=float(v)) for i, (v, rms) in enumerate(zip(norms, profiles))]
    for end in range(1, n + 1):
        assert exploding.detect(history[max(0, end - 64) : end], LAYERS, CFG) is None, end


def test_growth_from_a_lucky_batch_below_the_runs_level_raises_nothing():
    # pytorch/examples regression/main.py, torch seed 69 (benchmarks/false_alarms.py), healthy: global norms
    # between 0.4 and 4; the window opens on a batch at the loss floor (norm 0.026)
    history = [1.06, 0.74, 2.03, 1.10, 3.66, 1.81, 2.20, 2.13, 0.36, 0.52, 0.93, 1.01, 2.69, 2.36, 2.32, 0.38]
    history += [1.26, 0.48, 2.89, 1.22, 3.31, 0.99, 4.30, 3.30, 1.64, 2.51, 1.82]
    window = [0.026, 2.01, 2.77, 3.08, 1.89, 6.19]
    assert run(history + window) is None
    # the same window at the start of a run (nothing earlier): growth 238, rising on four of five steps
    finding = run(window)
    assert finding is not None and finding.evidence["rules"] == ["growth"]
    # the same climb from the run's level is growth
    climb = run(history + [2.0 * 3.0**i for i in range(CFG.window)])
    assert climb is not None and "growth" in climb.evidence["rules"]
