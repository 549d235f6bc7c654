"""loss_divergence: the loss climbs far above where it started or far above its best, sustained.

Only when the loss is known (handed over by ``monitor.observe_loss``, or read where the script calls
``backward()`` on it: probe/loss_reader.py) and positive. Two rules:

- early blow-up: the loss of every step (sampled or not) against the loss as training began, so a run
  that blows up within its first steps, before a window of sampled steps exists, is caught;
- later divergence: the sampled losses against the best running median of the history, and out of the
  range the losses before the window held (above ``divergence_range_quantile`` of them).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from ..config import Config
from ..records import LOSS_DIVERGENCE, Finding, LayerInfo, StepStats
from .common import finite_losses, median


def detect(history: Sequence[StepStats], layers: Mapping[str, LayerInfo], cfg: Config) -> Finding | None:
    return _against_best(history, cfg) or _against_start(history, cfg)


def diverged(loss: float, reference: float, cfg: Config) -> bool:
    """The one rule of divergence: a loss more than ``divergence_factor`` times its reference."""
    return loss > cfg.divergence_factor * reference


def _against_best(history: Sequence[StepStats], cfg: Config) -> Finding | None:
    losses = [(s.step, s.loss) for s in history if s.loss is not None and math.isfinite(s.loss)]
    w = cfg.window
    if len(losses) < 3 * w or any(v <= 0 for _, v in losses):
        return None
    values = [v for _, v in losses]
    # the first loss of training counts as a start of its own: a loss that blows up within the first window
    # (a far too large learning rate) has a first window's median that is already diverged. The first loss
    # of a history that starts later is one batch among others: at a noisy floor it may be a lucky one.
    start, now = median(values[:w]), median(values[-w:])
    if losses[0][0] <= cfg.divergence_start_steps:
        start = min(values[0], start)
    if now <= start:  # the common, healthy case: no need for the running medians
        return None
    best = min(start, *(median(values[i : i + w]) for i in range(0, len(values) - w + 1)))
    recent = values[-w:]
    above = [v for v in recent if diverged(v, best, cfg) and v > start]
    if not diverged(now, best, cfg) or now <= start or len(above) < cfg.persist:
        return None
    # a diverging loss climbs out of its range; one wandering at a noisy floor (batches a thousandfold apart)
    # has a lucky best window far below a bad one, and its bad batches stay among those it had before
    earlier = sorted(values[:-w])
    ceiling = earlier[int(cfg.divergence_range_quantile * (len(earlier) - 1))]
    if sum(v > ceiling for v in recent) < cfg.persist:
        return None
    return Finding(
        kind=LOSS_DIVERGENCE,
        severity="warning",
        layers=(),
        first_step=losses[-w][0],
        step=losses[-1][0],
        evidence={"loss": now, "best_loss": best, "initial_loss": start, "factor": now / best},
    )


def _against_start(history: Sequence[StepStats], cfg: Config) -> Finding | None:
    """Every observed loss against the first ones: ``persist`` of the last ``window`` (or every one after
    the first, while there are fewer, at least two) above ``divergence_factor`` times the start."""
    if not history or min(history[0].losses, default=history[0].step) > cfg.divergence_start_steps:
        return None  # the start of training is out of view
    losses = finite_losses(history)
    if len(losses) < 3 or losses[0][0] > cfg.divergence_start_steps or any(v <= 0 for _, v in losses):
        return None
    values = [v for _, v in losses]
    # the first loss, or the median of the first few when it was unusually high
    start = min(values[0], median(values[: cfg.window]))
    recent = losses[1:][-cfg.window :]
    needed = max(2, min(cfg.persist, len(recent)))
    above = [(step, v) for step, v in recent if diverged(v, start, cfg)]
    if len(above) < needed or not diverged(values[-1], start, cfg):
        return None
    now = values[-1]
    error = now > cfg.divergence_factor**2 * start
    return Finding(
        kind=LOSS_DIVERGENCE,
        severity="error" if error else "warning",
        layers=(),
        first_step=above[0][0],
        step=losses[-1][0],
        evidence={
            "loss": now,
            "best_loss": min(values),
            "initial_loss": start,
            "factor": now / start,
            "reference": "initial loss",
        },
    )
