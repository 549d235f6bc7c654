"""Roll the model and optimizer back to the best healthy snapshot, then stabilise the restored run.

Used when the weights are already damaged (non-finite, or the loss has diverged): clipping future
gradients cannot repair weights that are already wrong. Restoring alone would replay the failure, so
the restored run also gets clipping (the first resort) or a lower learning rate (the last resort).
"""

from __future__ import annotations

import math

from ..kinds.kind import RemedyName
from ..records import EXPLODING, LOSS_DIVERGENCE, NON_FINITE, Diagnosis
from .clip import ClipGradNorm
from .context import Context
from .cure import Applied
from .lower_lr import lower


def damaged(ctx: Context) -> bool:
    """Non-finite weights, a loss non-finite on every recent sampled step, or a loss that has diverged."""
    recent = list(ctx.history)[-ctx.config.persist :]
    if not recent:
        return False
    if any(s.nonfinite_weight for s in recent[-1].layers.values()) or LOSS_DIVERGENCE in ctx.firing:
        return True
    losses = [v for s in ctx.history for v in s.losses.values() if math.isfinite(v)]
    now = ctx.recent_loss()
    if losses and now is not None and now > ctx.config.divergence_factor * max(min(losses), 1e-12):
        return True  # far above the best loss: the weights are already off, before divergence is confirmed
    return len(recent) == ctx.config.persist and all(s.nonfinite_loss for s in recent)


class Rollback:
    name = RemedyName.ROLLBACK
    unsticks = True  # restores the weights: it can help a run whose every step is dropped

    def __init__(self, then: str = "lower_lr", only_when_damaged: bool = False) -> None:
        self.then = then  # "clip" or "lower_lr": what keeps the restored run from failing again
        self.only_when_damaged = only_when_damaged

    def applies_to(self, diagnosis: Diagnosis, ctx: Context) -> bool:
        if diagnosis.kind not in (EXPLODING, NON_FINITE, LOSS_DIVERGENCE):
            return False
        if self.only_when_damaged and not damaged(ctx):
            return False
        return ctx.snapshots.before(ctx.onset) is not None

    def apply(self, diagnosis: Diagnosis, ctx: Context) -> Applied | None:
        snapshot = ctx.snapshots.before(ctx.onset)
        if snapshot is None:
            return None
        then = ""
        if self.then == "clip" and ctx.gate.clip_at is None:
            at = ClipGradNorm().threshold(diagnosis, ctx)
            if at is not None:
                ctx.gate.clip_at = at
                then = f", and clip the gradient norm at {at:.3g} from now on"
        if not then:
            lowered = lower(ctx)
            if lowered:
                then = (
                    f", and lower the learning rate 10x (now {', '.join(f'{v:.3g}' for v in sorted(set(lowered[1])))})"
                )
        ctx.snapshots.restore(snapshot)
        loss = f" (loss {snapshot.loss:.3g})" if snapshot.loss is not None else ""
        return Applied(
            action=f"roll the model and optimizer back to their state at step {snapshot.step}{loss}{then}",
            reason=f"the weights were damaged after step {ctx.onset}; the snapshot of step "
            f"{snapshot.step} was the best healthy one before it",
            before={"restored_step": snapshot.step, "snapshot_loss": snapshot.loss, "clip_at": ctx.gate.clip_at},
            reverse=f"not reversible in flight: the updates after step {snapshot.step} were discarded",
        )
