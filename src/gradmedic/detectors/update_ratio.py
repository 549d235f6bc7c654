"""update_ratio: updates too large for the weights they change, ||dw|| / ||w|| per layer, sustained.

Healthy training moves a weight by about a thousandth of its norm per step. A learning rate far too
high moves it by a large part of itself, even when the script's own clipping keeps the gradient
norm flat (clipping bounds the gradient, not the step an adaptive optimizer takes). A layer is
flagged when its ratio is above ``update_ratio_warning`` on ``persist`` of the last ``window`` sampled
steps; an error above ``update_ratio_error``. Layers whose weights are still growing from (near) zero
over the window (their norm grows more than ``update_ratio_growth`` times) are not judged.

In the first ``update_ratio_settle_steps`` steps large updates are common in healthy runs (small-init
weights heading for a solution many times their size): there a step's ratio counts only when its loss
has climbed above ``update_ratio_loss_rise`` times the loss as training began. A run with no loss at all
(none handed over, none read at ``backward()``) has nothing to confirm a rise: its first steps are not
judged, and a rate that is far too high is flagged from the settling steps' end on.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from ..config import Config
from ..records import UPDATE_RATIO, Finding, LayerInfo, StepStats
from .common import by_depth, finite_losses, last, median


def detect(history: Sequence[StepStats], layers: Mapping[str, LayerInfo], cfg: Config) -> Finding | None:
    window = [s for s in history if s.layers][-cfg.window :]  # loss-only records carry no ratio
    if len(window) < cfg.window or not last(history, cfg.window):
        return None
    settling = _settling_steps(history, cfg) if window[0].step < cfg.update_ratio_settle_steps else set()
    high: dict[str, float] = {}
    for info in by_depth(layers):
        if _growing_from_zero(history, window, info.name, cfg):
            continue
        ratios = [(s.step, r) for s in window if (r := _ratio(s, info.name)) is not None]
        if sum(r > cfg.update_ratio_warning and step not in settling for step, r in ratios) >= cfg.persist:
            high[info.name] = median([r for _, r in ratios])
    if not high:
        return None
    worst = max(high.values())
    return Finding(
        kind=UPDATE_RATIO,
        severity="error" if worst > cfg.update_ratio_error else "warning",
        layers=tuple(high),
        # a step with gradients but no measured update (one before the monitor was attached) is no onset
        first_step=next(s.step for s in window if any(_ratio(s, name) is not None for name in high)),
        step=window[-1].step,
        evidence={"update_ratio": high, "threshold": cfg.update_ratio_warning, "healthy_near": 1e-3},
    )


def _settling_steps(history: Sequence[StepStats], cfg: Config) -> set[int]:
    """The early steps whose loss, and the next step's, is known and has not climbed well above the loss as
    training began: a large update there is a run settling in, not a learning rate that is too high. With
    no loss anywhere in the history, every early step (nothing could show the rise that would count)."""
    if not any(s.loss is not None or s.losses for s in history):  # nothing could confirm a rise: all settle
        return {s.step for s in history if s.step < cfg.update_ratio_settle_steps}
    losses = finite_losses(history)
    if not losses or losses[0][0] >= cfg.update_ratio_settle_steps or any(v <= 0 for _, v in losses):
        return set()  # the start of training is out of view, or no finite positive loss to confirm anything
    values = [v for _, v in losses]
    start = min(values[0], median(values[: cfg.window]))  # as divergence.py: one high first batch is no start
    limit = cfg.update_ratio_loss_rise * start
    calm = {step for step, v in losses if v <= limit}
    # an optimizer's update at step s shows in the loss of step s + 1; a hand update's in the loss of step s
    return {
        step for step in calm if step < cfg.update_ratio_settle_steps and (step + 1 in calm or step == losses[-1][0])
    }


def _growing_from_zero(history: Sequence[StepStats], window: Sequence[StepStats], name: str, cfg: Config) -> bool:
    """Weights that started at (near) zero and still grow over the window: a zero-initialised embedding,
    a LoRA matrix. Each update is large against them by construction, and says nothing about the rate.
    (Weights blown up from a normal init by a far too large rate grow too, but did not start at zero.)"""
    first = next((n for s in history if (n := _weight_norm(s, name)) is not None), None)
    norms = [n for s in window if (n := _weight_norm(s, name)) is not None]
    if first is None or not norms or first > cfg.update_ratio_near_zero * max(norms):
        return False
    return min(norms) <= 0 or max(norms) > cfg.update_ratio_growth * min(norms)


def _weight_norm(step: StepStats, name: str) -> float | None:
    stats = step.layers.get(name)
    if stats is None or stats.weight_norm is None or not math.isfinite(stats.weight_norm):
        return None
    return stats.weight_norm


def _ratio(step: StepStats, name: str) -> float | None:
    stats = step.layers.get(name)
    if stats is None or stats.update_ratio is None or not math.isfinite(stats.update_ratio):
        return None
    return stats.update_ratio
