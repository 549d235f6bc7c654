"""Where exploding gradients grow: through time or through depth (framework-free).

- **Through time**: a recurrent weight whose spectral radius is at least 1, run over a long sequence,
  multiplies the hidden state and the gradient by up to ``radius ** steps``. The radius comes measured
  in ``StepStats.recurrence`` (the framework side's power iterations).
- **Through depth**: each layer multiplies the backward signal by a gain above 1; the gain per layer is
  the geometric mean over the depth profile (each layer's weight-gradient RMS against the output layer's).
  At the first step of a net whose gains are too large, forward and backward growth cancel in the
  weight gradients (each is the layer's input times its backward signal), so the depth profile stays
  flat while every gradient is huge: there the gain is read from the weights themselves (``weight_gains``).

``from_start`` tells whether the gradient overflowed before any update was applied (at step 0): then the
learning rate cannot be the cause, and lowering it cures nothing.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from ..config import Config
from ..records import LayerInfo, StepStats
from .common import depth_ratios, median, weight_layers


def through_time(stats: StepStats, cfg: Config) -> dict[str, dict[str, Any]]:
    """Recurrent weights that push the signal up through time: "layer.param" -> radius, steps, growth.

    A radius near 1 (an orthogonal init) over a sequence grows little: the cause must compound to at least
    ``recurrent_growth`` over the sequence to be named.
    """
    out: dict[str, dict[str, Any]] = {}
    for key, r in stats.recurrence.items():
        if r.radius >= cfg.recurrent_radius and r.steps >= cfg.recurrent_min_steps and r.growth >= cfg.recurrent_growth:
            out[key] = {"layer": r.layer, "param": r.param, "radius": r.radius, "steps": r.steps, "growth": r.growth}
    return out


def recurrent_cause(history: Sequence[StepStats], cfg: Config) -> dict[str, dict[str, Any]]:
    """``through_time`` on the earliest sampled step that measured the recurrence (the radius at onset)."""
    for stats in history:
        if stats.recurrence:
            return through_time(stats, cfg)
    return {}


def per_layer_gain(window: Sequence[StepStats], layers: Mapping[str, LayerInfo]) -> float | None:
    """The median over the window of the backward gain per layer: (largest ratio to the output) ** (1 / depth)."""
    depth = weight_layers(layers)
    gains = []
    for stats in window:
        ratios = depth_ratios(stats, depth)
        if not ratios:
            continue
        names = list(ratios)
        first = ratios[names[0]]  # the input side's ratio to the output layer
        if first > 0 and math.isfinite(first):
            gains.append(first ** (1 / len(names)))
    return median(gains) if gains else None


# The factor an activation multiplies a signal's root mean square by, for zero-mean Gaussian inputs: a ReLU
# halves its second moment (He et al. 2015, the reason for He init's factor 2). Others count as 1 (tanh is
# near-linear around 0; an unknown activation is not assumed to shrink the signal).
ACTIVATION_GAIN = {"ReLU": 2**-0.5, "ReLU6": 2**-0.5, "LeakyReLU": 2**-0.5, "PReLU": 2**-0.5, "functional": 2**-0.5}


def weight_gains(stats: StepStats, layers: Mapping[str, LayerInfo]) -> dict[str, float]:
    """Each hidden layer's gain on the signal's scale, from its weights: ||W|| / sqrt(fan_out), which is
    sqrt(fan_in) times the weights' RMS (what a random matrix multiplies a signal's RMS by), times its
    activation's gain. 1 at He init for ReLU (Xavier for tanh); a weight scale k times that gives k per layer.
    """
    out: dict[str, float] = {}
    for info in weight_layers(layers):
        s = stats.layers.get(info.name)
        norm = s.weight_norm if s is not None else None
        if info.is_output or not info.units or norm is None or not math.isfinite(norm) or norm <= 0:
            continue
        out[info.name] = norm / math.sqrt(info.units) * ACTIVATION_GAIN.get(info.activation, 1.0)
    return out


def depth_cause(history: Sequence[StepStats], layers: Mapping[str, LayerInfo], cfg: Config) -> dict[str, Any]:
    """Hidden layers whose weights grow the signal, layer after layer, enough to compound past the depth
    rule's ratio (``exploding_depth_ratio``), read at the first sampled step; {} when they do not."""
    if not history or history[0].step != 0:
        return {}
    gains = weight_gains(history[0], layers)
    if len(gains) < 3:
        return {}
    growth = math.prod(gains.values())
    per_layer = median(list(gains.values()))
    if per_layer <= 1.0 or growth < cfg.exploding_depth_ratio:
        return {}
    return {"per_layer_gain": per_layer, "layer_gain": gains, "growth": growth, "layers": len(gains)}


def overflowed(stats: StepStats, cfg: Config) -> bool:
    """A gradient that is non-finite, or beyond the overflow threshold, at this step."""
    if stats.loss_only:
        return False
    grads_bad = any(s.nonfinite_grad for s in stats.layers.values())
    norm = stats.global_grad_norm
    return grads_bad or not math.isfinite(norm) or norm > cfg.exploding_absolute


def from_start(history: Sequence[StepStats], cfg: Config) -> bool:
    """The gradient overflowed at the first step, before any update, and still does on the latest one."""
    if not history or history[0].step != 0:
        return False
    return overflowed(history[0], cfg) and overflowed(history[-1], cfg)
