"""The framework-free pipeline on synthetic records: what any adapter (torch, Keras, ...) gets from it."""

from __future__ import annotations

from typing import Any, Mapping

from gradmedic import Config
from gradmedic.pipeline import Pipeline
from gradmedic.records import DEAD, Diagnosis, LayerInfo, StepStats
from gradmedic.sinks.base import SinkSet

from .detectors.helpers import alive, make_step, stack


class Capture:
    """A sink that keeps what it is given."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.diagnoses: list[tuple[int, str]] = []
        self.closed = False

    def write_step(self, stats: StepStats, layers: Mapping[str, LayerInfo]) -> None:
        self.steps.append(stats.step)

    def write_diagnosis(self, diagnosis: Diagnosis, step: int) -> None:
        self.diagnoses.append((step, diagnosis.kind))

    def write_treatment(self, treatment: Any) -> None: ...

    def close(self, report: Any) -> None:
        self.closed = True


def _dying_run(pipeline: Pipeline, layers: Mapping[str, LayerInfo], steps: int) -> list[list[Diagnosis]]:
    out = []
    for step in range(steps):
        acts = {"fc0": alive(8, dead=0), "fc1": alive(8, dead=8 if step >= 4 else 0), "fc2": alive(8)}
        out.append(pipeline.ingest(make_step(step, [1e-2, 1e-2, 1e-2, 1e-2], acts=acts, loss=1.0), layers))
    return out


def test_dead_layer_is_announced_once_and_reported() -> None:
    sink = Capture()
    pipeline = Pipeline(Config(), SinkSet([sink]))
    layers = stack(4)
    changed = _dying_run(pipeline, layers, 30)
    announced = [d.kind for batch in changed for d in batch]
    assert DEAD in announced
    assert sink.steps == list(range(30))
    assert [kind for _, kind in sink.diagnoses].count(DEAD) == announced.count(DEAD)
    report = pipeline.report(30, layers)
    assert report.steps == 30
    assert [i.name for i in report.layers] == ["fc0", "fc1", "fc2", "fc3"]
    dead = next(d for d in report.diagnoses if d.kind == DEAD)
    assert "fc1" in dead.layers and dead.severity in ("warning", "error")
    assert not report.healthy


def test_healthy_records_give_a_healthy_report() -> None:
    pipeline = Pipeline(Config(), SinkSet([]))
    layers = stack(4)
    for step in range(30):
        acts = {name: alive(8) for name in ("fc0", "fc1", "fc2")}
        assert pipeline.ingest(make_step(step, [1e-2] * 4, acts=acts, loss=1.0 / (step + 1)), layers) == []
    assert pipeline.report(30, layers).healthy
