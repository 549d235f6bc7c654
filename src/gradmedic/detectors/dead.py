"""dead_units: units of a ReLU-like activation that are zero for every example over the whole window.

A high zero fraction is not death: natural ReLU sparsity of 50-70 % and dropout are healthy. A unit
is dead only when it was never positive across all the batches of the window. The first dead layer
in depth order is named as the cause; dead layers after it are the cascade. Output activations and
the model's input (data, not an activation) are never judged.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping, MutableMapping, Sequence

import numpy as np

from ..config import Config
from ..records import DEAD, VANISHING, ActivationStats, Finding, LayerInfo, Severity, StepStats
from .common import by_depth, last


def ever_active(acts: Sequence[ActivationStats]) -> np.ndarray | None:
    """Per unit, whether it was active in any of these records; None when there are none or their sizes differ."""
    masks = [a.active for a in acts]
    if not masks or len({m.shape for m in masks}) != 1:
        return None
    ever: np.ndarray = np.logical_or.reduce(masks)
    return ever


def dead_fractions(window: Sequence[StepStats], layers: Mapping[str, LayerInfo]) -> dict[str, float]:
    """Per layer, the fraction of units never active over the window (ReLU-like layers only)."""
    out: dict[str, float] = {}
    for info in by_depth(layers):
        if info.is_output:
            continue
        acts = [s.layers[info.name].activation if info.name in s.layers else None for s in window]
        if any(a is None or a.kind != "relu" for a in acts):
            continue
        ever = ever_active([a for a in acts if a is not None])
        if ever is None or ever.size == 0:
            continue
        out[info.name] = float(1.0 - ever.mean())
    return out


def ladder(fractions: Mapping[str, float], cfg: Config, born_dead: bool = False) -> tuple[Severity, list[str]]:
    """The severity of these layers' dead fractions, and the layers to name: those dead past
    ``dead_layer_fraction``, or all of them when none is. A layer born dead (every unit) is an error."""
    worst = max(fractions.values())
    severity: Severity = "info"
    if born_dead or worst >= cfg.dead_error_fraction:
        severity = "error"
    elif worst >= cfg.dead_layer_fraction:
        severity = "warning"
    return severity, [n for n, f in fractions.items() if f >= cfg.dead_layer_fraction] or list(fractions)


def explains_vanishing(findings: MutableMapping[str, Finding]) -> None:
    """Dead units cut the backward signal: vanishing gradients beside them (above info) are their doing,
    so the vanishing finding drops to info and names them as its cause."""
    vanish, died = findings.get(VANISHING), findings.get(DEAD)
    if vanish is None or died is None or died.severity == "info":
        return
    findings[VANISHING] = replace(vanish, evidence={**vanish.evidence, "explained_by": DEAD}, severity="info")


def detect(history: Sequence[StepStats], layers: Mapping[str, LayerInfo], cfg: Config) -> Finding | None:
    window = last(history, cfg.window)
    if not window:
        return None
    fractions = dead_fractions(window, layers)
    flagged = {name: f for name, f in fractions.items() if f >= cfg.dead_info_fraction}
    if not flagged:
        return None
    severity, serious = ladder(flagged, cfg)
    names = tuple(serious)
    return Finding(
        kind=DEAD,
        severity=severity,
        layers=names,
        first_step=window[0].step,
        step=window[-1].step,
        evidence={
            "dead_fraction": flagged,
            "cause": names[0],
            "cascade": list(names[1:]),
            "units": {n: layers[n].units for n in flagged},
            "zero_fraction": {
                n: float(window[-1].layers[n].activation.zero_fraction)  # type: ignore[union-attr]
                for n in flagged
            },
            "window_steps": [window[0].step, window[-1].step],
        },
    )
