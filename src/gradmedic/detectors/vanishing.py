"""vanishing_gradients: early layers' weight gradients orders of magnitude below the output layer's.

Judged on the depth profile, not on an absolute threshold: weight-gradient RMS relative to the output
layer, so a bias that feeds BatchNorm (gradient near 1e-8 by design) and the size of a layer do not
matter. The first layer reads the data, so its gradient also scales with the input; it is reported
but never the sole trigger. A layer whose gradient is exactly zero is left to the dead-unit detector.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from ..config import Config
from ..records import VANISHING, Finding, LayerInfo, StepStats
from .common import depth_ratios, last, median, weight_layers


def detect(history: Sequence[StepStats], layers: Mapping[str, LayerInfo], cfg: Config) -> Finding | None:
    window = last(history, cfg.window)
    depth = weight_layers(layers)
    if not window or len(depth) < 3:
        return None
    per_step = [depth_ratios(step, depth) for step in window]
    inner = [info.name for info in depth[1:-1]]  # neither the data-reading first layer nor the output
    low: dict[str, float] = {}
    for name in [depth[0].name, *inner]:
        ratios = [r[name] for r in per_step if name in r]
        hits = [v for v in ratios if 0 < v < cfg.vanishing_ratio]
        if len(hits) >= cfg.persist:
            low[name] = median(ratios)
    if not any(name in low for name in inner):
        return None
    triggers = [name for name in inner if name in low]
    first_step = next(
        step.step for step, r in zip(window, per_step) if any(0 < r.get(n, 1.0) < cfg.vanishing_ratio for n in triggers)
    )
    worst = min(low[name] for name in triggers)
    output = depth[-1].name
    return Finding(
        kind=VANISHING,
        severity="error" if worst < cfg.vanishing_error_ratio else "warning",
        layers=tuple(name for name in (info.name for info in depth) if name in low),
        first_step=first_step,
        step=window[-1].step,
        evidence={
            "ratio_to_output": low,
            "output_layer": output,
            "threshold": cfg.vanishing_ratio,
            "grad_rms": {
                name: median([s.layers[name].grad_rms or 0.0 for s in window if name in s.layers])
                for name in [*low, output]
            },
        },
    )
