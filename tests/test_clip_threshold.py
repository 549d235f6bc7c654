"""clip_threshold.suggested_clip: one threshold for the advice and the cure (AutoClip's low percentile)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradmedic.clip_threshold import calm_norms, suggested_clip
from gradmedic.config import Config

CFG = Config()


def pairs(values: list[float]) -> list[tuple[int, float]]:
    return list(enumerate(values))


def test_the_configured_percentile_of_the_calm_norms() -> None:
    values = [float(v) for v in range(1, 21)]
    found = suggested_clip(pairs(values), CFG)
    assert found is not None
    assert found.threshold == pytest.approx(np.percentile(values, 10))
    assert found.basis == "the 10th percentile of 20 calm norms (steps 0-19)"
    assert suggested_clip(pairs(values), Config(clip_percentile=50)).threshold == pytest.approx(10.5)  # type: ignore[union-attr]


def test_the_calm_stretch_ends_at_the_first_spike_or_overflow() -> None:
    calm = [1.0] * 10
    assert [n for _, n in calm_norms(pairs(calm + [50.0, 1.0]), CFG)] == calm
    assert [n for _, n in calm_norms(pairs(calm + [math.inf, 1.0]), CFG)] == calm
    assert [n for _, n in calm_norms(pairs(calm + [2e6, 1.0]), CFG)] == calm
    # a norm that overflows before any calm one is skipped, not taken as the end
    assert [s for s, _ in calm_norms(pairs([math.nan, 2.0, 3.0]), CFG)] == [1, 2]


def test_few_calm_norms_give_their_median_one_gives_itself() -> None:
    found = suggested_clip(pairs([1.0, 2.0, 9.0]), CFG)
    assert found is not None and found.threshold == 2.0 and "median of 3" in found.basis
    one = suggested_clip([(0, 2.5)], CFG)
    assert one is not None and one.threshold == 2.5 and one.basis == "the norm at step 0"
    assert suggested_clip(pairs([math.inf, math.nan]), CFG) is None


def test_a_percentile_outside_0_100_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="AutoClip uses 10"):
        Config(clip_percentile=110)
