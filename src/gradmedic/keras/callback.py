"""``GradmedicCallback``: the Keras 3 (TensorFlow backend) adapter over the framework-free flow.

    model.fit(x, y, callbacks=[gradmedic.keras.GradmedicCallback(logdir="runs/a")])
    callback.report   # the same Report as gradmedic.watch(...).report()

On sampled steps (config.is_sampled) ``fit`` runs the probe's compiled twin of its train function
(probe.py); other steps run Keras' own function untouched. Every step the callback reads the loss
Keras already logs (the epoch's running mean) to date NaN and Inf. It never raises into ``fit``: an
internal error switches it off with one warning and an incident in the report.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import keras

from ..config import Config
from ..records import Incident, LayerInfo, LayerStats, Report, StepStats
from .flow import Flow
from .layers import KerasLayer, Site, find_layers, layer_table
from .probe import Probe


class GradmedicCallback(keras.callbacks.Callback):
    def __init__(
        self,
        logdir: str | Path | None = None,
        every: int | None = None,
        config: Config | None = None,
        treat: bool = False,
        console: bool = True,
    ) -> None:
        super().__init__()
        cfg = config or Config()
        self.config = replace(cfg, every=every) if every is not None else cfg
        self.logdir = logdir
        self.console = console
        self.treat = treat
        self.report: Report = Report(steps=0, layers=[], diagnoses=[])
        self._flow: Flow | None = None
        self._probe: Probe | None = None
        self._doctor: Any = None
        self._layers: list[KerasLayer] = []
        self._sites: list[Site] = []
        self._step = 0  # optimizer steps watched, across fit calls
        self._sampling = False
        self._losses: dict[int, float] = {}
        self._first_nonfinite: int | None = None
        self._force_sample = False
        self._disabled = False

    # --- Keras events -------------------------------------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._guard(self._begin)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._probe is None or self._disabled or self._flow is None:
            return
        self._sampling = self._force_sample or self._sampled(self._step)
        self._force_sample = False
        self.model.train_function = self._probe.sampled if self._sampling else self._probe.plain

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._probe is None or self._disabled:
            return
        self._guard(self._end_step, logs or {})

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._guard(self._finish)
        if self._probe is not None:
            self._probe.remove()
            self._probe = None
        if self._flow is not None and not self._flow.closed:
            self.report = self._flow.close()

    # --- the work ------------------------------------------------------------------------------------------
    def _sampled(self, step: int) -> bool:
        dense_until = self._doctor.dense_until if self._doctor is not None else 0
        return self.config.is_sampled(step) or step < dense_until

    def _begin(self) -> None:
        self._layers, self._sites = find_layers(self.model)
        self._probe = Probe(self.model, self._layers, self._sites, self.config.saturation_margin)
        self._probe.install()
        if self._flow is None:
            self._flow = Flow(self.config, _default_sinks(self.logdir, self.console))
        elif self._flow.closed:
            self._flow.reopen(_default_sinks(self.logdir, self.console))
        if self.treat and self._doctor is None:
            from .treat import KerasDoctor

            self._doctor = KerasDoctor(self.model, self.config)

    def _end_step(self, logs: dict[str, Any]) -> None:
        step = self._step
        self._step += 1
        loss = _float(logs.get("loss"))
        if loss is not None:
            self._losses[step] = loss
            if not math.isfinite(loss):
                if self._first_nonfinite is None:
                    self._first_nonfinite = step
                self._force_sample = True
        if self._sampling:
            self._ingest(step)
        if self._doctor is not None and self._flow is not None:
            for record in self._doctor.after_step(self._step, self._flow, self._probe):
                self._flow.treated(record)

    def _ingest(self, step: int) -> None:
        assert self._probe is not None and self._flow is not None
        measured = self._probe.read()
        if measured is None:
            self._flow.incidents.append(
                Incident(step, "keras-probe", "the sampled step's statistics could not be read")
            )
            return
        layer_stats, global_norm = measured
        self._ingest_stats(step, layer_stats, global_norm)

    def _ingest_stats(self, step: int, layer_stats: dict[str, LayerStats], global_norm: float) -> None:
        assert self._flow is not None
        losses, self._losses = self._losses, {}
        loss = losses.get(step)
        first_bad, self._first_nonfinite = self._first_nonfinite, None
        stats = StepStats(
            step=step,
            layers=layer_stats,
            global_grad_norm=global_norm,
            loss=loss,
            nonfinite_loss=first_bad is not None or (loss is not None and not math.isfinite(loss)),
            first_nonfinite_step=first_bad,
            losses=losses,
        )
        self._flow.steps = self._step
        self._flow.ingest(stats, self._infos())
        if self._doctor is not None:
            self._doctor.review(stats, self._flow)

    def _finish(self) -> None:
        """At the end of fit: trouble after the last sampled step still gets reported."""
        if self._flow is None or self._flow.closed:
            return
        self._flow.steps = self._step
        if self._first_nonfinite is not None:
            self._ingest_stats(self._first_nonfinite, {}, float("nan"))
        elif self._losses:
            self._flow.sinks.write_losses(self._losses)
            self._losses = {}

    def _infos(self) -> dict[str, LayerInfo]:
        assert self._probe is not None
        return layer_table(self._layers, self._sites, self._probe.units())

    # --- fail-safe -----------------------------------------------------------------------------------------
    def _guard(self, fn: Any, *args: Any) -> None:
        if self._disabled:
            return
        try:
            fn(*args)
        except Exception as exc:  # never break the user's fit
            self._disabled = True
            if self._probe is not None:
                self._probe.remove()
            if self._flow is not None:
                self._flow.incidents.append(Incident(self._step, "monitor", f"{type(exc).__name__}: {exc}"))
            warnings.warn(
                f"gradmedic stopped watching after an internal error ({type(exc).__name__}: {exc}); "
                "your training goes on unaffected. Please report this with the traceback above.",
                RuntimeWarning,
                stacklevel=3,
            )


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _default_sinks(logdir: str | Path | None, console: bool) -> list[Any]:
    sinks: list[Any] = []
    if console:
        from ..sinks.console import ConsoleSink

        sinks.append(ConsoleSink())
    if logdir is not None:
        from ..sinks.jsonl import JsonlSink
        from .tensorboard import TfSummarySink

        sinks += [JsonlSink(logdir), TfSummarySink(logdir)]
    return sinks
