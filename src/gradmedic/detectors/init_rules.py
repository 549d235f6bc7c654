"""Verdicts at initialisation: the checkup's per-layer measurements of one pass -> findings.

There is one pass, so there are no windows; each rule reads what the sample batch shows.

- dead_units: ReLU-like hidden units that are zero for every example. A hidden layer whose units are all
  zero is *born dead*: every layer after it sees a constant, so the output no longer depends on the input.
- saturated_units: most outputs of a sigmoid or tanh hidden layer sit at an asymptote.
- vanishing_gradients / exploding_gradients: the backpropagated signal of each layer (the loss gradient
  with respect to its activated output, per example) against the model output's. Layers whose signal
  is exactly zero are left to dead_units. BatchNorm-fed biases play no part: no parameter gradient is read.
- non_finite: NaN or Inf in the output, the loss, an activation or a gradient of the sample pass.

Every finding has ``source="checkup"``, so the advice explains it as a prediction; its evidence says
``"source": "checkup"`` too, for the report's readers.
"""

from __future__ import annotations

import math
from typing import Sequence

from ..config import Config
from ..records import (
    DEAD,
    EXPLODING,
    NON_FINITE,
    SATURATED,
    VANISHING,
    CheckupLayer,
    Finding,
    Recurrence,
    Severity,
    Source,
)
from .dead import explains_vanishing, ladder

SOURCE: Source = "checkup"


def judge(
    layers: Sequence[CheckupLayer],
    cfg: Config,
    nonfinite: Sequence[str] = (),
    recurrence: Sequence[Recurrence] = (),
) -> list[Finding]:
    """All findings for one checkup pass; ``layers`` in depth order, ``nonfinite`` names where NaN/Inf
    showed outside the layers (``"model output"``, ``"loss"``), ``recurrence`` the recurrent weights."""
    found = [
        non_finite(layers, nonfinite),
        dead(layers, cfg),
        saturated(layers, cfg),
        *gradient_flow(layers, cfg),
        through_time(recurrence, cfg),  # after the depth profile: a cause through time wins its kind
    ]
    findings = {f.kind: f for f in found if f is not None}
    explains_vanishing(findings)
    return list(findings.values())


def _finding(kind: str, severity: Severity, layers: Sequence[str], evidence: dict[str, object]) -> Finding:
    return Finding(
        kind=kind,
        severity=severity,
        layers=tuple(layers),
        first_step=0,
        step=0,
        evidence={"source": SOURCE, **evidence},
        source=SOURCE,
    )


def dead(layers: Sequence[CheckupLayer], cfg: Config) -> Finding | None:
    hidden = [layer for layer in layers if not layer.is_output and layer.dead_fraction is not None]
    fractions = {
        layer.name: f for layer in hidden if (f := layer.dead_fraction) is not None and f >= cfg.dead_info_fraction
    }
    if not fractions:
        return None
    born = [name for name, f in fractions.items() if f >= 1.0]
    severity, names = ladder(fractions, cfg, born_dead=bool(born))
    units = {layer.name: layer.units for layer in hidden if layer.name in fractions}
    return _finding(
        DEAD,
        severity,
        names,
        {
            "dead_fraction": fractions,
            "dead_units": {layer.name: layer.dead_units for layer in hidden if layer.name in fractions},
            "units": units,
            "born_dead": bool(born),
            "dead_layers": born,  # every unit zero for every example
            "cause": names[0],
            "cascade": names[1:],
        },
    )


def saturated(layers: Sequence[CheckupLayer], cfg: Config) -> Finding | None:
    hits = {
        layer.name: layer
        for layer in layers
        if not layer.is_output
        and layer.saturated_fraction is not None
        and layer.saturated_fraction > cfg.saturated_layer_fraction
    }
    if not hits:
        return None
    return _finding(
        SATURATED,
        "warning",
        list(hits),
        {
            "saturated_fraction": {n: layer.saturated_fraction for n, layer in hits.items()},
            "activation": {n: layer.activation for n, layer in hits.items()},
            "act_std": {n: layer.act_std for n, layer in hits.items()},
            "threshold": cfg.saturated_layer_fraction,
        },
    )


