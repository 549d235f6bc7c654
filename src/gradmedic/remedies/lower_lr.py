"""Lower the learning rate by a factor, for every later step, without fighting the script's schedulers.

The gate multiplies each group's learning rate just before the step and restores the scheduler's value
right after, so a scheduler keeps its own schedule and the reduction applies on top of it. Without an
optimizer (weights updated by hand) the gate scales the gradients the script's update reads instead.
"""

from __future__ import annotations

from ..kinds.kind import RemedyName
from ..records import DEAD, EXPLODING, LOSS_DIVERGENCE, NON_FINITE, Diagnosis
from .context import Context
from .cure import Applied


def current_lrs(ctx: Context) -> list[float]:
    return [float(g["lr"]) * ctx.gate.lr_scale for opt in ctx.optimizers for g in opt.param_groups]


def lower(ctx: Context) -> tuple[list[float], list[float], float] | None:
    """Scale the gate's learning-rate factor down by ``treat_lr_factor``, never below ``treat_lr_floor``;
    returns (before, after, old scale), or None at the floor."""
    old = ctx.gate.lr_scale
    new = max(old * ctx.config.treat_lr_factor, ctx.config.treat_lr_floor)
    if new >= old:
        return None
    before = current_lrs(ctx)
    ctx.gate.lr_scale = new
    return before, current_lrs(ctx), old


def now(ctx: Context) -> str:
    """The learning rates in force, in words; by hand, the scale on the gradients the script applies."""
    lrs = current_lrs(ctx)
    if not lrs:
        return f"the gradients scaled by {ctx.gate.lr_scale:.3g} before the update by hand"
    return f"now {_lrs(lrs)}"


class LowerLearningRate:
    name = RemedyName.LOWER_LR

    def applies_to(self, diagnosis: Diagnosis, ctx: Context) -> bool:
        return (
            diagnosis.kind in (EXPLODING, NON_FINITE, LOSS_DIVERGENCE, DEAD)
            and ctx.gate.lr_scale > ctx.config.treat_lr_floor
        )

    def apply(self, diagnosis: Diagnosis, ctx: Context) -> Applied | None:
        changed = lower(ctx)
        if changed is None:
            return None
        before, _, old = changed
        return Applied(
            action=lowered_text(ctx),
            reason="large steps drive the failure; a smaller step keeps the weights in range",
            before={"lr": before, "lr_scale": old},
            reverse=f"multiply the learning rate back by {old / ctx.gate.lr_scale:.0f}",
        )


def lowered_text(ctx: Context) -> str:
    """'lower the learning rate 10x (now 0.001)': the action in words, with the rates it left."""
    return f"lower the learning rate {1 / ctx.config.treat_lr_factor:.0f}x ({now(ctx)})"


def _lrs(values: list[float]) -> str:
    return ", ".join(f"{v:.3g}" for v in sorted(set(values)))
