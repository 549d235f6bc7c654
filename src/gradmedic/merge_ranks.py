"""One record from the records of every rank of a data-parallel run, for the same sampled step.

Under DDP the gradients are averaged across ranks before the optimizer steps, so gradient and weight
figures agree everywhere; what differs is what each rank saw of its own data: the loss, the model
output, the activations. The merge keeps rank 0's gradient and weight figures and folds in the rest:
the loss is the mean over ranks (the loss of the global batch), anything non-finite on any rank is
non-finite, a unit is dead only if it was silent on every rank. It is a pure function of the list, so
every rank that merges the same list gets the same record, and treatment decisions taken from it are
the same everywhere. Imports no framework.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Mapping, Sequence

import numpy as np

from .records import ActivationStats, LayerStats, StepStats


def merge_ranks(per_rank: Sequence[StepStats]) -> StepStats:
    """The record of the whole group for one sampled step; ``per_rank[0]`` is rank 0's."""
    base = per_rank[0]
    if len(per_rank) == 1:
        return base
    names = dict.fromkeys(name for stats in per_rank for name in stats.layers)
    layers = {name: _merge_layer([s.layers[name] for s in per_rank if name in s.layers]) for name in names}
    losses = _mean_by_step([s.losses for s in per_rank])
    rank_losses = [s.loss for s in per_rank if s.loss is not None]
    firsts = [s.first_nonfinite_step for s in per_rank if s.first_nonfinite_step is not None]
    return replace(
        base,
        layers=layers,
        global_grad_norm=_max([s.global_grad_norm for s in per_rank]),
        loss=_mean(rank_losses) if rank_losses else None,
        nonfinite_loss=any(s.nonfinite_loss for s in per_rank),
        nonfinite_output=any(s.nonfinite_output for s in per_rank),
        first_nonfinite_step=min(firsts) if firsts else None,
        losses=losses,
    )


def _merge_layer(found: list[LayerStats]) -> LayerStats:
    first = found[0]
    acts = [s.activation for s in found if s.activation is not None]
    return replace(
        first,
        nonfinite_grad=any(s.nonfinite_grad for s in found),
        nonfinite_weight=any(s.nonfinite_weight for s in found),
        activation=_merge_activation(acts) if acts else None,
    )


def _merge_activation(acts: list[ActivationStats]) -> ActivationStats:
    first = acts[0]
    same_units = all(a.active.shape == first.active.shape for a in acts)
    saturated = [a.saturated_fraction for a in acts]
    return replace(
        first,
        zero_fraction=_mean([a.zero_fraction for a in acts]),
        saturated_fraction=_mean([s for s in saturated if s is not None]) if None not in saturated else None,
        active=np.logical_or.reduce([a.active for a in acts]) if same_units else first.active,
    )


def _mean_by_step(series: list[Mapping[int, float]]) -> dict[int, float]:
    """Step -> mean over the ranks that handed over that step's loss (a NaN anywhere stays NaN)."""
    steps = sorted({step for losses in series for step in losses})
    return {step: _mean([losses[step] for losses in series if step in losses]) for step in steps}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)  # NaN and Inf carry through; the order of ranks fixes the rounding


def _max(values: Sequence[float]) -> float:
    """The largest value; NaN when any is NaN (a NaN on one rank is never hidden by the others)."""
    if any(math.isnan(v) for v in values):
        return math.nan
    return max(values)
