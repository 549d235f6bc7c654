"""Clip the global gradient norm in front of the optimizer step, at a threshold learned from the run.

The threshold is ``clip_threshold.suggested_clip`` over the norms the gate read before the trouble began
(AutoClip, Seetharaman et al. 2020: a low percentile of the norm history), the same function the advice's
snippet comes from; the gate applies it on every step.
"""

from __future__ import annotations

import numpy as np

from ..clip_threshold import ClipSuggestion, suggested_clip
from ..kinds.kind import RemedyName
from ..records import EXPLODING, LOSS_DIVERGENCE, NON_FINITE, Diagnosis
from .context import Context
from .cure import Applied


def threshold_before(step: int, ctx: Context) -> ClipSuggestion | None:
    """The clipping threshold from the gate's norms of the steps before ``step`` (step 0's norm always counts:
    no update had happened before it)."""
    return suggested_clip([(s, n) for s, n in ctx.gate.norms if s < max(step, 1)], ctx.config)


def applied_figures(found: ClipSuggestion) -> dict[str, object]:
    """The threshold set, for the treatment record (the report's clip snippet then shows this number)."""
    return {"clip_applied": found.threshold, "clip_basis": found.basis}


class ClipGradNorm:
    name = RemedyName.CLIP_GRAD_NORM

    def applies_to(self, diagnosis: Diagnosis, ctx: Context) -> bool:
        return diagnosis.kind in (EXPLODING, NON_FINITE, LOSS_DIVERGENCE) and ctx.gate.clip_at is None

    def apply(self, diagnosis: Diagnosis, ctx: Context) -> Applied | None:
        found = threshold_before(min(ctx.onset, diagnosis.first_step), ctx)
        if found is None or found.threshold <= 0:
            return None
        recent = [n for _, n in ctx.gate.norms[-20:] if np.isfinite(n)]
        ctx.gate.clip_at = found.threshold
        return Applied(
            action=f"clip the global gradient norm at {found.threshold:.3g} before every optimizer step",
            reason=f"{found.basis}, before the trouble began at step {diagnosis.first_step}",
            before={
                "clip_at": None,
                "recent_median_norm": float(np.median(recent)) if recent else None,
                **applied_figures(found),
            },
            reverse="remove the clipping (gradmedic.watch(..., treat=False))",
        )
