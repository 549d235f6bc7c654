"""Helpers shared by the detectors: windows, depth order, and robust summaries."""

from __future__ import annotations

import math
import statistics
from typing import Mapping, Sequence

from ..records import LayerInfo, StepStats


def last(history: Sequence[StepStats], n: int) -> Sequence[StepStats]:
    """The last ``n`` sampled steps, or an empty sequence when there are fewer (the window is not full)."""
    return history[-n:] if len(history) >= n else ()


def by_depth(layers: Mapping[str, LayerInfo]) -> list[LayerInfo]:
    return sorted(layers.values(), key=lambda info: info.order)


def weight_layers(layers: Mapping[str, LayerInfo]) -> list[LayerInfo]:
    """Layers whose weight gradients measure signal flow, input side first."""
    return [info for info in by_depth(layers) if info.has_weights]


def depth_ratios(step: StepStats, depth: Sequence[LayerInfo]) -> dict[str, float]:
    """Each layer's weight-gradient RMS relative to the output layer's, at one step.

    The output layer is the last of ``depth`` that has a gradient; layers without a gradient are left out.
    Returns {} when the output layer's gradient is zero or missing.
    """
    rms = {info.name: step.layers[info.name].grad_rms for info in depth if info.name in step.layers}
    present = [name for name, value in rms.items() if value is not None and math.isfinite(value)]
    if len(present) < 2:
        return {}
    out = rms[present[-1]]
    if not out:
        return {}
    return {name: float(rms[name]) / float(out) for name in present[:-1]}  # type: ignore[arg-type]


def median(values: Sequence[float]) -> float:
    """The median; NaN for no values. (statistics.median: far cheaper than NumPy on short lists.)"""
    return float(statistics.median(values)) if len(values) else float("nan")


def finite_losses(history: Sequence[StepStats]) -> list[tuple[int, float]]:
    """Every finite loss the records hold, one per step, as (step, loss) in step order."""
    per_step: dict[int, float] = {}
    for s in history:
        per_step.update(s.losses)
        if s.loss is not None:
            per_step[s.step] = s.loss
    return sorted((step, v) for step, v in per_step.items() if math.isfinite(v))
