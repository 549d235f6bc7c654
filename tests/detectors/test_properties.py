"""Property-based tests of the detectors (hypothesis): whatever the records hold, the engine never raises,
its findings are well formed, a standing finding never gets milder, and bounded healthy noise raises nothing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradmedic import Config
from gradmedic.advice import explain
from gradmedic.detectors.engine import Engine
from gradmedic.records import SEVERITY_RANK, VANISHING, ActivationStats

from .helpers import alive, make_step, names, stack

LAYERS = 4
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True, width=64)
ANY_NORM = st.one_of(st.floats(min_value=0.0, max_value=1e40), st.just(math.nan), st.just(math.inf))


@st.composite
def any_step(draw: st.DrawFn, step: int) -> object:
    """A sampled step with arbitrary numbers: gradients, losses, activation masks, NaN and Inf included."""
    rms = draw(st.lists(ANY_NORM, min_size=LAYERS, max_size=LAYERS))
    acts = {}
    for name in names(LAYERS - 1):
        mask = np.array(draw(st.lists(st.booleans(), min_size=8, max_size=8)))
        kind = draw(st.sampled_from(["relu", "tanh", "sigmoid", "other"]))
        saturated = draw(st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.0)))
        acts[name] = ActivationStats(kind, float(1 - mask.mean()), saturated, mask)
    loss = draw(st.one_of(st.none(), ANY_FLOAT))
    ratio = draw(st.one_of(st.none(), ANY_NORM))
    fields = {name: {"update_ratio": ratio, "weight_norm": draw(ANY_NORM)} for name in names(LAYERS)}
    return make_step(
        step,
        rms,
        acts=acts,
        norm=draw(ANY_NORM),
        loss=loss,
        losses={} if loss is None else {step: loss},
        layer_fields=fields,
        nonfinite_loss=loss is not None and not math.isfinite(loss),
    )


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_engine_takes_any_records_and_findings_are_well_formed(data: st.DataObject) -> None:
    layers = stack(LAYERS)
    engine = Engine(Config())
    worst: dict[str, int] = {}
    for step in range(data.draw(st.integers(min_value=1, max_value=30))):
        stats = data.draw(any_step(step))
        for finding in engine.update(stats, layers):  # type: ignore[arg-type]
            assert finding.severity in SEVERITY_RANK
            assert 0 <= finding.first_step <= step
            assert set(finding.layers) <= set(layers)
            diagnosis = explain(finding, layers)
            assert diagnosis.message and all(r.snippet for r in diagnosis.remedies)
        for kind, finding in engine.findings.items():
            rank = SEVERITY_RANK[finding.severity]
            # a standing finding only gets worse; vanishing alone may be explained away by dead layers
            if kind != VANISHING:
                assert rank >= worst.get(kind, 0), kind
            worst[kind] = max(worst.get(kind, 0), rank)


@settings(max_examples=40, deadline=None)
@given(
    scale=st.floats(min_value=1e-4, max_value=1e-1),
    noise=st.lists(st.floats(min_value=0.5, max_value=2.0), min_size=60 * LAYERS, max_size=60 * LAYERS),
    start=st.floats(min_value=0.1, max_value=10.0),
    ratio=st.floats(min_value=1e-4, max_value=1e-2),
)
@pytest.mark.slow
def test_bounded_healthy_noise_raises_nothing_above_info(
    scale: float, noise: list[float], start: float, ratio: float
) -> None:
    """Gradients within 2x of one scale in every layer, every unit alive, a falling loss, small updates."""
    layers = stack(LAYERS)
    engine = Engine(Config())
    for step in range(60):
        rms = [scale * noise[step * LAYERS + i] for i in range(LAYERS)]
        loss = start / (1 + 0.05 * step)
        stats = make_step(
            step,
            rms,
            acts={name: alive(8) for name in names(LAYERS - 1)},
            norm=float(np.sqrt(np.sum(np.square(rms)))) * 8,
            loss=loss,
            losses={step: loss},
            layer_fields={name: {"update_ratio": ratio, "weight_norm": 1.0} for name in names(LAYERS)},
        )
        engine.update(stats, layers)
    loud = {k: f.severity for k, f in engine.findings.items() if f.severity != "info"}
    assert not loud, loud
