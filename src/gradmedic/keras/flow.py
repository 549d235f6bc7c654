"""The framework-free half of a watched Keras run: StepStats -> detectors -> diagnoses -> sinks.

The same glue as the PyTorch monitor's ``_ingest`` and ``report``: one Engine, ``advice.explain``, and
a SinkSet. It imports neither torch nor tensorflow.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ..advice import explain
from ..config import Config
from ..detectors.engine import Engine
from ..records import SEVERITY_RANK, Diagnosis, Incident, LayerInfo, Report, StepStats, Treatment
from ..sinks.base import SinkSet


class Flow:
    def __init__(self, config: Config, sinks: Iterable[Any]) -> None:
        self.engine = Engine(config)
        self.sinks = SinkSet(list(sinks))
        self.infos: dict[str, LayerInfo] = {}
        self.treatments: list[Treatment] = []
        self.incidents: list[Incident] = []
        self.steps = 0
        self.closed = False

    def ingest(self, stats: StepStats, infos: Mapping[str, LayerInfo]) -> None:
        self.infos = dict(infos)
        changed = self.engine.update(stats, self.infos)
        self.sinks.write_step(stats, self.infos)
        for finding in changed:
            self.sinks.write_diagnosis(explain(finding, self.infos), stats.step)

    def current(self) -> dict[str, Diagnosis]:
        """The diagnoses that fire on the latest window (treatment decides by these)."""
        return {kind: explain(f, self.infos) for kind, f in self.engine.current.items()}

    def treated(self, record: Treatment) -> None:
        self.treatments.append(record)
        self.sinks.write_treatment(record)

    def report(self) -> Report:
        applied = {t.kind: t.remedy for t in self.treatments}
        diagnoses = []
        for kind, finding in self.engine.findings.items():
            d = explain(finding, self.infos)
            if kind in applied:
                d = _mark(d, applied[kind])
            diagnoses.append(d)
        diagnoses.sort(key=lambda d: (-SEVERITY_RANK[d.severity], d.first_step))
        return Report(
            steps=self.steps,
            layers=sorted(self.infos.values(), key=lambda i: i.order),
            diagnoses=diagnoses,
            treatments=sorted(self.treatments, key=lambda t: t.step),
            incidents=list(self.incidents),
        )

    def close(self) -> Report:
        """Flush and close the sinks (at the end of each ``fit``); the findings stay for the next one."""
        report = self.report()
        self.sinks.close(report)
        self.closed = True
        return report

    def reopen(self, sinks: Iterable[Any]) -> None:
        """New sinks for another ``fit`` of the same model: the history and findings carry on."""
        self.sinks = SinkSet(list(sinks))
        self.closed = False


def _mark(diagnosis: Diagnosis, remedy: str) -> Diagnosis:
    from dataclasses import replace

    return replace(diagnosis, remedies=tuple(replace(r, applied=r.name == remedy) for r in diagnosis.remedies))
