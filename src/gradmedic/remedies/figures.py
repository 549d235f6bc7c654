"""Before-and-after figures for a treatment, from the sampled statistics (framework-free)."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from ..config import Config
from ..detectors.common import depth_ratios, median, weight_layers
from ..detectors.dead import dead_fractions
from ..records import LayerInfo, StepStats


def figures(window: Sequence[StepStats], layers: Mapping[str, LayerInfo]) -> dict[str, Any]:
    """Loss, gradient norm, dead fraction and depth profile over a window of sampled steps."""
    if not window:
        return {}
    losses = [v for s in window for v in s.losses.values() if math.isfinite(v)]
    norms = [s.global_grad_norm for s in window if math.isfinite(s.global_grad_norm)]
    out: dict[str, Any] = {
        "steps": [window[0].step, window[-1].step],
        "loss": median(losses[-10:]) if losses else None,
        "global_grad_norm": median(norms) if norms else None,
        "nonfinite_steps": sum(1 for s in window if s.any_nonfinite),
    }
    dead = dead_fractions(window, layers)
    if dead:
        out["max_dead_fraction"] = max(dead.values())
    depth = weight_layers(layers)
    ratios = [min(r.values()) for s in window if (r := depth_ratios(s, depth))]
    if ratios:
        out["min_ratio_to_output"] = median(ratios)
    return out


def far_from_healthy(family: str, before: Mapping[str, Any], after: Mapping[str, Any], cfg: Config) -> str | None:
    """Why a run whose diagnosis no longer fires is still far from a healthy run's figures, or None.

    Judged on the fresh window right after the cure: too short for a loss trend (a revived unit's outgoing
    weights start at zero, so the loss moves slowly at first), long enough for the dead fraction and the
    depth profile. Instability is judged by its own detectors only.
    """
    dead = after.get("max_dead_fraction")
    if family == "dead" and isinstance(dead, float) and dead > cfg.treat_dead_fraction:
        return f"{dead:.0%} of a layer's units are still dead"
    ratio = after.get("min_ratio_to_output")
    if family == "weak_signal" and isinstance(ratio, float) and ratio < cfg.vanishing_ratio:
        return f"the input side's gradients are still {ratio:.1e}x the output layer's"
    return None