def _usable(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def gradient_flow(layers: Sequence[CheckupLayer], cfg: Config) -> list[Finding]:
    """Vanishing and exploding: each layer's backpropagated signal relative to the output layer's."""
    chain = [layer for layer in layers if _usable(layer.grad_norm)]
    if len(chain) < 3:
        return []
    output = chain[-1]
    out_norm: float = output.grad_norm  # type: ignore[assignment]
    ratios = {layer.name: float(layer.grad_norm) / out_norm for layer in chain[:-1]}  # type: ignore[arg-type]
    overall = ratios[chain[0].name]
    evidence = {
        "output_layer": output.name,
        "first_layer": chain[0].name,
        "first_to_output": overall,
        "mean_gain": overall ** (1.0 / (len(chain) - 1)),  # geometric mean of the per-layer backward gains
        "gain": {layer.name: layer.gain for layer in chain[:-1] if layer.gain is not None},
        "act_std": {layer.name: layer.act_std for layer in chain},
        "activation": {layer.name: layer.activation for layer in chain if layer.activation},
        "layers_compared": len(chain),
    }
    findings = []
    low = {name: r for name, r in ratios.items() if r < cfg.vanishing_ratio}
    if low:
        severity: Severity = "error" if min(low.values()) < cfg.vanishing_error_ratio else "warning"
        findings.append(
            _finding(
                VANISHING, severity, list(low), {**evidence, "ratio_to_output": low, "threshold": cfg.vanishing_ratio}
            )
        )
    high = {name: r for name, r in ratios.items() if r > cfg.exploding_depth_ratio}
    if high:
        severity = "error" if max(high.values()) > cfg.checkup_exploding_error_ratio else "warning"
        findings.append(
            _finding(
                EXPLODING,
                severity,
                list(high),
                {**evidence, "ratio_to_output": high, "threshold": cfg.exploding_depth_ratio},
            )
        )
    return findings


def through_time(recurrence: Sequence[Recurrence], cfg: Config) -> Finding | None:
    """A recurrent weight with spectral radius >= 1 over a long sequence, or a hidden state that grows step by step."""
    hits = {}
    for r in recurrence:
        growing = r.hidden_growth is not None and r.hidden_growth ** max(r.steps - 1, 1) >= cfg.recurrent_growth
        long_enough = r.steps >= cfg.recurrent_min_steps
        if long_enough and ((r.radius >= cfg.recurrent_radius and r.growth >= cfg.recurrent_growth) or growing):
            hits[f"{r.layer}.{r.param}"] = r
    if not hits:
        return None
    worst = max(max(r.growth, (r.hidden_growth or 0.0) ** r.steps) for r in hits.values())
    return _finding(
        EXPLODING,
        "error" if worst >= cfg.checkup_exploding_error_ratio else "warning",
        list(dict.fromkeys(r.layer for r in hits.values())),
        {
            "through_time": {
                key: {
                    "layer": r.layer,
                    "param": r.param,
                    "radius": r.radius,
                    "steps": r.steps,
                    "growth": r.growth,
                    "hidden_growth": r.hidden_growth,
                }
                for key, r in hits.items()
            },
            "threshold": cfg.recurrent_growth,
        },
    )


def non_finite(layers: Sequence[CheckupLayer], elsewhere: Sequence[str]) -> Finding | None:
    def bad(value: float | None) -> bool:
        return value is not None and not math.isfinite(value)

    in_acts = [layer.name for layer in layers if bad(layer.act_std)]
    in_grads = [layer.name for layer in layers if bad(layer.grad_norm)]
    where = list(elsewhere) + (["activations"] if in_acts else []) + (["gradients"] if in_grads else [])
    if not where:
        return None
    names = in_acts or in_grads
    return _finding(
        NON_FINITE, "error", names, {"in": where, "activation_layers": in_acts, "gradient_layers": in_grads}
    )
