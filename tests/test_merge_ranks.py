"""merge_ranks: one record from every rank's record of a sampled step, fed to the real detectors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from gradmedic.config import Config
from gradmedic.detectors import dead
from gradmedic.merge_ranks import merge_ranks
from gradmedic.records import StepStats

from .detectors.helpers import alive, make_step, relu, stack

CFG = Config()
UNITS = 100
LAYERS = stack(3, units=UNITS)


def _pair(step: int, rank0: dict, rank1: dict) -> tuple[StepStats, StepStats]:
    return make_step(step, [1.0, 1.0, 1.0], **rank0), make_step(step, [1.0, 1.0, 1.0], **rank1)


def test_a_single_rank_is_its_own_record() -> None:
    stats = make_step(3, [1.0, 2.0], loss=0.5)
    assert merge_ranks([stats]) is stats


def test_a_nan_loss_on_one_rank_makes_the_group_record_non_finite() -> None:
    rank0 = make_step(30, [1.0], loss=0.7, losses={25: 0.8, 30: 0.7})
    rank1 = make_step(30, [1.0], loss=0.9, losses={25: math.nan, 30: 0.9}, nonfinite_loss=True, first_nonfinite_step=25)
    merged = merge_ranks([rank0, rank1])
    assert merged.nonfinite_loss and merged.any_nonfinite
    assert merged.first_nonfinite_step == 25
    assert math.isnan(merged.losses[25])
    assert merged.losses[30] == merged.loss == 0.8  # the loss of the global batch: the mean over ranks


def test_a_non_finite_gradient_or_weight_on_one_rank_is_kept() -> None:
    rank0, rank1 = _pair(5, {}, {"layer_fields": {"fc1": {"nonfinite_grad": True}}, "norm": math.nan})
    merged = merge_ranks([rank0, rank1])
    assert merged.layers["fc1"].nonfinite_grad and not merged.layers["fc0"].nonfinite_grad
    assert math.isnan(merged.global_grad_norm)


def test_rank_0s_gradient_figures_are_kept() -> None:
    rank0 = make_step(5, [1.0, 2.0])
    rank1 = make_step(5, [1.0, 2.0], layer_fields={"fc0": {"grad_norm": 99.0}})
    assert merge_ranks([rank0, rank1]).layers["fc0"].grad_norm == rank0.layers["fc0"].grad_norm


def test_a_unit_is_dead_only_if_silent_on_every_rank() -> None:
    # rank 0's shard never wakes 60 units of fc1; rank 1's data does
    history_rank0, merged = [], []
    for i in range(CFG.window):
        r0, r1 = _pair(
            10 * i,
            {"acts": {"fc0": alive(UNITS), "fc1": alive(UNITS, dead=60)}},
            {"acts": {"fc0": alive(UNITS), "fc1": alive(UNITS)}},
        )
        history_rank0.append(r0)
        merged.append(merge_ranks([r0, r1]))
    assert dead.detect(history_rank0, LAYERS, CFG) is not None  # what rank 0 alone would say
    assert dead.detect(merged, LAYERS, CFG) is None
    act = merged[-1].layers["fc1"].activation
    assert act is not None and act.active.all()


def test_units_silent_everywhere_stay_dead_and_fractions_are_averaged() -> None:
    both = np.arange(UNITS) >= 60
    r0 = make_step(0, [1.0], acts={"fc0": relu(both, zero_fraction=0.7)})
    r1 = make_step(0, [1.0], acts={"fc0": relu(both, zero_fraction=0.5)})
    act = merge_ranks([r0, r1]).layers["fc0"].activation
    assert act is not None
    assert int((~act.active).sum()) == 60
    assert act.zero_fraction == 0.6


def test_every_rank_merging_the_same_list_gets_the_same_record() -> None:
    records = [make_step(7, [1.0, 0.5], loss=0.1 * r, acts={"fc0": alive(UNITS, dead=r)}) for r in range(4)]
    a, b = merge_ranks(records), merge_ranks(list(records))
    assert a.loss == b.loss and a.losses == b.losses
    assert np.array_equal(a.layers["fc0"].activation.active, b.layers["fc0"].activation.active)  # type: ignore[union-attr]


@pytest.mark.slow
def test_the_merge_imports_no_framework(tmp_path: Path) -> None:
    from .test_without_torch import _run_without_torch

    done = _run_without_torch(
        """
        from gradmedic.merge_ranks import merge_ranks
        assert "torch" not in sys.modules
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
