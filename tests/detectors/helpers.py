"""Small builders of synthetic records for the detector tests: no torch, no training."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from gradmedic.records import ActivationStats, LayerInfo, LayerStats, StepStats


def stack(n: int, *, units: int = 8, activation: str = "ReLU", output_activation: str = "") -> dict[str, LayerInfo]:
    """A LayerInfo map for an ``n``-layer feed-forward stack ``fc0 .. fc{n-1}``; the last is the output."""
    infos = {}
    for i in range(n):
        out = i == n - 1
        infos[f"fc{i}"] = LayerInfo(
            name=f"fc{i}",
            type="Linear",
            order=i,
            num_params=units * units,
            activation=output_activation if out else activation,
            units=units,
            is_output=out,
        )
    return infos


def names(n: int) -> list[str]:
    return [f"fc{i}" for i in range(n)]


def relu(active: Sequence[bool] | np.ndarray, zero_fraction: float | None = None) -> ActivationStats:
    """ReLU activation stats from a per-unit 'ever active in this step' mask."""
    mask = np.asarray(active, dtype=bool)
    zf = float(1.0 - mask.mean()) if zero_fraction is None else zero_fraction
    return ActivationStats(kind="relu", zero_fraction=zf, saturated_fraction=None, active=mask)


def relu_from_batch(batch: np.ndarray) -> ActivationStats:
    """ReLU activation stats reduced from a (batch, units) matrix of activated outputs, as the probe does."""
    return ActivationStats(
        kind="relu", zero_fraction=float((batch <= 0).mean()), saturated_fraction=None, active=(batch > 0).any(axis=0)
    )


def squashing(saturated_fraction: float, kind: str = "sigmoid", units: int = 8) -> ActivationStats:
    """Sigmoid- or tanh-like activation stats with a given saturated fraction."""
    return ActivationStats(
        kind=kind, zero_fraction=0.0, saturated_fraction=saturated_fraction, active=np.ones(units, dtype=bool)
    )


def alive(units: int = 8, dead: int = 0) -> ActivationStats:
    """ReLU stats where the first ``dead`` of ``units`` units were never active."""
    return relu(np.arange(units) >= dead)


def make_step(
    step: int,
    grad_rms: Sequence[float] | Mapping[str, float] = (),
    *,
    acts: Mapping[str, ActivationStats] | None = None,
    norm: float = 1.0,
    loss: float | None = None,
    layer_fields: Mapping[str, Mapping[str, object]] | None = None,
    **fields: object,
) -> StepStats:
    """A StepStats from per-layer weight-gradient RMS values (a list is taken as fc0, fc1, ...).

    ``acts`` attaches activation stats by layer name; ``layer_fields`` overrides any other LayerStats field.
    """
    rms = dict(grad_rms) if isinstance(grad_rms, Mapping) else dict(zip(names(len(grad_rms)), grad_rms))
    acts = acts or {}
    layer_fields = layer_fields or {}
    layers: dict[str, LayerStats] = {}
    for name in dict.fromkeys([*rms, *acts, *layer_fields]):
        r = rms.get(name)
        kwargs: dict[str, object] = {
            "grad_rms": r,
            "grad_norm": None if r is None else 8.0 * r,
            "bias_grad_norm": None if r is None else r,
            "activation": acts.get(name),
        }
        kwargs.update(layer_fields.get(name, {}))
        layers[name] = LayerStats(**kwargs)  # type: ignore[arg-type]
    return StepStats(step=step, layers=layers, global_grad_norm=norm, loss=loss, **fields)  # type: ignore[arg-type]
