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
    assert run(RISING[-(3 * CFG.window - 1) :]) is None


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
