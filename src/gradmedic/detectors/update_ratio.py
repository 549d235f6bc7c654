"""update_ratio: updates too large for the weights they change, ||dw|| / ||w|| per layer, sustained.

Healthy training moves a weight by about a thousandth of its norm per step. A learning rate far too
high moves it by a large part of itself, even when the script's own clipping keeps the gradient
norm flat (clipping bounds the gradient, not the step an adaptive optimizer takes). A layer is
flagged when its ratio is above ``update_ratio_warning`` on ``persist`` of the last ``window`` sampled
steps; an error above ``update_ratio_error``. Layers whose weights are still growing from (near) zero
over the window (their norm grows more than ``update_ratio_growth`` times) are not judged.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from ..config import Config
from ..records import UPDATE_RATIO, Finding, LayerInfo, StepStats
from .common import by_depth, last, median


def detect(history: Sequence[StepStats], layers: Mapping[str, LayerInfo], cfg: Config) -> Finding | None:
    window = [s for s in history if s.layers][-cfg.window :]  # loss-only records carry no ratio
    if len(window) < cfg.window or not last(history, cfg.window):
        return None
    high: dict[str, float] = {}
    for info in by_depth(layers):
        if _growing_from_zero(history, window, info.name, cfg):
            continue
        ratios = [r for s in window if (r := _ratio(s, info.name)) is not None]
        if sum(r > cfg.update_ratio_warning for r in ratios) >= cfg.persist:
            high[info.name] = median(ratios)
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
