"""Roll the model and optimizer back to the best healthy snapshot, then stabilise the restored run.

Used when the weights are already damaged (non-finite, or the loss has diverged): clipping future
gradients cannot repair weights that are already wrong. Restoring alone would replay the failure, so
the restored run also gets clipping (the first resort) or a lower learning rate (the last resort). The
clipping threshold comes from the norms up to the restored step: those of the discarded steps came from
weights that no longer exist, already on their way to diverging (rnn_long_sequence: 3.6 from steps 0-34,
where the run's norms had grown 5x since step 0, let the recurrent radius climb from 1 to 4 after the
rollback; the norm at the restored step 0, 2.0, holds it near 1 as the twin's clipping at 1.0 does).
"""

from __future__ import annotations

import math

from ..detectors.divergence import diverged
from ..kinds.kind import RemedyName
from ..records import EXPLODING, LOSS_DIVERGENCE, NON_FINITE, Diagnosis
from .clip import applied_figures, threshold_before
from .context import Context
from .cure import Applied
from .lower_lr import lower, lowered_text


def damaged(ctx: Context) -> bool:
    """Non-finite weights, a loss non-finite on every recent sampled step, or a loss that has diverged."""
    recent = list(ctx.history)[-ctx.config.persist :]
    if not recent:
        return False
    if any(s.nonfinite_weight for s in recent[-1].layers.values()) or LOSS_DIVERGENCE in ctx.firing:
        return True
    losses = [v for s in ctx.history for v in s.losses.values() if math.isfinite(v)]
    now = ctx.recent_loss()
    if losses and now is not None and diverged(now, max(min(losses), 1e-12), ctx.config):
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
        clipped: dict[str, object] = {}
        if self.then == "clip" and ctx.gate.clip_at is None:
            # the restored weights' own history: the norms of the discarded steps came from weights that no
            # longer exist, already on their way to diverging
            found = threshold_before(snapshot.step + 1, ctx)
            if found is not None and found.threshold > 0:
                ctx.gate.clip_at = found.threshold
                clipped = applied_figures(found)
                then = f", and clip the gradient norm at {found.threshold:.3g} from now on ({found.basis})"
        if not then and lower(ctx):
            then = f", and {lowered_text(ctx)}"
        ctx.snapshots.restore(snapshot)
        loss = f" (loss {snapshot.loss:.3g})" if snapshot.loss is not None else ""
        return Applied(
            action=f"roll the model and optimizer back to their state at step {snapshot.step}{loss}{then}",
            reason=f"the weights were damaged after step {ctx.onset}; the snapshot of step "
            f"{snapshot.step} was the best healthy one before it",
            before={"restored_step": snapshot.step, "snapshot_loss": snapshot.loss, **clipped},
            reverse=f"not reversible in flight: the updates after step {snapshot.step} were discarded",
        )
