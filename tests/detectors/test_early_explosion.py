"""exploding_gradients without a calm baseline: the norm against step 0's, confirmed by the loss."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gradmedic.advice import explain
from gradmedic.config import Config
from gradmedic.detectors import exploding
from gradmedic.detectors.early_explosion import early_explosion
from gradmedic.records import Recurrence

from .helpers import make_step, stack

CFG = Config()
LAYERS = stack(3)
# word_language_model, tanh RNN, hand SGD at lr 200 (tests/real): the norm at each backward pass
BLOWN_UP = [0.37, 75.0, 2746.0, 1125.0, 81.0, 24.0, 7852.0, 5.2, 4.5]
BLOWN_LOSS = [8.46, 78.0, 2851.0, 1012.0, 1998.0, 1205.0, 1429.0, 1004.0, 969.0]


def history(norms, losses=None, first_step=0):
    losses = losses or [None] * len(norms)
    return [
        make_step(first_step + i, [1.0, 1.0, 1.0], norm=n, loss=v, losses={} if v is None else {first_step + i: v})
        for i, (n, v) in enumerate(zip(norms, losses))
    ]


def detect(steps):
    return exploding.detect(steps, LAYERS, CFG)


def test_a_blow_up_from_the_first_steps_is_caught():
    finding = detect(history(BLOWN_UP[:7], BLOWN_LOSS[:7]))
    assert finding is not None
    assert finding.evidence["rules"] == ["early"]
    assert finding.evidence["first_norm"] == pytest.approx(0.37)
    assert finding.evidence["early_factor"] > 1000
    assert finding.evidence["loss_rose"] is True
    assert finding.first_step == 1
    assert finding.evidence["suggested_clip"] == pytest.approx(0.37)  # the norms before the blow-up: step 0's
    message = explain(finding, LAYERS).message
    assert "1630x its first value (3.7e-01)" in message and "while the loss rose" in message


def test_step_0_is_the_reference_never_judged_against_itself():
    # six steps make a window that holds step 0: no reference outside it yet
    assert detect(history(BLOWN_UP[:6], BLOWN_LOSS[:6])) is None
    assert detect(history(BLOWN_UP[:7], BLOWN_LOSS[:7])) is not None


def test_a_falling_loss_means_a_network_waking_up_not_an_explosion():
    # a small initial gradient that grows as training takes off, while the loss falls
    norms = [0.01, 1.0, 2.0, 3.0, 2.5, 3.0, 2.8]
    losses = [2.3, 2.2, 2.0, 1.7, 1.5, 1.3, 1.2]
    assert detect(history(norms, losses)) is None
    assert early_explosion(history(norms, losses), history(norms, losses)[1:], CFG) == {}


def test_without_a_loss_the_growth_must_be_far_larger():
    assert detect(history(BLOWN_UP[:7])) is None  # a median 1.6e3x step 0: not enough with nothing to confirm it
    norms = [1.0, 2e4, 3e4, 2e4, 4e4, 3e4, 2e4]
    finding = detect(history(norms))
    assert finding is not None and finding.evidence["loss_rose"] is None
    assert "while the loss rose" not in explain(finding, LAYERS).message


def test_needs_the_first_step_in_view():
    # the history starts after step 0 (the monitor was attached late): there is no calm reference
    assert detect(history(BLOWN_UP[1:8], BLOWN_LOSS[1:8], first_step=1)) is None


def test_one_spike_or_a_tenfold_rise_is_not_enough():
    losses = [2.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]
    assert detect(history([1.0, 1.0, 1.0, 1e4, 1.0, 1.0, 1.0], losses)) is None
    assert detect(history([1.0, 30.0, 40.0, 30.0, 40.0, 30.0, 40.0], losses)) is None  # 35x: below 100x


def test_the_spike_rule_takes_over_once_the_history_is_long_enough():
    # with exploding_min_history steps before the window, the baseline is their median, not step 0
    calm = [1.0] * CFG.exploding_min_history
    steps = history(calm + [5.0] * CFG.window, [2.0] * len(calm) + [3.0] * CFG.window)
    assert detect(steps) is None  # 5x the calm median: no spike, and step 0 is no longer the reference


def _with_radii(radii):
    """BLOWN_UP's first seven steps, with rnn.weight_hh_l0's radius per step (None: not measured)."""
    steps = history(BLOWN_UP[:7], BLOWN_LOSS[:7])
    return [
        replace(s, recurrence={} if r is None else {"rnn.weight_hh_l0": Recurrence("rnn", "weight_hh_l0", r, 35)})
        for s, r in zip(steps, radii)
    ]


def test_recurrent_weights_are_judged_at_the_first_blown_up_step():
    # word_language_model, tanh RNN, hand SGD at lr 200 (exact radii): 0.6 at step 0 made the calm gradient,
    # 5.18 after the first update made the first blown-up one (75, 200x step 0's), later ones are the damage
    finding = detect(_with_radii([0.6, 5.18, 254.0, 8.25e4, 8.2e4, 8.2e4, 8.2e4]))
    assert finding is not None and finding.layers == ("rnn",)
    assert finding.evidence["through_time"]["rnn.weight_hh_l0"]["radius"] == 5.18
    assert "through time in 'rnn'" in explain(finding, LAYERS).message


def test_weights_blown_up_only_after_the_onset_are_damage_not_the_cause():
    finding = detect(_with_radii([0.6, 0.9, 5e4, 5e4, 5e4, 5e4, 5e4]))
    assert finding is not None and "through_time" not in finding.evidence


def test_an_onset_step_not_measured_is_judged_on_the_next_step_that_was():
    # gradmedic run finds a hand-updated model during its second backward pass (step 1), before the probe
    # saw a sequence: step 1 has no radius, step 2 (still blown up) has
    finding = detect(_with_radii([None, None, 75.7, 1.3e4, 5e4, 5e4, 5e4]))
    assert finding is not None and finding.evidence["through_time"]["rnn.weight_hh_l0"]["radius"] == 75.7
