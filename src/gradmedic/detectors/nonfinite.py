"""non_finite: NaN or Inf in the loss, the gradients or the weights (the model output only dates it).

No hysteresis: one non-finite value is already damage. Steps that AMP's GradScaler skipped never
reach the optimizer's step hooks, so they are never counted here.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from ..config import Config
from ..records import NON_FINITE, Finding, LayerInfo, StepStats
from .common import by_depth


def detect(history: Sequence[StepStats], layers: Mapping[str, LayerInfo], cfg: Config) -> Finding | None:
    index = next((i for i, s in enumerate(history) if s.any_nonfinite), None)
    if index is None:
        return None
    first = history[index]
    where: list[str] = []
    if first.nonfinite_loss:
        where.append("loss")
    if first.nonfinite_output:
        where.append("output")
    grads = [i.name for i in by_depth(layers) if i.name in first.layers and first.layers[i.name].nonfinite_grad]
    weights = [i.name for i in by_depth(layers) if i.name in first.layers and first.layers[i.name].nonfinite_weight]
    if grads:
        where.append("gradients")
    if weights:
        where.append("weights")
    starts = [first.step] + ([first.first_nonfinite_step] if first.first_nonfinite_step is not None else [])
    return Finding(
        kind=NON_FINITE,
        severity="error",
        layers=tuple(i.name for i in by_depth(layers) if i.name in weights or i.name in grads),
        first_step=min(starts),
        step=history[-1].step,
        evidence={
            "in": where,
            "nonfinite_grad_layers": grads,
            "nonfinite_weight_layers": weights,
            "last_finite_grad_norm": next(
                (s.global_grad_norm for s in reversed(history[:index]) if not s.any_nonfinite and not s.loss_only), None
            ),
        },
    )
