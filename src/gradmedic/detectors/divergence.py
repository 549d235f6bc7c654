"""loss_divergence: the loss climbs far above its best and past where it started, sustained.

Only when the user hands the loss over (``monitor.observe_loss``) and the loss is positive.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from ..config import Config
from ..records import LOSS_DIVERGENCE, Finding, LayerInfo, StepStats
from .common import median


def detect(history: Sequence[StepStats], layers: Mapping[str, LayerInfo], cfg: Config) -> Finding | None:
    losses = [(s.step, s.loss) for s in history if s.loss is not None and math.isfinite(s.loss)]
    w = cfg.window
    if len(losses) < 3 * w or any(v <= 0 for _, v in losses):
        return None
    values = [v for _, v in losses]
    # the first loss counts as a start of its own: a loss that blows up within the first window (a far
    # too large learning rate) has a first window's median that is already diverged
    start, now = min(values[0], median(values[:w])), median(values[-w:])
    if now <= start:  # the common, healthy case: no need for the running medians
        return None
    best = min(start, *(median(values[i : i + w]) for i in range(0, len(values) - w + 1)))
    recent = values[-w:]
    above = [v for v in recent if v > cfg.divergence_factor * best and v > start]
    if now <= cfg.divergence_factor * best or now <= start or len(above) < cfg.persist:
        return None
    return Finding(
        kind=LOSS_DIVERGENCE,
        severity="warning",
        layers=(),
        first_step=losses[-w][0],
        step=losses[-1][0],
        evidence={"loss": now, "best_loss": best, "initial_loss": start, "factor": now / best},
    )
