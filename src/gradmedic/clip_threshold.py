"""The one gradient-clipping threshold: what the advice tells the user to paste and what treatment applies.

AutoClip (Seetharaman et al. 2020, "AutoClip: Adaptive Gradient Clipping for Source Separation Networks")
clips at a low percentile of the history of gradient norms; its recommended percentile is 10
(``Config.clip_percentile``). The history here is the calm stretch of the norms: finite, below the
overflow threshold, and before the first spike (a norm ``exploding_spike_factor`` times the median of
those before it). With fewer than ``Config.clip_min_calm`` calm norms a percentile means little, and
their median is used. Framework-free: the detector passes the sampled steps' norms, the cure the norms
its step gate read on every step.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .config import Config


@dataclass(frozen=True)
class ClipSuggestion:
    threshold: float
    basis: str  # in words: "the 10th percentile of 27 calm norms (steps 0-26)"

    def evidence(self) -> dict[str, object]:
        return {"suggested_clip": self.threshold, "suggested_clip_basis": self.basis}


def calm_norms(norms: Sequence[tuple[int, float]], cfg: Config, early: bool = False) -> list[tuple[int, float]]:
    """The (step, norm) pairs, in time order, of the calm stretch before the first spike or overflow.

    ``early``: the blow-up came before a calm history could build up, so a spike is judged from the first norm on.
    """
    least = 1 if early else cfg.exploding_min_history
    calm: list[tuple[int, float]] = []
    for step, norm in norms:
        if not math.isfinite(norm) or norm > cfg.exploding_absolute:
            if calm:
                break  # the first overflow ends the calm stretch
            continue
        spiked = len(calm) >= least and norm > cfg.exploding_spike_factor * statistics.median(n for _, n in calm)
        if spiked:
            break
        calm.append((step, norm))
    return calm


def suggested_clip(norms: Sequence[tuple[int, float]], cfg: Config, early: bool = False) -> ClipSuggestion | None:
    """A clipping threshold from (step, global gradient norm) pairs in time order; None without a calm norm."""
    calm = calm_norms(norms, cfg, early)
    if not calm:
        return None
    values = [n for _, n in calm]
    steps = f"step {calm[0][0]}" if len(calm) == 1 else f"steps {calm[0][0]}-{calm[-1][0]}"
    if len(values) >= cfg.clip_min_calm:
        p = cfg.clip_percentile
        return ClipSuggestion(
            float(np.percentile(values, p)), f"the {p:g}th percentile of {len(values)} calm norms ({steps})"
        )
    if len(values) == 1:
        return ClipSuggestion(values[0], f"the norm at {steps}")
    return ClipSuggestion(float(np.median(values)), f"the median of {len(values)} calm norms ({steps})")
