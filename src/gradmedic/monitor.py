"""The Monitor: wires probe -> detectors -> advice -> sinks around the user's own training loop.

Per step it costs two root-module hooks, the step clock's hooks (probe/clock.py: the optimizer's step
hooks, or the end of each backward pass when there is no optimizer), while the script hands no loss
over a pre-hook on the output's autograd node that reads the loss at ``backward()`` (probe/loss_reader.py),
and at most one device op (the non-finite check of probe/sentinel.py, skipped while a loss comes every step). On
sampled steps it arms the per-layer hooks, measures gradients and updates with foreach kernels, and
moves everything to the host in one transfer; under DDP the ranks then exchange their records once
(``_agree``, distributed.py), and rank 0 alone writes.

Under ``torch.compile`` the hooks do nothing inside compiled code, and a sampled step of a compiled
model runs eagerly (probe/eager_steps.py), so the compiled graphs stay as they are (docs/integrations.md).

Promises (docs/reliability.md, "The monitor and the runner"): a wrong argument to ``watch()`` raises at
once, before anything is attached, and a failed attach leaves nothing behind. After that, nothing
raises into the user's loop, ``report()`` and ``close()`` included: an internal error switches the
monitor off with its traceback printed once, a warning at the user's line, and an ``Incident`` in the
report, which then counts the steps that ran but is never ``healthy``. One model has one monitor.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import math
import numbers
import weakref
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from . import arguments, option_checks
from .config import Config, resolve_config
from .distributed import RankGroup, RankRecord, fsdp_reason, is_writer, same_draws
from .faults import one_line, print_traceback, stopped_incident, warn_at_user
from .kinds.kind import FailureKind
from .merge_ranks import merge_ranks
from .pipeline import Pipeline
from .probe import eager_steps
from .probe.clock import BackwardClock, OptimizerClock, StepClock
from .probe.closure import register_pre_hook
from .probe.gradients import GradientMeasurement, GradientProbe
from .probe.hooks import ForwardProbe
from .probe.host_batch import HostBatch
from .probe.layer_table import layer_table
from .probe.layers import check_model, find_frozen_layers, find_layers
from .probe.loss_reader import LossReader
from .probe.probe_hook import ProbeHook
from .probe.recurrent_weights import RecurrenceProbe
from .probe.sentinel import Interval, Sentinel
from .probe.unwrap import compile_wrapper, is_compiled_in_place, unwrap
from .records import Diagnosis, Incident, LayerInfo, LayerStats, Recurrence, Report, StepStats
from .remedies.cure import Cure
from .remedies.doctor import Doctor
from .sinks.base import Sink, SinkSet
from .sinks.defaults import default_sinks

COMPILED_STEP = (
    "the optimizer stepped inside a torch.compile'd function, where gradmedic's hooks do nothing: those "
    "steps were not watched; compile the model (torch.compile(model)) and keep optimizer.step() outside it"
)

# id(model) -> its open monitor: one model, one monitor
_WATCHING: dict[int, weakref.ref[Monitor]] = {}


def _forget(key: int, ref: weakref.ref[Monitor]) -> None:
    """A monitor collected without close(): its registry entry goes with it."""
    if _WATCHING.get(key) is ref:
        del _WATCHING[key]


def monitor_of(model: nn.Module) -> Monitor | None:
    """The open monitor watching ``model``, if any."""
    ref = _WATCHING.get(id(model))
    monitor = ref() if ref is not None else None
    if monitor is None or monitor._closed or monitor.model is not model:
        return None
    return monitor


class Monitor:
    """Watches one model and its optimizer. Use as a context manager, or call ``close()``.

    A model already watched by an open monitor is refused with a ``RuntimeError``: close the first one
    (``monitor.close()``, or leave its ``with`` block), or pass every optimizer to one ``watch()``.

    Without an optimizer (``optimizer=None``: weights updated by hand), a step is a backward pass that
    reaches the model's parameters.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer | Sequence[torch.optim.Optimizer] | None = None,
        *,
        logdir: str | Path | None = None,
        every: int | None = None,
        config: Config | None = None,
        console: bool = True,
        sinks: Iterable[Sink] = (),
        treat: bool | Mapping[str, Sequence[Cure]] = False,
        start_step: int = 0,
        detectors: Iterable[FailureKind] | None = None,
        read_loss: bool = True,
    ) -> None:
        # every check before anything is attached: a wrong argument leaves nothing behind
        arguments.check_model_type(model)
        wrapper = compile_wrapper(model)
        handed = model
        model, optimizer = unwrap(model, optimizer)  # accelerate's and Lightning's wrappers, torch.compile
        check_model(model)
        optimizers = arguments.as_optimizers(optimizer)
        arguments.check_optimizers_train(model, optimizers)
        chosen = resolve_config(config, every)
        option_checks.check_flag(console, "console")
        plans = arguments.check_treat(treat)
        kinds = option_checks.check_detectors(detectors)
        extra_sinks = option_checks.check_sinks(sinks)
        option_checks.check_logdir(logdir)
        if monitor_of(model) is not None:
            raise RuntimeError(
                f"this {type(model).__name__} is already watched by a gradmedic monitor; close that one first "
                "(monitor.close(), or leave its with-block), or watch once with every optimizer: "
                "gradmedic.watch(model, [opt1, opt2])"
            )
        self.config = chosen
        self.model = model
        self._wrapper = wrapper  # a torch.compile wrapper: the probe's root hooks go there, outside its graph
        self._seen_compiled = False
        self._incidents: list[Incident] = []
        self._final: Report | None = None
        self.sinks = SinkSet([])
        unsupported = fsdp_reason(model)
        if unsupported is not None:
            self._attach_nothing(unsupported, logdir, console, extra_sinks, start_step)
            return
        try:
            self._attach(model, optimizers, logdir, console, extra_sinks, plans, kinds, start_step, handed, read_loss)
        except BaseException:
            self._detach()
            raise
        _WATCHING[id(model)] = weakref.ref(self, functools.partial(_forget, id(model)))

    def _attach(
        self,
        model: nn.Module,
        optimizers: list[torch.optim.Optimizer],
        logdir: str | Path | None,
        console: bool,
        extra_sinks: list[Any],
        plans: Mapping[str, Sequence[Cure]] | None,
        kinds: list[FailureKind] | None,
        start_step: int,
        handed: Any = None,
        read_loss: bool = True,
    ) -> None:
        """``plans`` is None without treatment, else the user's plans (empty: the built-in ones).

        ``read_loss``: read the loss where the script calls ``backward()`` (probe/loss_reader.py); off for
        ``gradmedic run``'s monitors, whose runner hands the loss over itself."""
        treat = plans is not None
        # under torch.distributed only rank 0 writes, and DDP replicas exchange their records (distributed.py)
        self._group = RankGroup.join(model, handed)
        try:
            self.sinks = SinkSet(default_sinks(logdir, console) + extra_sinks if is_writer() else [])
        except OSError as exc:
            raise ValueError(f"gradmedic.watch could not open logdir={str(logdir)!r} for the logs: {exc}") from exc
        self.layers = find_layers(model)
        self._disabled = False
        self._closed = False
        self._step = start_step  # > 0 when steps ran before the monitor was attached
        self._grad = GradientProbe(self.layers)
        self._sentinel = Sentinel()
        self._dense_until = 0  # after a treatment, every step is sampled until it has been judged
        self._dense_wanted = 0  # under DDP, _dense_until changes only when the ranks exchange records
        self._resync = False  # under DDP, the doctor changed the model since the last exchange
        self._probe = self._make_probe()
        self._recurrence = RecurrenceProbe(model, wrapper=self._wrapper)  # measures nothing on a feed-forward model
        self._recurrent: dict[str, Recurrence] | None = None
        if self.config.is_sampled(start_step):
            self._arm()
        self._infos: dict[str, LayerInfo] = {}
        self._infos_key: object = None
        self._measurement: GradientMeasurement | None = None
        self._measured_step = 0  # the step of the measurement in flight
        self._waiting: set[int] = set()  # the other optimizers whose step the measurement waits for
        self._finishing: int | None = None  # the step whose measurement is being finished
        self._pending: StepStats | None = None  # the last sampled step, until its loss had a chance to arrive
        self._earlier: StepStats | None = None  # gradients of a step before the attach, judged before the first
        self._late_loss: torch.Tensor | float | None = None
        self._stepped = False  # an optimizer step was taken since the last training forward pass
        self._loss_step = -2  # the last step whose loss was filed
        self._handed_step = -2  # the last step whose loss the script handed over itself (observe_loss)
        self._auto: tuple[torch.Tensor, int] | None = None  # a loss read at backward() and its step, until filed
        self._loss_reader: LossReader | None = None
        # the doctor's step gate hooks in first, so the statistics see the gradients the optimizer applies;
        # without an optimizer it acts at the end of each backward pass, before the script's own update
        self._doctor = (
            Doctor(
                model,
                optimizers,
                self.config,
                self._shield,
                start_step,
                distributed=self._group is not None,
                plans=plans,
            )
            if treat
            else None
        )
        self._treating = self._doctor is not None  # False once the ranks can no longer decide alike
        if self._doctor is not None and self._group is not None and self._group.writer:
            warn_at_user(
                "gradmedic: treating a DistributedDataParallel run: cures are decided from every rank's figures "
                "and applied alike on every rank, with rank 0's weights broadcast after each; batch-norm "
                "insertion is off (DDP would not synchronise the new parameters)"
            )
        self._pipeline = Pipeline(self.config, self.sinks, self._doctor, detectors=kinds)
        # the first optimizer's steps are the monitor's steps; without one, each backward pass is a step
        self._clock: StepClock = self._make_clock(optimizers[0] if optimizers else None)
        self._retired: list[StepClock] = []  # clocks replaced by an optimizer's, closed with the monitor
        self.optimizers: list[torch.optim.Optimizer] = []
        self._other_hooks: list[RemovableHandle] = []
        for optimizer in optimizers:
            self.add_optimizer(optimizer)
        if read_loss:
            self._loss_reader = LossReader(self._guard(self._backward_loss))
        self._atexit = functools.partial(_close_at_exit, weakref.ref(self))
        atexit.register(self._atexit)

    def _attach_nothing(
        self, reason: str, logdir: str | Path | None, console: bool, extra_sinks: list[Any], start_step: int
    ) -> None:
        """A model gradmedic cannot watch (FSDP): no hook at all, a warning, and the reason in the report."""
        if is_writer():
            self.sinks = SinkSet(default_sinks(logdir, console) + extra_sinks)
            warn_at_user(f"gradmedic: {reason}")
        self.layers = []
        self._disabled, self._closed, self._step = True, False, start_step
        self._group = None
        self._infos = {}
        self._doctor = None
        self._pipeline = Pipeline(self.config, self.sinks, None)
        self._clock = _NoClock()
        self._loss_reader = None
        self._retired = []
        self.optimizers = []
        self._other_hooks = []
        self._incidents.append(Incident(-1, "monitor", reason))
        self._atexit = functools.partial(_close_at_exit, weakref.ref(self))

    def _detach(self) -> None:
        """Undo whatever a failed attach had done: hooks, the exit handler, open log files."""
        eager_steps.release(self)
        reader = getattr(self, "_loss_reader", None)
        if reader is not None:
            reader.close()
        clock = getattr(self, "_clock", None)
        if clock is not None:
            clock.close()
        for handle in getattr(self, "_other_hooks", ()):
            handle.remove()
        probe = getattr(self, "_probe", None)
        if probe is not None:
            probe.remove()
        recurrence = getattr(self, "_recurrence", None)
        if recurrence is not None:
            recurrence.remove()
        if hasattr(self, "_atexit"):
            atexit.unregister(self._atexit)
        for sink in self.sinks.sinks:  # close their files without writing a report line
            for name in ("_file", "writer"):
                with contextlib.suppress(Exception):
                    getattr(sink, name).close()

    # --- public API -----------------------------------------------------------------------------------
    @property
    def step(self) -> int:
        """Training steps taken since the monitor was attached (optimizer steps, or backward passes)."""
        return self._step

    @property
    def counts_backward_passes(self) -> bool:
        """True when there is no optimizer to count by: each backward pass is a step."""
        return isinstance(self._clock, BackwardClock)

    def use_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Count steps by ``optimizer`` from now on (an optimizer appeared after backward passes were counted).

        The step opened by the last backward pass is taken by the optimizer's step: nothing is counted twice.
        """
        if self._closed or not self.counts_backward_passes:
            return
        assert isinstance(self._clock, BackwardClock)
        self._clock.detach()  # its open step is the optimizer's now
        self._retired.append(self._clock)
        self._measurement = None
        if self._doctor is not None:
            self._doctor.gate.adopt(optimizer)
        self._clock = self._make_clock(optimizer)

    def add_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Another optimizer that steps part of this model. The first one's steps are the monitor's steps;
        the others' gradients are read again just before each of them steps (a ``GradScaler`` unscales
        each optimizer's gradients only then), and a sampled step is complete once all of them stepped.
        """
        if self._closed or any(o is optimizer for o in self.optimizers):
            return
        self.optimizers.append(optimizer)
        if len(self.optimizers) > 1:
            self._other_hooks += [
                register_pre_hook(optimizer, self._guard(self._before_other_step)),
                optimizer.register_step_post_hook(ProbeHook(self._guard(self._after_other_step))),
            ]

    def observe_loss(self, loss: torch.Tensor | float) -> None:
        """Hand over the loss of the current step (optional): the loss checks and plots. Never syncs.

        Without it, the loss is read where the script calls ``backward()`` on a scalar that goes back
        through the model; a loss handed over here wins over the one read for the same step.

        Call it before or after ``optimizer.step()``; either way the loss is filed under its own step.
        The loss must be a real number: a one-element real tensor or a Python/NumPy real. Anything else
        (``None``, a complex or boolean loss, a tensor of several elements) is a programming error and
        raises ``TypeError`` / ``ValueError`` at the call, on the first step, even after the monitor
        stopped; it never switches the monitor off.
        """
        _check_loss(loss)
        if self._disabled or self._closed:
            return
        try:
            if self._probe.compiled_pass():  # a compiled forward pass ran since the step: it started a new one
                self._stepped = False
            step = self._step - 1 if self._stepped else self._step
            held = self._auto
            if held is not None and held[1] == step:
                self._auto = None  # the script's own loss wins over the one read at backward()
            elif held is not None and held[1] < step:
                self._file_auto()
            self._handed_step = step
            self._file_loss(loss, step)
        except Exception as exc:
            self._fail(exc, "observe_loss")

    def _file_loss(self, loss: torch.Tensor | float, step: int) -> None:
        self._loss_step = step
        pending = self._pending
        if pending is not None and pending.step == step and self._group is None:  # ranks: with the next record
            self._late_loss = loss.detach() if isinstance(loss, torch.Tensor) else float(loss)
        else:
            self._sentinel.record_loss(loss, step)

    def _backward_loss(self, loss: torch.Tensor) -> None:
        """A scalar loss whose backward pass went through the model (probe/loss_reader.py). It is held
        until its step is over, the last one of a step winning (a GAN's discriminator also sees the
        generator's loss after its own step), and filed then unless the script handed that step's loss
        over itself."""
        if self._closed:
            return
        step = self._step  # a backward pass comes before its optimizer step, and opens a hand-updated step
        if self._loss_step == step:
            return  # handed over before backward()
        held = self._auto
        if held is not None and held[1] != step:
            self._file_auto()
        self._auto = (loss.detach(), step)

    def _file_auto(self) -> None:
        held, self._auto = self._auto, None
        if held is not None:
            self._file_loss(*held)

    @property
    def incidents(self) -> list[Incident]:
        """What kept this monitor from watching or recording all of the run, oldest first."""
        from_sinks = [i for i in getattr(self.sinks, "incidents", ()) if i not in self._incidents]
        return self._incidents + from_sinks

    def observe_earlier_loss(self, loss: torch.Tensor | float, step: int) -> None:
        """The loss of a step taken before the monitor was attached (``gradmedic run`` hands it over)."""
        if not self._disabled and not self._closed and step < self._step:
            self._sentinel.record_loss(loss.detach() if isinstance(loss, torch.Tensor) else float(loss), step)

    def observe_earlier_gradients(self, norms: Mapping[int, float], step: int) -> None:
        """The gradient norms of a step taken before the monitor was attached, by parameter id
        (``probe.gradients.grad_norms``): ``gradmedic run`` hands over the first backward pass of a
        hand-updated script, the one calm reference of a run that blows up at once. They are judged just
        before the first step the monitor measures."""
        if self._disabled or self._closed or step >= self._step:
            return
        try:
            layers, global_norm = self._grad.from_norms(norms)
            if layers:
                self._earlier = StepStats(step=step, layers=layers, global_grad_norm=global_norm)
        except Exception as exc:
            self._fail(exc, "observe_earlier_gradients")

    def report(self) -> Report:
        """The report so far: the layers, the standing diagnoses (most severe first), the treatments and
        the incidents. Never raises: after an internal error it reports what it has, with the incident.
        """
        if self._final is not None:
            return self._final
        try:
            if not self._disabled:
                self._complete_measurement()
                self._emit_pending()
        except Exception as exc:
            self._fail(exc, "report")
        try:
            return self._pipeline.report(self._step, self._infos, self.incidents)
        except Exception as exc:
            self._fail(exc, "report")
        return Report(
            steps=self._step,
            layers=sorted(self._infos.values(), key=lambda i: i.order),
            diagnoses=[],
            incidents=tuple(self.incidents),
        )

    @property
    def diagnoses(self) -> list[Diagnosis]:
        return list(self.report().diagnoses)

    def close(self) -> Report:
        """Stop watching, flush every sink, and return the final report. Safe to call twice; never raises."""
        if self._closed:
            return self.report()
        self._closed = True
        ref = _WATCHING.get(id(self.model))
        if ref is not None and ref() is self:
            del _WATCHING[id(self.model)]
        try:
            self._detach_hooks()
            if isinstance(self._clock, OptimizerClock) and self._clock.compiled:
                self._incidents.append(Incident(self._step, "monitor", COMPILED_STEP))
            if not self._disabled:
                self._complete_measurement()
                self._emit_pending()
                self._final_nonfinite_check()
                if self._doctor is not None:
                    for record in self._doctor.close(self._infos, list(self._pipeline.history)):
                        self.sinks.write_treatment(record)
        except Exception as exc:
            self._fail(exc, "close")
        report = self.report()
        try:
            self.sinks.close(report)
        except Exception as exc:  # SinkSet switches failing sinks off; this is the last line of defence
            self._fail(exc, "close")
        self._final = self.report()
        return self._final

    def _detach_hooks(self) -> None:
        atexit.unregister(self._atexit)
        if self._loss_reader is not None:
            self._loss_reader.close()
        for clock in [*self._retired, self._clock]:
            self._guard(clock.close)()  # the update of a hand-updated step is in by now
        eager_steps.release(self)
        for handle in self._other_hooks:
            handle.remove()
        for part in (getattr(self, "_probe", None), getattr(self, "_recurrence", None)):
            if part is not None:
                part.remove()
        if self._disabled and self._doctor is not None:
            self._doctor.gate.remove()  # doctor.close() does it otherwise; a stopped monitor skips that

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- step clock -----------------------------------------------------------------------------------
    def _make_clock(self, optimizer: torch.optim.Optimizer | None) -> StepClock:
        if optimizer is not None:
            return OptimizerClock(optimizer, self._before_step, self._counted_after_step, self._guard)
        params = [p for layer in self.layers for p in layer.weights + layer.biases]
        return BackwardClock(params, self._before_update_by_hand, self._counted_after_step, self._guard)

    def _before_update_by_hand(self) -> None:
        """The end of a backward pass without an optimizer: the gate acts on the gradients first, so the
        statistics see what the script's own update will apply."""
        if self._doctor is not None:
            self._doctor.gate.before_update()
        self._before_step()

    def _counted_after_step(self) -> None:
        """A step's end. It is counted even after the monitor stopped, so a report never claims fewer
        steps than ran; the clocks call it unguarded, and it never raises."""
        before = self._step
        # every rank ends a sampled step here, stopped or not: the ranks exchange their records now
        together = self._group is not None and not self._closed and self._sampled(before)
        if self._doctor is not None and self.counts_backward_passes:
            self._doctor.gate.after_update()  # never raises: a counter
        if not self._disabled:
            try:  # what _guard does, without building a wrapper on every step
                self._after_step()
            except Exception as exc:
                self._fail(exc, "Monitor._after_step")
        if self._step == before:
            self._step += 1
        if together:
            self._agree(before)

    def _agree(self, step: int) -> None:
        """Exchange and merge the records of every rank for a sampled step (distributed.py); never raises.

        This is the only place ranks communicate, and every rank, stopped or not, comes here at the same
        steps: the schedule is the step counter and what the ranks agreed here. After a cure on any rank,
        rank 0's weights are broadcast. A rank that stopped watching sends no record; every rank sees that
        in the same list, and all of them stop exchanging records and stop treating, alike.
        """
        group = self._group
        assert group is not None
        if not self._disabled and self._measurement is not None:  # several optimizers: do not wait for the rest
            try:
                self._complete_measurement()
            except Exception as exc:
                self._fail(exc, "Monitor._agree")
        try:
            if not group.handshake():
                self._part_ways("not every rank watches this model (call gradmedic.watch on every rank)", step, False)
                return
            mine = RankRecord(None if self._disabled else self._pending, self._resync, self._dense_wanted)
            records = group.gather(mine)
            self._resync = False
            if any(r.resync for r in records):
                group.broadcast_model(self.model)
        except Exception as exc:
            self._part_ways(f"the ranks could not exchange their records ({one_line(exc)})", step, True)
            return
        self._dense_until = max(self._dense_until, *(r.dense_until for r in records))
        if not self._disabled and self._sampled(self._step):
            self._probe.arm()  # the next step is sampled now: its forward pass measures activations too
        stopped = [rank for rank, record in enumerate(records) if record.stats is None]
        if stopped:
            ranks = ", ".join(str(r) for r in stopped)
            self._part_ways(f"rank {ranks} stopped watching", step, True)
            return
        if not self._disabled:
            try:  # a pure function of the same list on every rank: it fails everywhere or nowhere
                self._pending = merge_ranks([r.stats for r in records if r.stats is not None])
            except Exception as exc:
                self._fail(exc, "Monitor._agree")

    def _part_ways(self, why: str, step: int, incident: bool) -> None:
        """Each rank on its own from now on: its own figures, no collective, no more treatment."""
        self._group = None
        message = f"{why}: from step {step} on, each rank reports only what it sees, and treatment stops"
        if self._doctor is not None:
            self._treating = False
            if not incident:  # only some ranks watch: a gate on those alone would set the replicas apart
                self._doctor.gate.remove()
        if not is_writer():
            return
        try:
            if incident:
                record = Incident(step, "distributed", message)
                self._incidents.append(record)
                write = getattr(self.sinks, "write_incident", None)
                if write is not None:
                    write(record)
            warn_at_user(f"gradmedic: {message}")
        except Exception:  # warnings turned into errors: the report still has the incident
            pass

    def _on_pass_start(self) -> None:
        self._clock.pass_start()
        self._stepped = False
        self._complete_measurement()  # other optimizers that did not step this time are not waited for
        self._emit_pending()

    def _on_output(self, outputs: list[torch.Tensor]) -> None:
        # While the loss comes every step, its own check covers the output (NaN and Inf reach the loss),
        # and a step costs no device op at all.
        if self._loss_step < self._step - 1:
            self._sentinel.record_output(outputs[0], self._step)
        if self._loss_reader is not None and self._handed_step < self._step - 1:  # the script hands none itself
            self._loss_reader.watch(outputs)

    def _sampled(self, step: int) -> bool:
        return self.config.is_sampled(step) or step < self._dense_until

    def _before_step(self) -> None:
        eager_steps.release(self)  # its passes are done: the optimizer step and the next ones run compiled
        self._complete_measurement()  # in case the root module is never called, so no pass start did it
        self._emit_pending()
        if self._sampled(self._step):
            self._measurement = self._grad.before_step()
            self._measured_step = self._step
            if not self._recurrence.empty:  # before the update: the weights that made this gradient
                self._recurrent = self._recurrence.measure()

    def _after_step(self) -> None:
        if self._measurement is not None:
            self._waiting = {id(o) for o in self.optimizers[1:]}
            if not self._waiting:
                self._complete_measurement()
        self._step += 1
        self._probe.compiled_pass()  # this step's compiled passes are behind us
        self._stepped = True
        if self._doctor is not None and self._treating:
            self._treat_at_boundary(self._doctor)
        self._probe.new_pass()
        if self._sampled(self._step):
            self._arm()  # a no-op when the hooks are still armed from this step
        else:
            self._probe.disarm()

    @property
    def compiled(self) -> bool:
        """Whether the model runs under ``torch.compile`` (passed compiled, compiled in place, or seen so)."""
        self._seen_compiled = self._seen_compiled or self._probe.compiled
        return self._seen_compiled or self._wrapper is not None or is_compiled_in_place(self.model)

    def _arm(self) -> None:
        """Arm the per-layer hooks for a sampled step; a compiled model runs that step eagerly, so they see it."""
        self._probe.arm()
        if self.compiled and not self._closed:  # closing counts the last hand-updated step: nothing follows
            self._probe.may_intercept = eager_steps.hold(self)

    def _before_other_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        # its gradients are final only now: a GradScaler unscales each optimizer's own just before it steps
        if self._measurement is not None and id(optimizer) in self._waiting:
            self._grad.remeasure(self._measurement, [p for g in optimizer.param_groups for p in g["params"]])

    def _after_other_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self._waiting.discard(id(optimizer))
        if self._measurement is not None and not self._waiting:
            self._complete_measurement()

    def _complete_measurement(self) -> None:
        """Finish the sampled step once every optimizer stepped (or the next pass starts without them)."""
        m, self._measurement = self._measurement, None
        self._waiting = set()
        if m is None:
            return
        self._finishing = self._measured_step  # a fault in there belongs to that step (the guard reads it)
        self._finalize(m, self._measured_step)
        self._finishing = None
        self._probe.reset_sites()

    def _treat_at_boundary(self, doctor: Doctor) -> None:
        """Apply what the doctor chose, between steps: no forward pass is in flight here."""
        if self._group is not None and doctor.has_work:
            with same_draws(self.model, self._step):  # the same draws on every rank (no cost on other steps)
                outcome = doctor.after_step(self._step)
        else:
            outcome = doctor.after_step(self._step)
        if self._group is not None:  # rank 0's weights go out at the next exchange all the same
            self._resync = self._resync or bool(outcome.records) or outcome.surgery
        for record in outcome.records:
            self.sinks.write_treatment(record)
        if outcome.surgery:
            self._rebuild()
        if outcome.treated:
            until = self._step + doctor.patience + 1
            if self._group is None:
                self._dense_until = until
            else:  # every rank must sample the same steps: this takes effect at the next exchange
                self._dense_wanted = max(self._dense_wanted, until)

    # --- one host transfer per sampled step -----------------------------------------------------------
    def _finalize(self, m: GradientMeasurement, step: int) -> None:
        self._grad.after_step(m)
        self._probe.flush()  # time steps held back, when the root module is never called to flush them
        sites = [s for s in self._probe.sites.values() if s.header is not None]
        batch = HostBatch(self._grad.device)
        gradients = batch.add(m.tensors())
        activations = [(site, batch.add(site.parts())) for site in sites]
        sentinel = batch.add(self._sentinel.take())
        batch.transfer()  # the one host transfer

        layer_stats, global_norm = self._grad.unpack(m, batch.share(gradients))
        for site, ticket in activations:
            act = site.unpack(batch.share(ticket))
            layer_stats[site.name] = replace(layer_stats.get(site.name, LayerStats()), activation=act)
        interval = self._sentinel.read(batch.share(sentinel))
        if self._doctor is not None and self._step in self._doctor.gate.dropped:
            # the gate dropped this step before the probe saw it: show the gradient that was dropped
            global_norm, bad = self._doctor.gate.dropped[self._step]
            for layer in self.layers:
                if any(id(p) in bad for p in layer.weights + layer.biases):
                    layer_stats[layer.name] = replace(layer_stats.get(layer.name, LayerStats()), nonfinite_grad=True)
        self._refresh_infos()
        self._pending = _step_stats(step, layer_stats, global_norm, interval)
        if self._recurrent is not None:
            self._pending = replace(self._pending, recurrence=self._recurrent)
            self._recurrent = None

    def _emit_pending(self) -> None:
        """Run the detectors on the last sampled step, once its loss (if any) had the chance to arrive."""
        held = self._auto
        if held is not None and held[1] < self._step:  # its step is over: nothing will replace it now
            self._file_auto()
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
        if self._earlier is not None:
            earlier, self._earlier = self._earlier, None
            self._pipeline.ingest(earlier, self._infos)
        self._pipeline.ingest(stats, self._infos)

    def _make_probe(self) -> ForwardProbe:
        hooked = sorted(self.layers + find_frozen_layers(self.model), key=lambda layer: layer.index)
        return ForwardProbe(
            self.model,
            hooked,
            self.config.saturation_margin,
            self._on_pass_start,
            self._on_output,
            self._guard,
            wrapper=self._wrapper,
        )

    def _rebuild(self) -> None:
        """After surgery (a swapped activation, an inserted norm): find the layers again and hook them."""
        self._seen_compiled = self.compiled
        self._probe.remove()
        self.layers = find_layers(self.model)
        self._grad = GradientProbe(self.layers)
        self._probe = self._make_probe()
        self._infos_key = None

    def _final_nonfinite_check(self) -> None:
        """At close: trouble after the last sampled step still gets reported.

        A non-finite output is confirmed by a non-finite loss or by one look at the weights. Finite
        losses go to the detectors as they are (a blow-up that ended the run), and to the loss curve.
        """
        parts = self._sentinel.take()
        if parts:
            batch = HostBatch(self._grad.device)
            ticket = batch.add(parts)
            batch.transfer()
            interval = self._sentinel.read(batch.share(ticket))
        else:
            interval = self._sentinel.read(None)
        step = interval.first_nonfinite_step
        if step is None:
            if interval.losses:
                last = max(interval.losses)
                loss_only = StepStats(
                    step=last,
                    layers={},
                    global_grad_norm=float("nan"),
                    loss=interval.losses[last],
                    losses=interval.losses,
                    loss_only=True,
                )
                self._pipeline.conclude(loss_only, self._infos)
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
        weight_layers = [layer for layer in self.layers if layer.compares_by_depth and layer.name in order]
        output = max(weight_layers, key=lambda layer: order[layer.name]).name if weight_layers else ""
        self._infos = layer_table(self.model, self.layers, self._probe.sites, order, output)

    # --- fail-safe --------------------------------------------------------------------------------------
    def _guard(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        where = getattr(fn, "__qualname__", repr(fn)).replace(".<locals>", "")

        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> None:
            if self._disabled:
                return None
            try:
                fn(*args, **kwargs)
            except Exception as exc:
                self._fail(exc, where)
            return None

        return guarded

    def _shield(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Like ``_guard``, but the wrapped hook keeps running after the monitor stopped: the treatment's
        step gate, whose clipping and learning-rate scale stay in force (and whose scale is undone after
        every step) rather than change the run halfway."""
        where = getattr(fn, "__qualname__", repr(fn))

        @functools.wraps(fn)
        def shielded(*args: Any, **kwargs: Any) -> None:
            try:
                fn(*args, **kwargs)
            except Exception as exc:
                self._fail(exc, where)

        return shielded

    def _fail(self, exc: BaseException, where: str) -> None:
        """Switch the monitor off after an internal error: traceback once, a warning, an incident."""
        if self._disabled:
            return
        self._disabled = True
        eager_steps.release(self)
        try:
            if self._final is None and not self._closed:
                self._probe.remove()  # the per-step root hooks go; the step counter stays
                self._recurrence.remove()
                if self._loss_reader is not None:
                    self._loss_reader.close()
            finishing: int | None = getattr(self, "_finishing", None)
            step = self._step if finishing is None else finishing
            incident = stopped_incident(step, where, exc)
            self._incidents.append(incident)
            print_traceback(exc, where)
            warn_at_user(
                f"gradmedic stopped watching at step {step} after an internal error ({incident.error}); "
                "your training goes on unaffected, and the report records the incident. "
                "Please report this with the traceback above."
            )
            write = getattr(self.sinks, "write_incident", None)
            if write is not None:
                write(incident)
        except Exception:
            pass


class _NoClock:
    """The clock of a monitor that watches nothing: no hook, no step."""

    def pass_start(self) -> None:
        pass

    def close(self) -> None:
        pass


def _check_loss(loss: Any) -> None:
    if isinstance(loss, torch.Tensor):
        if loss.numel() != 1:
            raise ValueError(
                f"observe_loss expects a scalar loss, got a tensor of shape {tuple(loss.shape)}; pass loss.mean()"
            )
        dtype = loss.dtype
        if dtype.is_complex or dtype is torch.bool:
            raise TypeError(f"observe_loss expects a real loss, got a {dtype} tensor; pass the real-valued loss")
        return
    if isinstance(loss, np.ndarray) and loss.size == 1 and loss.dtype.kind in "iuf":
        return
    if isinstance(loss, bool) or not isinstance(loss, numbers.Real):
        raise TypeError(
            f"observe_loss expects the loss as a one-element tensor or a real number, got {type(loss).__name__}; "
            "pass the loss you call backward() on"
        )


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


def _close_at_exit(ref: weakref.ref[Monitor]) -> None:
    monitor = ref()
    if monitor is not None:
        with contextlib.suppress(Exception):  # close() never raises; this keeps interpreter exit quiet if it did
            monitor.close()


def watch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | Sequence[torch.optim.Optimizer] | None = None,
    *,
    logdir: str | Path | None = None,
    every: int | None = None,
    config: Config | None = None,
    console: bool = True,
    sinks: Iterable[Sink] = (),
    treat: bool | Mapping[str, Sequence[Cure]] = False,
    detectors: Iterable[FailureKind] | None = None,
) -> Monitor:
    """Watch ``model`` trained by ``optimizer``; returns a Monitor (a context manager).

    Wrong arguments raise ``TypeError`` / ``ValueError`` here, before anything is attached: ``model``
    an ``nn.Module`` with trainable parameters, ``optimizer`` one (or a list) that updates some of them,
    ``every`` a whole number >= 1, ``config`` a ``gradmedic.Config``, ``logdir`` a non-empty path to a
    folder that exists or can be created and can be written to. A model already watched raises
    ``RuntimeError``.

    Without an optimizer (weights updated by hand), each backward pass that reaches the model's
    parameters is a step, and the update is read from the weights at the next forward pass.

    The loss is read where the loop calls ``backward()`` on a scalar whose backward pass goes through the
    model, unless the loop hands it over with ``monitor.observe_loss(loss)``, which wins.

    ``every`` sets how often full statistics are gathered (default 10, after dense sampling of the
    first steps); ``logdir`` writes TensorBoard event files and the JSONL log there. ``treat=True``
    applies remedies in flight (clipping, a lower learning rate, reviving dead units, module surgery,
    rollback) and records each one in the report's ``treatments``; ``treat={family: [cures]}`` treats with
    your plans in place of the built-in plan of each family named (docs/extending.md).

    ``sinks`` adds your own sinks (``gradmedic.Sink`` subclasses) to the default ones. ``detectors`` limits
    the failure kinds watched for, or adds your own (``gradmedic.FailureKind``); by default every kind
    registered (``gradmedic.register_kind``) is watched for.
    """
    return Monitor(
        model,
        optimizer,
        logdir=logdir,
        every=every,
        config=config,
        console=console,
        sinks=sinks,
        treat=treat,
        detectors=detectors,
    )
