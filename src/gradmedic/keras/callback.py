"""``GradmedicCallback``: the Keras 3 (TensorFlow backend) adapter over the framework-free flow.

    model.fit(x, y, callbacks=[gradmedic.keras.GradmedicCallback(logdir="runs/a")])
    callback.report   # the same Report as gradmedic.watch(...).report()

On sampled steps (config.is_sampled) ``fit`` runs the probe's compiled twin of its train function
(probe.py); other steps run Keras' own function untouched. Every step the callback reads the loss
Keras already logs (the epoch's running mean, turned back into the batch's own) to date NaN and Inf.
The statistics go through the framework-free ``Pipeline`` (detectors, advice, sinks, treatment).
It never raises into ``fit``: an internal error switches it off with one warning and an incident.
"""

from __future__ import annotations

import atexit
import functools
import math
import warnings
import weakref
from typing import Any

import keras

from ..callback_options import CallbackOptions
from ..pipeline import Pipeline
from ..records import Incident, LayerInfo, LayerStats, Report, StepStats
from ..sinks.base import SinkSet
from ..sinks.defaults import default_sinks
from .advice import KerasSinkSet, keras_report
from .layers import KerasLayer, Site, find_layers, layer_table
from .probe import Probe


class GradmedicCallback(CallbackOptions, keras.callbacks.Callback):
    def _setup(self) -> None:
        if not isinstance(self.options.treat, bool):
            raise TypeError(
                "the Keras callback takes treat=True or treat=False; plans of your own cures are for PyTorch models "
                "(gradmedic.watch(..., treat=plans))"
            )
        self.config = self.options.config
        self.report: Report = Report(steps=0, layers=[], diagnoses=[])
        self._pipeline: Pipeline | None = None
        self._open = False  # inside a fit: between on_train_begin and on_train_end
        self._closed = True  # the sinks are closed (before the first fit, and after close())
        self._infos: dict[str, LayerInfo] = {}
        self._units: dict[str, int] | None = None  # the units the layer table was built with
        self._incidents: list[Incident] = []
        self._probe: Probe | None = None
        self._doctor: Any = None
        self._layers: list[KerasLayer] = []
        self._sites: list[Site] = []
        self._step = 0  # optimizer steps watched, across fit calls
        self._sampling = False
        self._losses: dict[int, float] = {}
        self._mean: tuple[int, float | None] = (-1, None)  # the last batch index and its logged running-mean loss
        self._first_nonfinite: int | None = None
        self._force_sample = False
        self._disabled = False
        self._waiting = False
        self._atexit = functools.partial(_close_at_exit, weakref.ref(self))

    # --- Keras events -------------------------------------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        backend = keras.backend.backend()
        if backend != "tensorflow" and not self._disabled:
            self._refuse(backend)
            return
        self._waiting = not getattr(self.model, "built", False)  # built by its first step: watched from the next
        if not self._waiting:
            self._guard(self._begin)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._probe is None or self._disabled or not self._open:
            return
        self._sampling = self._force_sample or self._sampled(self._step)
        self._force_sample = False
        wanted = self._probe.sampled if self._sampling else self._probe.plain
        model = self._probe.model
        if model.train_function is not wanted:  # a Keras attribute set costs ~10 us: only at a switch
            model.train_function = wanted

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._waiting and not self._disabled:
            self._waiting = False
            self._step += 1  # this first step built the model, unwatched
            self._guard(self._begin)
            self._incidents.append(Incident(0, "keras", "the model was built by its first step, which ran unwatched"))
            return
        if self._probe is None or self._disabled or not self._open:
            return
        self._guard(self._end_step, batch, logs or {})

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._guard(self._finish)
        if self._probe is not None:
            self._probe.remove()  # kept, with its compiled twin, for the next fit of the same model
        if self._pipeline is not None and self._open:
            self._open = False
            self.report = keras_report(self._pipeline.report(self._step, self._infos, self._incidents))
            self._guard(_flush, self._pipeline.sinks)
        elif self._disabled:
            self.report = Report(steps=self._step, layers=[], diagnoses=[], incidents=tuple(self._incidents))

    def close(self) -> Report:
        """Write the closing report to the logs and close them (also done at exit). Safe to call twice."""
        if self._pipeline is not None and not self._closed:
            self._closed = True
            atexit.unregister(self._atexit)
            report = self._pipeline.report(self._step, self._infos, self._incidents)
            self._pipeline.sinks.close(report)
            self.report = keras_report(report)
        return self.report

    # --- the work ------------------------------------------------------------------------------------------
    def _sampled(self, step: int) -> bool:
        dense_until = self._doctor.dense_until if self._doctor is not None else 0
        return self.config.is_sampled(step) or step < dense_until

    def _begin(self) -> None:
        self._layers, self._sites = find_layers(self.model)
        self._units = None  # the layer table is built anew at the next sampled step
        if (
            self._probe is None
            or self._probe.model is not self.model
            or _names(self._probe.layers) != _names(self._layers)
        ):
            self._probe = Probe(self.model, self._layers, self._sites, self.config.saturation_margin)
        self._probe.install()
        if self.options.treat and self._doctor is None:
            from .treat import KerasDoctor

            self._doctor = KerasDoctor(self.model, self.config)
        if self._closed:  # the first fit, or a fit after close(): a fresh log (one folder, one run)
            sinks = KerasSinkSet(default_sinks(self.options.logdir, self.options.console) + list(self.options.sinks))
            if self._pipeline is None:
                self._pipeline = Pipeline(self.config, sinks, self._doctor, detectors=self.options.detectors)
            else:
                self._pipeline.sinks = sinks
            self._closed = False
            atexit.register(self._atexit)
        self._open = True  # another fit of the same model: the findings and the logs carry on

    def _end_step(self, batch: int, logs: dict[str, Any]) -> None:
        step = self._step
        self._step += 1
        loss = self._batch_loss(batch, _float(logs.get("loss")))
        if loss is not None:
            self._losses[step] = loss
            if not math.isfinite(loss):
                if self._first_nonfinite is None:
                    self._first_nonfinite = step
                self._force_sample = True
        if self._sampling:
            self._ingest(step)
        if self._doctor is not None and self._pipeline is not None:
            for record in self._doctor.after_step(self._step, self._probe):
                self._pipeline.sinks.write_treatment(record)

    def _batch_loss(self, batch: int, mean: float | None) -> float | None:
        """This batch's loss, from the epoch's running mean that Keras logs (batches of equal size assumed;
        the last, smaller batch of an epoch is a little off). A NaN stays in the mean until the epoch ends."""
        prev, self._mean = self._mean, (batch, mean)
        if mean is None or batch == 0 or prev[0] != batch - 1 or prev[1] is None:
            return mean
        if not (math.isfinite(mean) and math.isfinite(prev[1])):
            return mean
        return (batch + 1) * mean - batch * prev[1]

    def _ingest(self, step: int) -> None:
        assert self._probe is not None
        if self._probe.failed is not None:
            exc = self._probe.failed
            raise RuntimeError(f"the sampled step could not run ({type(exc).__name__}: {str(exc).splitlines()[0]})")
        measured = self._probe.read()
        if measured is None:
            self._incidents.append(Incident(step, "keras-probe", "the sampled step's statistics could not be read"))
            return
        layer_stats, global_norm = measured
        self._ingest_stats(step, layer_stats, global_norm)

    def _ingest_stats(self, step: int, layer_stats: dict[str, LayerStats], global_norm: float) -> None:
        assert self._pipeline is not None and self._probe is not None
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
        units = self._probe.units()
        if units != self._units:
            self._infos = layer_table(self._layers, self._sites, units)
            self._units = units
        self._pipeline.ingest(stats, self._infos)

    def _finish(self) -> None:
        """At the end of fit: trouble after the last sampled step still gets reported."""
        if self._pipeline is None or not self._open:
            return
        if self._first_nonfinite is not None:
            self._ingest_stats(self._first_nonfinite, {}, float("nan"))
        elif self._losses:
            self._pipeline.sinks.write_losses(self._losses)
            self._losses = {}

    # --- fail-safe -----------------------------------------------------------------------------------------
    def _refuse(self, backend: str) -> None:
        """Keras on JAX or torch: the probe's compiled twin is TensorFlow's, so nothing is watched (said once)."""
        self._disabled = True
        message = (
            f"gradmedic.keras watches Keras on the TensorFlow backend only; KERAS_BACKEND is {backend!r}, "
            "so this fit is not watched (set KERAS_BACKEND=tensorflow to watch it)"
        )
        self._incidents.append(Incident(self._step, "keras", message))
        warnings.warn(message, RuntimeWarning, stacklevel=3)

    def _guard(self, fn: Any, *args: Any) -> None:
        if self._disabled:
            return
        try:
            fn(*args)
        except Exception as exc:  # never break the user's fit
            self._disabled = True
            if self._probe is not None:
                self._probe.remove()
            self._incidents.append(Incident(self._step, "monitor", f"{type(exc).__name__}: {exc}"))
            warnings.warn(
                f"gradmedic stopped watching after an internal error ({type(exc).__name__}: {exc}); "
                "your training goes on unaffected. Please report this with the traceback above.",
                RuntimeWarning,
                stacklevel=3,
            )


def _close_at_exit(ref: weakref.ref[GradmedicCallback]) -> None:
    callback = ref()
    if callback is not None:
        callback.close()


def _flush(sinks: SinkSet) -> None:
    """At the end of a fit, TensorBoard's events reach the disk (the JSONL log writes each line at once)."""
    for sink in sinks.sinks:
        events = getattr(sink, "events", None)
        if events is not None:
            events.flush()


def _names(layers: list[KerasLayer]) -> list[str]:
    return [layer.name for layer in layers]


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
