"""saturated_units: sigmoid or tanh outputs pinned at their asymptotes, where the derivative is ~0.

Output activations are skipped: a confident classifier's final sigmoid is meant to saturate.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from ..config import Config
from ..records import SATURATED, Finding, LayerInfo, StepStats
from .common import by_depth, last, median


def detect(history: Sequence[StepStats], layers: Mapping[str, LayerInfo], cfg: Config) -> Finding | None:
    window = last(history, cfg.window)
    if not window:
        return None
    saturated: dict[str, float] = {}
    kinds: dict[str, str] = {}
    for info in by_depth(layers):
        if info.is_output:
            continue
        values = []
        for s in window:
            act = s.layers[info.name].activation if info.name in s.layers else None
            if act is not None and act.saturated_fraction is not None:
                values.append(act.saturated_fraction)
                kinds[info.name] = act.kind
        if sum(v > cfg.saturated_layer_fraction for v in values) >= cfg.persist:
            saturated[info.name] = median(values)
    if not saturated:
        return None
    return Finding(
        kind=SATURATED,
        severity="warning",
        layers=tuple(saturated),
        first_step=window[0].step,
        step=window[-1].step,
        evidence={
            "saturated_fraction": saturated,
            "activation": {n: kinds[n] for n in saturated},
            "threshold": cfg.saturated_layer_fraction,
        },
    )
