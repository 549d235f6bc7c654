"""update_ratio: updates too large for the weights they change, sustained over a window."""

from __future__ import annotations

import pytest

from gradmedic.config import Config
from gradmedic.detectors import update_ratio
from gradmedic.records import UPDATE_RATIO

from .helpers import make_step, stack

CFG = Config()
LAYERS = stack(3)


def run(ratios_per_step, cfg=CFG):
    """One sampled step per entry; each entry gives fc0..fc2's update ratio."""
    history = [
        make_step(i, [1.0] * 3, layer_fields={f"fc{k}": {"update_ratio": r} for k, r in enumerate(ratios)})
        for i, ratios in enumerate(ratios_per_step)
    ]
    return update_ratio.detect(history, LAYERS, cfg)


def test_healthy_ratios_raise_nothing():
    assert run([[1e-3, 2e-3, 5e-4]] * 20) is None


def test_large_early_adam_steps_raise_nothing():
    # Adam's first steps on small-init layers reach a few 1e-2, then settle
    assert run([[0.08, 0.05, 0.03]] * 3 + [[2e-3, 1e-3, 1e-3]] * 17) is None


def test_sustained_large_updates_fire_on_the_layers_that_have_them():
    finding = run([[1e-3, 0.5, 1e-3]] * CFG.window)
    assert finding is not None
    assert finding.kind == UPDATE_RATIO
    assert finding.severity == "warning"
    assert finding.layers == ("fc1",)
    assert finding.evidence["update_ratio"]["fc1"] == pytest.approx(0.5)
    assert finding.first_step == 0 and finding.step == CFG.window - 1


def test_updates_larger_than_the_weights_are_an_error():
    finding = run([[3.0, 5.0, 2.0]] * CFG.window)
    assert finding is not None and finding.severity == "error"
    assert finding.layers == ("fc0", "fc1", "fc2")


def test_hysteresis_one_short_of_persist_raises_nothing():
    big, calm = [1e-3, 0.5, 1e-3], [1e-3] * 3
    steps = [big] * (CFG.persist - 1) + [calm] * (CFG.window - CFG.persist + 1)
    assert run(steps) is None
    assert run([big] * CFG.persist + [calm] * (CFG.window - CFG.persist)) is not None


def test_not_judged_before_a_full_window():
    assert run([[5.0, 5.0, 5.0]] * (CFG.window - 1)) is None


def test_missing_and_non_finite_ratios_are_skipped():
    assert run([[None, float("nan"), float("inf")]] * 10) is None


def test_thresholds_come_from_the_config():
    strict = Config(update_ratio_warning=1e-2, update_ratio_error=1e-1)
    finding = run([[0.05, 1e-3, 1e-3]] * CFG.window, strict)
    assert finding is not None and finding.layers == ("fc0",) and finding.severity == "warning"


def test_weights_growing_from_zero_are_not_judged():
    # a zero-initialised embedding under Adam: each update is large against weights that are still tiny
    history = [
        make_step(i, [1.0] * 3, layer_fields={"fc0": {"update_ratio": 1.0 / (i + 1), "weight_norm": 0.01 * i}})
        for i in range(CFG.window)
    ]
    assert update_ratio.detect(history, LAYERS, CFG) is None
    steady = [
        make_step(i, [1.0] * 3, layer_fields={"fc0": {"update_ratio": 0.6, "weight_norm": 1.0 + 0.1 * i}})
        for i in range(CFG.window)
    ]
    assert update_ratio.detect(steady, LAYERS, CFG) is not None
    # weights blown up from a normal init by a far too large rate grow as fast, and are judged
    blown = [
        make_step(i, [1.0] * 3, layer_fields={"fc0": {"update_ratio": 0.6, "weight_norm": 4.0 * 3**i}})
        for i in range(CFG.window)
    ]
    assert update_ratio.detect(blown, LAYERS, CFG) is not None
