"""Each case's label agrees with the independent oracle's figures (tests/real/oracles/results/).

Fast: it reads the stored results; ``make real-oracles`` measures them again (no gradmedic involved).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .suite import CASES, Case

RESULTS = Path(__file__).parent / "oracles" / "results"


def _confirms(kind: str, r: dict) -> bool:
    if kind == "exploding_gradients":
        return r["grad_norm_max"] > 100 * r["grad_norm_first"]
    if kind == "loss_divergence":
        return r["loss_last_mean"] > 10 * r["loss_initial"]
    if kind == "saturated_units":
        return (r["tanh_saturated_late_mean"] or 0.0) > 0.5
    raise AssertionError(f"no oracle figure for {kind}")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_label_is_confirmed_by_the_oracle(case: Case) -> None:
    path = RESULTS / f"{case.name}.json"
    assert path.is_file(), f"no oracle result for {case.name}: run make real-oracles"
    r = json.loads(path.read_text())
    assert r["exit_code"] == 0 and r["backward_calls"] > 0
    if case.kinds:
        for kind in case.kinds:
            assert _confirms(kind, r), f"{case.name}: the oracle does not show {kind}: {r}"
    else:
        assert r["nonfinite_loss_at"] is None
        assert r["loss_last_mean"] < r["loss_first_mean"], "a healthy run's loss falls"
        assert r["grad_norm_max"] < 100 * max(r["grad_norm_first"], r["grad_norm_median"])
        assert (r["tanh_saturated_late_mean"] or 0.0) < 0.5
