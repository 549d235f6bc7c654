"""The Monitor: wires probe -> detectors -> advice -> sinks around the user's own training loop.

Per step it costs two root-module hooks, two optimizer hooks and at most one device op (the
non-finite check of probe/sentinel.py, skipped while the loss is handed over every step). On
sampled steps it arms the per-layer hooks, measures gradients and updates with foreach kernels, and
moves everything to the host in one transfer. It never raises into the user's loop: an internal
error switches the monitor off with one warning.
"""

from __future__ import annotations

import atexit
import functools
import math
import warnings
import weakref
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from .config import Config
from .pipeline import Pipeline
from .probe.gradients import GradientMeasurement, GradientProbe
from .probe.hooks import ForwardProbe
from .probe.layers import check_model, check_optimizers, find_frozen_layers, find_layers
from .probe.recurrent import RecurrenceProbe
from .probe.sentinel import Interval, Sentinel
from .records import Diagnosis, LayerInfo, LayerStats, Recurrence, Report, StepStats
from .remedies.doctor import Doctor
from .sinks.base import SinkSet


class Monitor:
    """Watches one model and its optimizer. Use as a context manager, or call ``close()``."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer | Sequence[torch.optim.Optimizer],
        *,
        logdir: str | Path | None = None,
        every: int | None = None,
        config: Config | None = None,
        console: bool = True,
        sinks: Iterable[Any] = (),
        treat: bool = False,
    ) -> None:
        check_model(model)
        optimizers: list[torch.optim.Optimizer] = (
            list(optimizer) if isinstance(optimizer, (list, tuple)) else [optimizer]  # type: ignore[list-item]
        )
        check_optimizers(optimizers)
        cfg = config or Config()
        self.config = replace(cfg, every=every) if every is not None else cfg
        self.model = model
        self.layers = find_layers(model)
        self._disabled = False
        self._closed = False
        self._step = 0
        self._grad = GradientProbe(self.layers)
        self._sentinel = Sentinel()
        self._dense_until = 0  # after a treatment, every step is sampled until it has been judged
        self._probe = self._make_probe()
        self._recurrence = RecurrenceProbe(model)  # measures nothing on a feed-forward model
        self._recurrent: dict[str, Recurrence] | None = None
        if self.config.is_sampled(0):
            self._probe.arm()
        self._infos: dict[str, LayerInfo] = {}
        self._infos_key: object = None
        self._measurement: GradientMeasurement | None = None
        self._pending: StepStats | None = None  # the last sampled step, until its loss had a chance to arrive
        self._late_loss: torch.Tensor | float | None = None
        self._stepped = False  # an optimizer step was taken since the last training forward pass
        self._loss_step = -2  # the last step whose loss was handed over
        self.sinks = SinkSet(_default_sinks(logdir, console) + list(sinks))
        # the doctor's step gate hooks in first, so the statistics see the gradients the optimizer applies
        self._doctor = Doctor(model, optimizers, self.config) if treat else None
        self._pipeline = Pipeline(self.config, self.sinks, self._doctor)
        clock = optimizers[0]  # the first optimizer's steps are the monitor's steps
        self._handles = [
            clock.register_step_pre_hook(self._guard(self._before_step)),
            clock.register_step_post_hook(self._guard(self._after_step)),
        ]
        self._atexit = functools.partial(_close_at_exit, weakref.ref(self))
        atexit.register(self._atexit)

    # --- public API -----------------------------------------------------------------------------------
    @property
    def step(self) -> int:
        """Optimizer steps taken since the monitor was attached."""
        return self._step

    def observe_loss(self, loss: torch.Tensor | float) -> None:
        """Hand over the loss of the current step (optional): enables loss checks and plots. Never syncs.

        Call it before or after ``optimizer.step()``; either way the loss is filed under its own step.
        """
        if isinstance(loss, torch.Tensor) and loss.numel() != 1:
            raise ValueError(
                f"observe_loss expects a scalar loss, got a tensor of shape {tuple(loss.shape)}; pass loss.mean()"
            )
        if self._disabled or self._closed:
            return
        try:
            step = self._step - 1 if self._stepped else self._step
            self._loss_step = step
            if self._pending is not None:
                self._late_loss = loss.detach() if isinstance(loss, torch.Tensor) else float(loss)
            else:
                self._sentinel.record_loss(loss, step)
        except Exception as exc:
            self._fail(exc)

    def report(self) -> Report:
        """The report so far: the layers, the standing diagnoses (most severe first) and the treatments."""
        self._emit_pending()
        return self._pipeline.report(self._step, self._infos)

    @property
    def diagnoses(self) -> list[Diagnosis]:
        return list(self.report().diagnoses)

    def close(self) -> Report:
        """Stop watching, flush every sink, and return the final report. Safe to call twice."""
        if self._closed:
            return self.report()
        self._closed = True
        atexit.unregister(self._atexit)
        for handle in self._handles:
            handle.remove()
        self._probe.remove()
        self._recurrence.remove()
        report = Report(steps=self._step, layers=[], diagnoses=[])
        try:
            self._emit_pending()
            self._final_nonfinite_check()
            if self._doctor is not None:
                for record in self._doctor.close(self._infos, list(self._pipeline.history)):
                    self.sinks.write_treatment(record)
            report = self.report()
        except Exception as exc:
            self._fail(exc)
        self.sinks.close(report)
        return report

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- optimizer hooks ------------------------------------------------------------------------------
    def _on_pass_start(self) -> None:
        self._stepped = False
        self._emit_pending()

    def _on_output(self, output: torch.Tensor) -> None:
        # While the loss comes every step, its own check covers the output (NaN and Inf reach the loss),
        # and a step costs no device op at all.
        if self._loss_step < self._step - 1:
            self._sentinel.record_output(output, self._step)

    def _sampled(self, step: int) -> bool:
        return self.config.is_sampled(step) or step < self._dense_until

    def _before_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self._emit_pending()  # in case the root module is never called, so no pass start emitted it
        if self._sampled(self._step):
            self._measurement = self._grad.before_step()
            if not self._recurrence.empty:  # before the update: the weights that made this gradient
                self._recurrent = self._recurrence.measure()

    def _after_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self._measurement is not None:
            self._finalize(self._measurement)
            self._measurement = None
            self._probe.reset_sites()
        self._step += 1
        self._stepped = True
        if self._doctor is not None:
            self._treat_at_boundary(self._doctor)
        self._probe.new_pass()
        if self._sampled(self._step):
            self._probe.arm()  # a no-op when the hooks are still armed from this step
        else:
            self._probe.disarm()

    def _treat_at_boundary(self, doctor: Doctor) -> None:
        """Apply what the doctor chose, between steps: no forward pass is in flight here."""
        outcome = doctor.after_step(self._step)
        for record in outcome.records:
            self.sinks.write_treatment(record)
        if outcome.surgery:
            self._rebuild()
        if outcome.treated:
            self._dense_until = self._step + doctor.patience + 1

    # --- one host transfer per sampled step -----------------------------------------------------------
    def _finalize(self, m: GradientMeasurement) -> None:
        self._grad.after_step(m)
        sites = [s for s in self._probe.sites.values() if s.header is not None]
        parts = m.tensors() + [t for s in sites for t in s.parts()] + self._sentinel.take()
        values = _to_host(parts, self._grad.device)  # the one host transfer

        layer_stats, global_norm = self._grad.unpack(m, values[: m.size])
        offset = m.size
        for site in sites:
            act = site.unpack(values[offset : offset + site.packed_size])
            offset += site.packed_size
            layer_stats[site.name] = replace(layer_stats.get(site.name, LayerStats()), activation=act)
        interval = self._sentinel.read(values[offset:])
        if self._doctor is not None and self._step in self._doctor.gate.dropped:
            # the gate dropped this step before the probe saw it: show the gradient that was dropped
            global_norm, bad = self._doctor.gate.dropped[self._step]
            for layer in self.layers:
                if any(id(p) in bad for p in layer.weights + layer.biases):
                    layer_stats[layer.name] = replace(layer_stats.get(layer.name, LayerStats()), nonfinite_grad=True)
        self._refresh_infos()
        self._pending = _step_stats(self._step, layer_stats, global_norm, interval)
        if self._recurrent is not None:
            self._pending = replace(self._pending, recurrence=self._recurrent)
            self._recurrent = None

    def _emit_pending(self) -> None:
        """Run the detectors on the last sampled step, once its loss (if any) had the chance to arrive."""
        stats, self._pending = self._pending, None
        if stats is None:
            return
        late, self._late_loss = self._late_loss, None
        if stats.loss is None and late is not None:
            value = float(late)  # a loss handed over after a sampled step: one small transfer
            stats = replace(
                stats,
                loss=value,
                nonfinite_loss=stats.nonfinite_loss or not math.isfinite(value),
                losses={**stats.losses, stats.step: value},
            )
        self._ingest(stats)

    def _ingest(self, stats: StepStats) -> None:
        self._pipeline.ingest(stats, self._infos)

    def _make_probe(self) -> ForwardProbe:
        hooked = sorted(self.layers + find_frozen_layers(self.model), key=lambda layer: layer.index)
        return ForwardProbe(
            self.model, hooked, self.config.saturation_margin, self._on_pass_start, self._on_output, self._guard
        )

    def _rebuild(self) -> None:
        """After surgery (a swapped activation, an inserted norm): find the layers again and hook them."""
        self._probe.remove()
        self.layers = find_layers(self.model)
        self._grad = GradientProbe(self.layers)
        self._probe = self._make_probe()
        self._infos_key = None

    def _final_nonfinite_check(self) -> None:
        """At close: trouble after the last sampled step still gets reported.

        A non-finite output is confirmed by a non-finite loss or by one look at the weights.
        """
        parts = self._sentinel.take()
        interval = self._sentinel.read(_to_host(parts, self._grad.device) if parts else None)
        step = interval.first_nonfinite_step
        if step is None:
            if interval.losses:
                self.sinks.write_losses(interval.losses)  # the tail of the loss curve
            return
        bad_weights = self._grad.nonfinite_weight_layers()
        if interval.nonfinite_loss_step is None and not bad_weights:
            return
        layers = {name: LayerStats(nonfinite_weight=True) for name in bad_weights}
        self._ingest(_step_stats(step, layers, float("nan"), interval))

    def _refresh_infos(self) -> None:
        """Rebuild the layer table, only when the probe learned a new layer, site or unit count."""
        key = (len(self._probe.order), tuple((n, s.units, s.kind) for n, s in self._probe.sites.items()))
        if key == self._infos_key:
            return
        self._infos_key = key
        order = dict(self._probe.order)
        for layer in self.layers:  # never called as a module (out_proj inside attention): its parent's depth
            parent = layer.name
            while layer.name not in order and "." in parent:
                parent = parent.rsplit(".", 1)[0]
                if parent in order:
                    order[layer.name] = order[parent]
        fallback = len(order) + 1
        weight_layers = [layer for layer in self.layers if layer.compares_by_depth and layer.name in order]
        output = max(weight_layers, key=lambda layer: order[layer.name]).name if weight_layers else ""
        infos: dict[str, LayerInfo] = {}
        for layer in self.layers:
            site = self._probe.sites.get(layer.name)
            infos[layer.name] = LayerInfo(
                name=layer.name,
                type=type(layer.module).__name__,
                order=order.get(layer.name, fallback + layer.index),
                num_params=layer.num_params,
                # a layer of unknown depth cannot stand in a depth profile
                has_weights=layer.compares_by_depth and layer.name in order,
                activation=self._activation_label(site.module) if site else "",
                activation_module=site.module if site else "",
                units=site.units if site else 0,
                is_output=layer.name == output,
            )
        for name, site in self._probe.sites.items():
            if name not in infos:
                infos[name] = LayerInfo(
                    name=name,
                    type=self._activation_label(site.module),
                    order=order.get(name, fallback),
                    has_weights=False,
                    activation=self._activation_label(site.module),
                    activation_module=site.module,
                    units=site.units,
                )
        self._infos = infos

    def _activation_label(self, module_name: str) -> str:
        if not module_name:
            return "functional"
        return type(self.model.get_submodule(module_name)).__name__

    # --- fail-safe --------------------------------------------------------------------------------------
    def _guard(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> None:
            if self._disabled:
                return None
            try:
                fn(*args, **kwargs)
            except Exception as exc:
                self._fail(exc)
            return None

        return guarded

    def _fail(self, exc: BaseException) -> None:
        if not self._disabled:
            self._disabled = True
            warnings.warn(
                f"gradmedic stopped watching after an internal error ({type(exc).__name__}: {exc}); "
                "your training goes on unaffected. Please report this with the traceback above.",
                RuntimeWarning,
                stacklevel=3,
            )


def _to_host(parts: list[torch.Tensor], device: torch.device) -> np.ndarray:
    """Flat 1-d device tensors, joined as float32 and moved to the host in one transfer."""
    try:
        flat = torch.cat(parts)
    except RuntimeError:  # tensors on several devices
        flat = torch.cat([p.to(device) for p in parts])
    return flat.float().cpu().numpy()


def _step_stats(step: int, layers: dict[str, LayerStats], global_norm: float, interval: Interval) -> StepStats:
    """A sampled step's record, with what the every-step sentinel saw since the previous one."""
    return StepStats(
        step=step,
        layers=layers,
        global_grad_norm=global_norm,
        loss=interval.losses.get(step),
        nonfinite_loss=interval.nonfinite_loss_step is not None,
        nonfinite_output=interval.nonfinite_output_step is not None,
        first_nonfinite_step=interval.first_nonfinite_step,
        losses=interval.losses,
    )


