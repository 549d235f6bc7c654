"""Lower the learning rate by a factor, for every later step, without fighting the script's schedulers.

The gate multiplies each group's learning rate just before the step and restores the scheduler's value
right after, so a scheduler keeps its own schedule and the reduction applies on top of it.
"""

from __future__ import annotations

from ..kinds.kind import RemedyName
from ..records import DEAD, EXPLODING, LOSS_DIVERGENCE, NON_FINITE, Diagnosis
from .context import Context
from .cure import Applied

FACTOR = 0.1
FLOOR = 1e-3  # never below a thousandth of the script's own learning rate


def current_lrs(ctx: Context) -> list[float]:
    return [float(g["lr"]) * ctx.gate.lr_scale for opt in ctx.optimizers for g in opt.param_groups]


def lower(ctx: Context, factor: float = FACTOR) -> tuple[list[float], list[float], float] | None:
    """Scale the gate's learning-rate factor down; returns (before, after, old scale), or None at the floor."""
    old = ctx.gate.lr_scale
    new = max(old * factor, FLOOR)
    if new >= old:
        return None
    before = current_lrs(ctx)
    ctx.gate.lr_scale = new
    return before, current_lrs(ctx), old


class LowerLearningRate:
    name = RemedyName.LOWER_LR

    def applies_to(self, diagnosis: Diagnosis, ctx: Context) -> bool:
        return diagnosis.kind in (EXPLODING, NON_FINITE, LOSS_DIVERGENCE, DEAD) and ctx.gate.lr_scale > FLOOR

    def apply(self, diagnosis: Diagnosis, ctx: Context) -> Applied | None:
        changed = lower(ctx)
        if changed is None:
            return None
        before, after, old = changed
        return Applied(
            action=f"lower the learning rate {1 / FACTOR:.0f}x (now {_lrs(after)})",
            reason="large steps drive the failure; a smaller step keeps the weights in range",
            before={"lr": before, "lr_scale": old},
            reverse=f"multiply the learning rate back by {old / ctx.gate.lr_scale:.0f}",
        )


def _lrs(values: list[float]) -> str:
    return ", ".join(f"{v:.3g}" for v in sorted(set(values)))
