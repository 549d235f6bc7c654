"""Rules with one source, used by the watched run, the checkup and the cures alike (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest

from gradmedic.config import Config
from gradmedic.detectors.dead import ever_active, explains_vanishing, ladder
from gradmedic.detectors.divergence import diverged
from gradmedic.numbers_text import sci
from gradmedic.records import DEAD, VANISHING, ActivationKind, ActivationStats, Finding

from .helpers import relu

CFG = Config()


def _finding(kind: str, severity: str) -> Finding:
    return Finding(kind=kind, severity=severity, layers=("fc1",), first_step=3, step=9, evidence={"x": 1})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fractions", "born", "severity", "named"),
    [
        ({"a": 0.3, "b": 0.25}, False, "info", ["a", "b"]),  # none past the layer fraction: all are named
        ({"a": 0.3, "b": 0.6}, False, "warning", ["b"]),
        ({"a": 0.95, "b": 0.6}, False, "error", ["a", "b"]),
        ({"a": 0.3}, True, "error", ["a"]),  # born dead: an error whatever the fraction says
    ],
)
def test_dead_ladder(fractions: dict[str, float], born: bool, severity: str, named: list[str]) -> None:
    assert ladder(fractions, CFG, born_dead=born) == (severity, named)


def test_dead_units_explain_vanishing_only_above_info() -> None:
    findings = {VANISHING: _finding(VANISHING, "error"), DEAD: _finding(DEAD, "info")}
    explains_vanishing(findings)
    assert findings[VANISHING].severity == "error" and "explained_by" not in findings[VANISHING].evidence
    findings[DEAD] = _finding(DEAD, "warning")
    explains_vanishing(findings)
    assert findings[VANISHING].severity == "info"
    assert findings[VANISHING].evidence == {"x": 1, "explained_by": DEAD}


def test_ever_active_masks() -> None:
    ever = ever_active([relu([True, False, False]), relu([False, False, True])])
    assert ever is not None and ever.tolist() == [True, False, True]
    assert ever_active([]) is None
    mismatched = [relu([True, False]), ActivationStats("relu", 0.5, None, np.ones(3, dtype=bool))]
    assert ever_active(mismatched) is None  # the layer changed width: no mask


def test_divergence_is_strictly_above_the_factor() -> None:
    assert diverged(10.0001, 1.0, CFG) and not diverged(10.0, 1.0, CFG)
    assert diverged(3.0, 1.0, Config(divergence_factor=2.0))


def test_sci_reads_numbers_one_way() -> None:
    assert sci(1.234e-7) == "1.2e-07" and sci(3) == "3.0e+00" and sci(float("nan")) == "nan"
    assert sci(float("inf")) == "inf" and sci(float("inf"), infinite="overflow") == "overflow"
    assert sci("n/a") == "n/a"


def test_vanishing_advice_knows_saturating_modules_by_kind_not_by_class_name() -> None:
    from gradmedic.advice import explain
    from gradmedic.records import LayerInfo

    def info(name: str, order: int, label: str, kind: ActivationKind | None) -> LayerInfo:
        module = f"{name}.act" if kind else ""
        return LayerInfo(name, "Linear", order, activation=label, activation_module=module, activation_kind=kind)

    layers = {"fc0": info("fc0", 0, "ScaledTanh", "tanh"), "fc1": info("fc1", 1, "ScaledTanh", "tanh")}
    layers["out"] = info("out", 2, "", None)
    finding = Finding(
        kind=VANISHING,
        severity="warning",
        layers=("fc0",),
        first_step=5,
        step=20,
        evidence={"ratio_to_output": {"fc0": 1e-4}, "output_layer": "out", "threshold": 1e-3},
    )
    swap = [r for r in explain(finding, layers).remedies if r.name == "non_saturating_activation"]
    assert swap and "ScaledTanh" in swap[0].summary
    functional = {n: info(n, i.order, "functional", None) for n, i in layers.items()}
    assert "non_saturating_activation" not in [r.name for r in explain(finding, functional).remedies]
