"""The sink interface, and the guard that switches off a failing sink instead of breaking training.

``Sink`` is a base class whose methods do nothing: a sink overrides the records it cares about.
Duck-typed sinks (any object with some of these methods) are accepted too. ``SinkSet`` fans each
record out; a sink that raises is switched off, and that becomes an ``Incident`` in the record.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import replace
from typing import Any, Iterable, Mapping

from ..records import Diagnosis, Incident, LayerInfo, LayerStats, Report, StepStats, Treatment


class Sink:
    """Takes the records of a watched run and writes them somewhere. Every method is optional."""

    def write_step(self, stats: StepStats, layers: Mapping[str, LayerInfo]) -> None:
        """A sampled step's statistics, with the layer table."""

    def write_diagnosis(self, diagnosis: Diagnosis, step: int) -> None:
        """A diagnosis when it first fires or changes."""

    def write_treatment(self, treatment: Treatment) -> None:
        """A remedy applied in flight, or its outcome."""

    def write_losses(self, losses: Mapping[int, float]) -> None:
        """The losses of the steps after the last sampled one, at close."""

    def write_incident(self, incident: Incident) -> None:
        """Something that kept gradmedic from watching or recording part of the run."""

    def close(self, report: Report) -> None:
        """The final report; release files here."""


# Every ``<stat>`` that layer_scalars may return, in the order charts show them.
LAYER_STATS = (
    "grad_norm",
    "grad_rms",
    "bias_grad_norm",
    "weight_norm",
    "update_ratio",
    "zero_fraction",
    "active_fraction",
    "saturated_fraction",
)


def layer_scalars(stats: LayerStats) -> dict[str, float]:
    """The per-layer numbers of one step, by stat name (the ``<stat>`` of ``gradmedic/<stat>/<layer>``)."""
    out: dict[str, float] = {}
    for key in ("grad_norm", "grad_rms", "bias_grad_norm", "weight_norm", "update_ratio"):
        value = getattr(stats, key)
        if value is not None:
            out[key] = float(value)
    act = stats.activation
    if act is not None:
        out["zero_fraction"] = act.zero_fraction
        out["active_fraction"] = float(act.active.mean()) if act.active.size else 0.0
        if act.saturated_fraction is not None:
            out["saturated_fraction"] = act.saturated_fraction
    return out


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class SinkSet:
    """Fans records out to sinks; a sink that raises is switched off, with one warning and an ``Incident``.

    A switched-off sink still gets ``close`` at the end (guarded), so it can release its files and write
    what still fits, such as the JSONL's closing ``report`` line.
    """

    def __init__(self, sinks: Iterable[Sink]) -> None:
        self.sinks: list[Sink] = list(sinks)
        self.switched_off: list[Sink] = []
        self.incidents: list[Incident] = []
        self.step = -1  # the last step seen by write_step: where an incident happened

    def _call(self, sink: Any, method: str, args: tuple[Any, ...], optional: bool) -> None:
        if optional and not hasattr(sink, method):
            return  # a user's sink written before this method existed
        try:
            getattr(sink, method)(*args)
        except Exception as exc:  # a sink must never break training
            self._switch_off(sink, exc)

    def _each(self, method: str, *args: Any, optional: bool = False) -> None:
        for sink in list(self.sinks):
            self._call(sink, method, args, optional)

    def _switch_off(self, sink: Any, exc: Exception) -> None:
        if sink not in self.sinks:
            return
        self.sinks.remove(sink)
        self.switched_off.append(sink)
        name = type(sink).__name__
        incident = Incident(step=self.step, component=f"sink:{name}", error=f"switched off: {_one_line(exc)}")
        self.incidents.append(incident)
        warnings.warn(
            f"gradmedic: {name} failed ({_one_line(exc)}) and was switched off; training and the other sinks go on",
            RuntimeWarning,
            stacklevel=4,
        )
        self._each("write_incident", incident, optional=True)

    def write_step(self, stats: StepStats, layers: Mapping[str, LayerInfo]) -> None:
        self.step = stats.step
        self._each("write_step", stats, layers)

    def write_diagnosis(self, diagnosis: Diagnosis, step: int) -> None:
        self._each("write_diagnosis", diagnosis, step)

    def write_treatment(self, treatment: Treatment) -> None:
        self._each("write_treatment", treatment, optional=True)

    def write_losses(self, losses: Mapping[int, float]) -> None:
        """The losses of the steps after the last sampled one, at close."""
        self._each("write_losses", losses, optional=True)

    def write_incident(self, incident: Incident) -> None:
        """An incident from elsewhere (the monitor, the runner): kept here too and fanned out."""
        self.incidents.append(incident)
        self._each("write_incident", incident, optional=True)

    def close(self, report: Report) -> None:
        """Close every sink, switched off or not, with the report carrying this set's incidents too."""
        known = set(report.incidents)
        extra = [i for i in self.incidents if i not in known]
        if extra:
            report = replace(report, incidents=[*report.incidents, *extra])
        earlier = self.switched_off
        self.switched_off = []
        self._each("close", report)
        for sink in earlier:
            with contextlib.suppress(Exception):  # already switched off and reported once
                sink.close(report)