def _default_sinks(logdir: str | Path | None, console: bool) -> list[Any]:
    sinks: list[Any] = []
    if console:
        from .sinks.console import ConsoleSink

        sinks.append(ConsoleSink())
    if logdir is not None:
        from .sinks.jsonl import JsonlSink
        from .sinks.tensorboard import TensorBoardSink

        sinks += [JsonlSink(logdir), TensorBoardSink(logdir)]
    return sinks


def _close_at_exit(ref: weakref.ref[Monitor]) -> None:
    monitor = ref()
    if monitor is not None:
        monitor.close()


def watch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | Sequence[torch.optim.Optimizer],
    *,
    logdir: str | Path | None = None,
    every: int | None = None,
    config: Config | None = None,
    console: bool = True,
    sinks: Iterable[Any] = (),
    treat: bool = False,
) -> Monitor:
    """Watch ``model`` trained by ``optimizer``; returns a Monitor (a context manager).

    ``every`` sets how often full statistics are gathered (default 10, after dense sampling of the
    first steps); ``logdir`` writes TensorBoard event files and the JSONL log there. ``treat=True``
    applies remedies in flight (clipping, a lower learning rate, reviving dead units, module surgery,
    rollback) and records each one in the report's ``treatments``.
    """
    return Monitor(
        model, optimizer, logdir=logdir, every=every, config=config, console=console, sinks=sinks, treat=treat
    )
