"""The framework-free pipeline every adapter feeds: statistics in; diagnoses, records and decisions out.

An adapter (the torch Monitor, the Keras callback, ...) measures a sampled step, builds its
``StepStats`` and the layer table, and calls ``ingest``. The pipeline runs the detectors, explains
what changed, writes to the sinks, and lets the treater (the torch side's Doctor, when treatment is
on) review the step. ``report`` gives the ``Report`` at any time. Nothing here imports a framework.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Mapping, Protocol, Sequence

from .advice import explain
from .config import Config
from .detectors.engine import Engine
from .kinds.kind import FailureKind
from .records import NON_FINITE, SEVERITY_RANK, Diagnosis, Finding, Incident, LayerInfo, Report, StepStats, Treatment
from .sinks.base import SinkSet


class Treater(Protocol):
    """What the pipeline asks of in-flight treatment (``gradmedic.remedies.doctor.Doctor`` is one)."""

    @property
    def records(self) -> Sequence[Treatment]: ...

    def review(
        self,
        stats: StepStats,
        current: Mapping[str, Diagnosis],
        layers: Mapping[str, LayerInfo],
        history: Sequence[StepStats],
    ) -> None: ...

    def applied_remedies(self) -> Mapping[str, set[str]]: ...

    def outcome(self, kind: str, still_firing: bool) -> str: ...


class Pipeline:
    """Detectors -> advice -> sinks -> treater, over the sampled steps of one watched model."""

    def __init__(
        self,
        config: Config,
        sinks: SinkSet,
        treater: Treater | None = None,
        detectors: Iterable[FailureKind] | None = None,
    ) -> None:
        """``detectors``: the failure kinds to watch for (default: every registered kind)."""
        self.config = config
        self.sinks = sinks
        self.treater = treater
        self.engine = Engine(config, detectors=detectors)
        self._failures_told: set[str] = set()

    def ingest(self, stats: StepStats, layers: Mapping[str, LayerInfo]) -> list[Diagnosis]:
        """One sampled step: returns the diagnoses that are new or got worse (each also written to the sinks)."""
        changed = [self._explain(f, layers) for f in self.engine.update(stats, layers)]
        self.sinks.write_step(stats, layers)
        self._tell_failures(stats.step)
        for diagnosis in changed:
            self.sinks.write_diagnosis(diagnosis, stats.step)
        if self.treater is not None:
            current = {kind: self._explain(f, layers) for kind, f in self.engine.current.items()}
            self.treater.review(stats, current, layers, self.engine.history)
        return changed

    def conclude(self, stats: StepStats, layers: Mapping[str, LayerInfo]) -> list[Diagnosis]:
        """At the end of a run: the losses seen after the last sampled step (a loss-only record, no layer
        statistics) go to the detectors, so a blow-up that ended the run is still diagnosed; the sinks
        get the tail of the loss curve and any new diagnosis."""
        changed = [self._explain(f, layers) for f in self.engine.update(stats, layers)]
        self.sinks.write_losses(stats.losses)
        self._tell_failures(stats.step)
        for diagnosis in changed:
            self.sinks.write_diagnosis(diagnosis, stats.step)
        return changed

    def diagnoses(self, layers: Mapping[str, LayerInfo]) -> list[Diagnosis]:
        """The standing diagnoses, most severe first, with the remedies treatment applied marked so."""
        applied = self.treater.applied_remedies() if self.treater is not None else {}
        records = self.treater.records if self.treater is not None else ()
        out = [
            _mark_applied(self._explain(_with_applied_clip(f, records), layers), applied.get(k, set()))
            for k, f in self.engine.findings.items()
        ]
        if self.treater is not None:
            treater = self.treater
            out = [
                replace(d, outcome=treater.outcome(d.kind, self._still_firing(d.kind)))
                if SEVERITY_RANK[d.severity] >= SEVERITY_RANK["warning"]
                else d
                for d in out
            ]
        # most severe first; at equal severity a cause before what it explains, then by onset
        out.sort(key=lambda d: (-SEVERITY_RANK[d.severity], bool(d.evidence.get("explained_by")), d.first_step))
        return out

    def _explain(self, finding: Finding, layers: Mapping[str, LayerInfo]) -> Diagnosis:
        return explain(finding, layers, self.engine.kinds.get(finding.kind))

    def _tell_failures(self, step: int) -> None:
        """A detector that failed becomes an incident: its kind went unwatched from this step on."""
        for name, error in self.engine.failures.items():
            if name not in self._failures_told:
                self._failures_told.add(name)
                self.sinks.write_incident(Incident(step=step, component=f"detector:{name}", error=error))

    def _still_firing(self, kind: str) -> bool:
        """Whether the latest window still shows the problem (old NaN in the history is not NaN now)."""
        current = self.engine.current.get(kind)
        if current is None or SEVERITY_RANK[current.severity] < SEVERITY_RANK["warning"]:
            return False
        if kind == NON_FINITE:
            return any(s.any_nonfinite for s in list(self.engine.history)[-self.config.window :])
        return True

    def report(self, steps: int, layers: Mapping[str, LayerInfo], incidents: Sequence[Incident] = ()) -> Report:
        """The report so far: ``steps`` training steps, the layer table in depth order, diagnoses, treatments."""
        treatments = sorted(self.treater.records, key=lambda t: t.step) if self.treater is not None else ()
        return Report(
            steps=steps,
            layers=sorted(layers.values(), key=lambda i: i.order),
            diagnoses=self.diagnoses(layers),
            treatments=treatments,
            incidents=tuple(incidents),
        )

    @property
    def history(self) -> Sequence[StepStats]:
        return self.engine.history


def _with_applied_clip(finding: Finding, records: Sequence[Treatment]) -> Finding:
    """A finding whose problem treatment clipped carries the threshold applied, so the advice's snippet
    shows the number the run was clipped at (both come from clip_threshold.suggested_clip)."""
    clipped = [t for t in records if t.kind == finding.kind and "clip_applied" in t.before]
    if not clipped:
        return finding
    last = clipped[-1]
    basis = f"applied in flight from step {last.step}: {last.before.get('clip_basis', '')}"
    return replace(
        finding,
        evidence={**finding.evidence, "suggested_clip": last.before["clip_applied"], "suggested_clip_basis": basis},
    )


def _mark_applied(diagnosis: Diagnosis, applied: set[str]) -> Diagnosis:
    if not applied:
        return diagnosis
    remedies = tuple(replace(r, applied=r.name in applied) for r in diagnosis.remedies)
    return replace(diagnosis, remedies=remedies)
