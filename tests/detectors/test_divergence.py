"""loss_divergence: a loss that climbs far above its best and past where it started, sustained."""

from __future__ import annotations

import numpy as np
import pytest

from gradmedic.config import Config
from gradmedic.detectors import divergence
from gradmedic.records import LOSS_DIVERGENCE

from .helpers import make_step, stack

CFG = Config()
LAYERS = stack(3)


def run(losses, cfg=CFG):
    history = [make_step(10 * i, [1.0] * 3, loss=v) for i, v in enumerate(losses)]
    return divergence.detect(history, LAYERS, cfg)


# 12 steps falling from 2.0 to ~0.1, then a climb to ~60
RISING = list(np.geomspace(2.0, 0.1, 12)) + list(np.geomspace(1.0, 60.0, 12))


def test_rising_loss_fires():
    finding = run(RISING)
    assert finding is not None
    assert finding.kind == LOSS_DIVERGENCE
    assert finding.severity == "warning"
    assert finding.layers == ()
    assert finding.first_step == 10 * (len(RISING) - CFG.window)
    assert finding.step == 10 * (len(RISING) - 1)
    assert set(finding.evidence) == {"loss", "best_loss", "initial_loss", "factor"}
    assert finding.evidence["factor"] > CFG.divergence_factor
    assert finding.evidence["loss"] > finding.evidence["initial_loss"]
    assert finding.evidence["factor"] == pytest.approx(finding.evidence["loss"] / finding.evidence["best_loss"])


def test_noisy_decreasing_loss_raises_nothing():
    rng = np.random.default_rng(4)
    losses = 2.0 * np.exp(-np.arange(200) / 40.0) + 0.05
    losses = (losses * rng.lognormal(0.0, 0.3, size=losses.size)).tolist()
    for end in range(1, len(losses) + 1):
        assert run(losses[max(0, end - 64) : end]) is None, end


def test_single_loss_spike_raises_nothing():
    losses = list(np.geomspace(2.0, 0.1, 24))
    losses[-2] = 100.0
    assert run(losses) is None


def test_too_short_history_raises_nothing():
    # the start of training is out of view (history from step 1000 on), so only the rule against the best judges
    history = [make_step(1000 + 10 * i, [1.0] * 3, loss=v) for i, v in enumerate(RISING[-(3 * CFG.window - 1) :])]
    assert divergence.detect(history, LAYERS, CFG) is None


# --- early blow-ups: against the loss as training began -------------------------------------------------
def early(losses, first_step=0):
    """One sampled step per loss, each carrying its own loss (a run whose every step is sampled)."""
    history = [make_step(first_step + i, [1.0] * 3, loss=v, losses={first_step + i: v}) for i, v in enumerate(losses)]
    return divergence.detect(history, LAYERS, CFG)


def test_a_blow_up_in_two_steps_is_caught_against_the_first_loss():
    finding = early([0.69, 24.0, 201.0])
    assert finding is not None
    assert finding.kind == LOSS_DIVERGENCE
    assert finding.severity == "error"  # 291x the start: above divergence_factor squared
    assert finding.first_step == 1
    assert finding.evidence["initial_loss"] == pytest.approx(0.69)
    assert finding.evidence["reference"] == "initial loss"
    assert finding.evidence["factor"] == pytest.approx(201.0 / 0.69)


def test_one_loss_above_the_start_is_not_enough():
    assert early([0.69, 24.0]) is None
    assert early([0.69, 24.0, 0.5]) is None  # one bad batch, then back


def test_the_losses_of_unsampled_steps_count():
    # two sampled steps (0 and 10); the blow-up is in the losses of the steps in between
    between = {0: 0.7, **{s: 0.6 for s in range(1, 6)}, 6: 30.0, 7: 90.0, 8: 300.0, 9: 900.0, 10: 2000.0}
    history = [
        make_step(0, [1.0] * 3, loss=0.7, losses={0: 0.7}),
        make_step(10, [1.0] * 3, loss=2000.0, losses={k: v for k, v in between.items() if k > 0}),
    ]
    finding = divergence.detect(history, LAYERS, CFG)
    assert finding is not None and finding.first_step == 6


def test_a_start_out_of_view_is_not_a_reference():
    assert early([0.69, 24.0, 201.0], first_step=CFG.divergence_start_steps + 1) is None


def test_a_high_first_loss_is_not_the_reference():
    # the first batch's loss was unusually high; the median of the first losses is the start
    assert early([50.0, 2.0, 2.1, 1.9, 2.2, 2.0, 2.1, 19.0, 21.0]) is None


def test_a_noisy_healthy_start_raises_nothing():
    rng = np.random.default_rng(0)
    losses = (2.3 * np.exp(-np.arange(60) / 20.0) + 0.05) * rng.lognormal(0.0, 0.5, size=60)
    for end in range(3, 61):
        assert early(losses[:end].tolist()) is None, end


def test_climb_that_stays_below_the_start_raises_nothing():
    # 10x above the best, but never above the initial loss: recovering from a bad start is not divergence
    losses = [50.0] * 6 + [1.0] * 6 + [20.0] * 12
    assert run(losses) is None


def test_non_positive_losses_are_not_judged():
    losses = [*RISING]
    losses[3] = -1.0
    assert run(losses) is None


def test_non_finite_losses_are_skipped():
    losses = [*RISING[:12], float("nan"), *RISING[12:]]
    assert run(losses) is not None


def test_persist_threshold():
    falling = list(np.geomspace(2.0, 0.1, 18))
    assert run(falling + [100.0] * (CFG.persist - 1)) is None
    finding = run(falling + [100.0] * CFG.persist)
    assert finding is not None
    assert finding.evidence["loss"] == pytest.approx(100.0)


def test_a_loss_that_blows_up_at_the_first_step_and_stays_up_is_divergence() -> None:
    """nanoGPT at learning rate 3 (tests/real): 4.2 at step 0, then 100-400 and never back."""
    from gradmedic.config import Config
    from gradmedic.detectors.divergence import detect
    from gradmedic.records import StepStats

    cfg = Config()
    curve = [4.2] + [300.0 - 2.0 * i for i in range(1, 5 * cfg.window)]  # [4.2, 298, 296, ...], all > 42
    history = [StepStats(step=i, layers={}, global_grad_norm=1.0, loss=v) for i, v in enumerate(curve)]
    finding = detect(history, {}, cfg)
    assert finding is not None and finding.evidence["initial_loss"] == 4.2
