"""Clip the global gradient norm in front of the optimizer step, at a threshold learned from the run.

The threshold is the 10th percentile of the norms seen before the trouble began (AutoClip, Seetharaman
et al. 2020, clips at a percentile of the norm history); the gate applies it on every step.
"""

from __future__ import annotations

import numpy as np

from ..kinds.kind import RemedyName
from ..records import EXPLODING, LOSS_DIVERGENCE, NON_FINITE, Diagnosis
from .context import Context
from .cure import Applied

PERCENTILE = 10  # AutoClip's recommended percentile
MIN_CALM = 8  # fewer calm norms than this: a percentile means little


class ClipGradNorm:
    name = RemedyName.CLIP_GRAD_NORM

    def applies_to(self, diagnosis: Diagnosis, ctx: Context) -> bool:
        return diagnosis.kind in (EXPLODING, NON_FINITE, LOSS_DIVERGENCE) and ctx.gate.clip_at is None

    def threshold(self, diagnosis: Diagnosis, ctx: Context) -> float | None:
        """A percentile of the calm norms; with too few of them (trouble from the start), their median.

        The first step's norm is always calm: no update has happened before it.
        """
        calm = ctx.gate.calm_norms(max(min(ctx.onset, diagnosis.first_step), 1))
        calm = [n for n in calm if n <= ctx.config.exploding_absolute]  # an overflowing norm is not calm
        if len(calm) >= MIN_CALM:
            return float(np.percentile(calm, PERCENTILE))
        return float(np.median(calm)) if calm else None

    def apply(self, diagnosis: Diagnosis, ctx: Context) -> Applied | None:
        at = self.threshold(diagnosis, ctx)
        if at is None or at <= 0:
            return None
        recent = [n for _, n in ctx.gate.norms[-20:] if np.isfinite(n)]
        ctx.gate.clip_at = at

        return Applied(
            action=f"clip the global gradient norm at {at:.3g} before every optimizer step",
            reason=f"the {PERCENTILE}th percentile of the norms before step {diagnosis.first_step}, when training was calm",
            before={"clip_at": None, "recent_median_norm": float(np.median(recent)) if recent else None},
            reverse="remove the clipping (gradmedic.watch(..., treat=False))",
        )
