"""update_ratio: updates too large for the weights they change, sustained over a window."""

from __future__ import annotations

import pytest

from gradmedic.config import Config
from gradmedic.detectors import update_ratio
from gradmedic.records import UPDATE_RATIO

from .helpers import make_step, stack

CFG = Config()
LAYERS = stack(3)
# the rule itself, on records without a loss: past the settling steps, where no loss is needed to judge
LATE = CFG.update_ratio_settle_steps


def run(ratios_per_step, cfg=CFG):
    """One sampled step per entry from step LATE on; each entry gives fc0..fc2's update ratio."""
    history = [
        make_step(LATE + i, [1.0] * 3, layer_fields={f"fc{k}": {"update_ratio": r} for k, r in enumerate(ratios)})
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
    assert finding.first_step == LATE and finding.step == LATE + CFG.window - 1


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
        make_step(LATE + i, [1.0] * 3, layer_fields={"fc0": {"update_ratio": 1.0 / (i + 1), "weight_norm": 0.01 * i}})
        for i in range(CFG.window)
    ]
    assert update_ratio.detect(history, LAYERS, CFG) is None
    steady = [
        make_step(LATE + i, [1.0] * 3, layer_fields={"fc0": {"update_ratio": 0.6, "weight_norm": 1.0 + 0.1 * i}})
        for i in range(CFG.window)
    ]
    assert update_ratio.detect(steady, LAYERS, CFG) is not None
    # weights blown up from a normal init by a far too large rate grow as fast, and are judged
    blown = [
        make_step(LATE + i, [1.0] * 3, layer_fields={"fc0": {"update_ratio": 0.6, "weight_norm": 4.0 * 3**i}})
        for i in range(CFG.window)
    ]
    assert update_ratio.detect(blown, LAYERS, CFG) is not None


# --- the first steps: large updates need the loss to confirm them ----------------------------------------
def early_run(rows, cfg=CFG):
    """One sampled step per (loss, ratio, weight_norm) row from step 0; the single layer is fc0."""
    history = [
        make_step(
            i,
            [1.0] * 3,
            loss=loss,
            losses={i: loss},
            layer_fields={"fc0": {"update_ratio": ratio, "weight_norm": norm}},
        )
        for i, (loss, ratio, norm) in enumerate(rows)
    ]
    return update_ratio.detect(history, LAYERS, cfg)


# pytorch/examples regression/main.py under torch seed 6 (benchmarks/false_alarms.py): hand SGD at lr 0.1 on a
# Linear(4, 1) whose weights head for a solution 20x their init; healthy, it ends below its own 1e-3 stop
REGRESSION_SEED_6 = [
    (21.93, None, None),
    (19.18, 0.71, 0.34),
    (17.96, 0.55, 0.36),
    (14.73, 0.43, 0.43),
    (31.51, 0.92, 0.59),
    (21.90, 0.37, 1.09),
    (14.23, 0.15, 1.47),
    (13.77, 0.14, 1.69),
]
# the same script under seed 161: its loss rises on single batches (to 3.3x its start at step 6)
REGRESSION_SEED_161 = [
    (23.48, None, None),
    (25.80, 0.40, 0.40),
    (48.55, 1.02, 0.30),
    (39.09, 1.10, 0.29),
    (28.63, 0.39, 0.56),
    (40.33, 0.37, 0.76),
    (78.64, 0.70, 1.00),
    (65.65, 0.31, 1.69),
    (58.46, 0.24, 2.18),
]


@pytest.mark.parametrize("rows", [REGRESSION_SEED_6, REGRESSION_SEED_161], ids=["seed6", "seed161"])
def test_a_healthy_run_settling_in_raises_nothing(rows):
    for end in range(CFG.window, len(rows) + 1):
        assert early_run(rows[:end]) is None, end


def test_the_same_updates_without_any_loss_are_not_judged_while_settling():
    # no loss at all (none handed over, none read at backward()): nothing can show the climb that would
    # count, so the settling steps are left alone
    rows = [(None, ratio, norm) for _, ratio, norm in REGRESSION_SEED_6]
    history = [
        make_step(i, [1.0] * 3, layer_fields={"fc0": {"update_ratio": r, "weight_norm": n}})
        for i, (_, r, n) in enumerate(rows)
    ]
    for end in range(CFG.window, len(history) + 1):
        assert update_ratio.detect(history[:end], LAYERS, CFG) is None, end


def test_without_any_loss_large_updates_past_the_settling_steps_are_judged():
    settle = CFG.update_ratio_settle_steps
    steps = [*range(settle - 3, settle), *range(settle, settle + 10 * CFG.persist, 10)]
    history = [make_step(s, [1.0] * 3, layer_fields={"fc0": {"update_ratio": 0.5, "weight_norm": 1.0}}) for s in steps]
    assert update_ratio.detect(history[:-1], LAYERS, CFG) is None  # one past-settling step short of persist
    finding = update_ratio.detect(history, LAYERS, CFG)
    assert finding is not None and finding.layers == ("fc0",)


def test_large_early_updates_with_a_climbing_loss_fire():
    # AdamW at lr 1 behind clip_grad_norm_ (tests/test_no_optimizer.py): the loss climbs from the step after
    # the first update on, and the LayerNorm weight moves by half of itself per step
    rows = [(0.73, 1.0, 8.0), (48.1, 0.52, 10.7), (780.6, 0.47, 10.2), (3706.0, 0.40, 11.1), (1422.0, 0.34, 13.4)]
    finding = early_run([*rows, (940.0, 0.20, 16.7)])
    assert finding is not None and finding.layers == ("fc0",) and finding.first_step == 0


def test_after_the_settling_steps_a_falling_loss_excuses_nothing():
    late = CFG.update_ratio_settle_steps
    history = [
        make_step(late + i, [1.0] * 3, loss=1.0, losses={late + i: 1.0}, layer_fields={"fc0": {"update_ratio": 0.5}})
        for i in range(CFG.window)
    ]
    start = [make_step(0, [1.0] * 3, loss=2.0, losses={0: 2.0})]
    assert update_ratio.detect(start + history, LAYERS, CFG) is not None


def test_the_loss_rise_comes_from_the_config():
    rows = [(1.0, None, None)] + [(1.5, 0.5, 1.0)] * CFG.window
    assert early_run(rows) is None
    assert early_run(rows, Config(update_ratio_loss_rise=1.2)) is not None
    assert early_run(rows, Config(update_ratio_settle_steps=0)) is not None
