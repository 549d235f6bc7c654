"""An explosion with no calm period to compare against: the gradient norm against the first step's.

The spike rule of exploding.py needs ``exploding_min_history`` sampled steps before its window for a
baseline. A run whose gradient blows up within its first steps (a hand-written SGD loop with a far too
large learning rate, an RNN without clipping) never has them: every step after the first is already
part of the explosion. Step 0, measured before any update, is the one calm reference such a run has.

The rule: while the history is too short for the spike rule, ``persist`` of the window's global norms
stand above ``exploding_spike_factor`` times the norm at step 0, their median above
``exploding_severe_factor`` times it, and the loss confirms that training went wrong: its recent median
is above the loss at the start. Without any observed loss, the growth must reach the square of the
severe factor. A network that wakes up from a small initial gradient has a falling loss, and is left alone.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from ..config import Config
from ..records import StepStats
from .common import finite_losses, median


def early_explosion(history: Sequence[StepStats], window: Sequence[StepStats], cfg: Config) -> dict[str, Any]:
    """Evidence of a blow-up against step 0 (``first_norm``, ``early_factor``, ``loss_rose``), or {}."""
    first = history[0] if history else None
    if first is None or first.step != 0 or first.loss_only or window[0] is first:
        return {}
    base = first.global_grad_norm
    if not (math.isfinite(base) and base > 0):
        return {}
    norms = [s.global_grad_norm for s in window if not s.loss_only and math.isfinite(s.global_grad_norm)]
    spikes = [n for n in norms if n > cfg.exploding_spike_factor * base]
    if len(spikes) < cfg.persist:
        return {}
    factor = median(spikes) / base
    rose = _loss_rose(history, window, cfg)
    needed = cfg.exploding_severe_factor if rose is not None else cfg.exploding_severe_factor**2
    if factor <= needed or rose is False:
        return {}
    return {"first_norm": base, "early_factor": factor, "loss_rose": rose}


def blow_up_onset(history: Sequence[StepStats], cfg: Config) -> int | None:
    """The index in ``history`` of the first step whose global norm left step 0's ``exploding_spike_factor``
    behind: the first blown-up gradient. None without a finite step 0 in view, or before any such step."""
    first = history[0] if history else None
    if first is None or first.step != 0 or not (math.isfinite(first.global_grad_norm) and first.global_grad_norm > 0):
        return None
    limit = cfg.exploding_spike_factor * first.global_grad_norm
    return next((i for i, s in enumerate(history) if not s.loss_only and s.global_grad_norm > limit), None)


def _loss_rose(history: Sequence[StepStats], window: Sequence[StepStats], cfg: Config) -> bool | None:
    """Whether the median loss over the window's steps is above the first loss; None without losses."""
    losses = finite_losses(history)
    if not losses or losses[0][0] > cfg.divergence_start_steps:
        return None
    start = losses[0][1]
    recent = [v for step, v in losses if window[0].step <= step <= window[-1].step and step > losses[0][0]]
    if not recent:
        return None
    return median(recent) > start
