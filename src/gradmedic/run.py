"""Zero-code runner: run an unmodified training script as ``python SCRIPT ARGS`` would, and watch it.

Attachment goes through torch's global optimizer-step hook. The first time an optimizer steps, the
runner finds the model it trains (the smallest module holding every parameter it updates; several
top-level modules when no single one does) and attaches a Monitor to each; a model already watched
(by a second optimizer that steps it, or by the script's own ``gradmedic.watch``) gets no second one.
The loss is read where the script calls ``backward()`` on a scalar (probe/backward_taps.py: the one
wrapper of ``torch.autograd.backward``, shared with the monitors of the script's own ``gradmedic.watch``),
and handed to the optimizer that steps next; its monitors do not read it again.

The report is written whatever ends the script (run_signals.py says how signals are met), and the
process then ends as ``python SCRIPT`` would have: its exit code, its traceback, or death by the signal.

A script that updates its weights by hand never steps an optimizer: when a second backward pass comes
with no optimizer step since the first, the model is found from the parameters the backward graph
reaches, and its Monitor counts backward passes (the first one's loss included). An optimizer that
steps later takes over that Monitor's clock.
"""

from __future__ import annotations

import builtins
import gc
import math
import os
import signal
import sys
import tempfile
import traceback
import types
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

from . import option_checks
from .config import Config, check_config, check_every
from .distributed import FSDP_UNSUPPORTED, is_writer
from .faults import one_line
from .monitor import COMPILED_STEP, Monitor, monitor_of
from .probe import backward_taps
from .probe.backward_taps import BackwardCall
from .probe.gradients import grad_norms
from .probe.graph import graph_leaves, graph_parameters
from .probe.probe_hook import ProbeHook
from .records import Incident, Report
from .report_merge import merge_reports, write_report_json
from .run_signals import Deferred, Stopped, defer_signals, stop_signals_raise
from .unwatched import nothing_watched_reason


@dataclass
class RunOptions:
    json_path: str | None = None
    logdir: str | None = None
    every: int | None = None
    quiet: bool = False
    config: Config | None = None
    treat: bool = False
    html_path: str | None = None  # the HTML report, built from the JSONL log once the script ends


T = TypeVar("T")

WRAPPERS = {"DistributedDataParallel", "DataParallel", "FullyShardedDataParallel", "OptimizedModule"}


def live_instances(cls: type[T]) -> list[T]:
    """Every live object of class ``cls``, from the garbage collector's list.

    ``isinstance`` wakes deprecated lazy attributes of some modules (warnings, silenced here) and raises
    ``ReferenceError`` on a ``weakref.proxy`` whose object is gone (skipped).
    """
    found: list[T] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for obj in gc.get_objects():
            try:
                if isinstance(obj, cls):
                    found.append(obj)
            except ReferenceError:
                continue
    return found


def find_trained_models(optimizer: torch.optim.Optimizer) -> list[nn.Module]:
    """The modules an optimizer trains: the smallest module holding all its parameters, or else the
    top-level modules that hold some of them."""
    return find_models_holding({id(p) for group in optimizer.param_groups for p in group["params"]})


def find_models_holding(wanted: set[int]) -> list[nn.Module]:
    """The modules holding the parameters whose ids are ``wanted``: the smallest module holding all of
    them, or else the top-level modules that hold some of them."""
    if not wanted:
        return []
    modules = live_instances(nn.Module)
    holders = []
    for module in modules:
        owned = {id(p) for p in module.parameters()}
        if owned & wanted:
            holders.append((module, owned))
    # the smallest holder; on a tie (a class wrapping one Sequential), the user's own outer class,
    # but never a parallel or compile wrapper
    covering = [
        (len(owned), type(m).__name__ in WRAPPERS, -sum(1 for _ in m.modules()), i, m)
        for i, (m, owned) in enumerate(holders)
        if wanted <= owned
    ]
    if covering:
        return [min(covering, key=lambda c: c[:4])[4]]
    children = {id(c) for m, _ in holders for c in m.modules() if c is not m}
    return [m for m, _ in holders if id(m) not in children]


def compile_wrapper_of(model: nn.Module) -> nn.Module | None:
    """The live ``torch.compile`` wrapper of ``model``, if the script made one (any one, if it made several)."""
    if "torch._dynamo" not in sys.modules:  # nothing was compiled
        return None
    wrappers = [m for m in live_instances(nn.Module) if type(m).__name__ == "OptimizedModule"]
    held = [m for m in wrappers if getattr(m, "_orig_mod", None) is model]
    return held[-1] if held else None


def _contains(outer: nn.Module, inner: nn.Module) -> bool:
    return any(m is inner for m in outer.modules())


def _steps_part_of(model: nn.Module, optimizer: torch.optim.Optimizer) -> bool:
    owned = {id(p) for p in model.parameters()}
    return all(id(p) in owned for group in optimizer.param_groups for p in group["params"])


def live_optimizers() -> list[torch.optim.Optimizer]:
    """Every optimizer the script has made so far (found once, when the first one steps)."""
    return live_instances(torch.optim.Optimizer)


_NOT_WATCHING: Any = object()  # in ScriptWatcher._by_hand: hand-updated training was looked for, none found


def _label(model: nn.Module, taken: set[str]) -> str:
    base = type(model).__name__
    label, n = base, 2
    while label in taken:
        label, n = f"{base}{n}", n + 1
    return label


@dataclass
class Watched:
    label: str  # "" for the first model: its layers keep their plain names
    monitor: Monitor


@dataclass
class ScriptWatcher:
    """Attaches monitors to whatever the running script trains, through torch's global hooks."""

    options: RunOptions
    watched: list[Watched] = field(default_factory=list)
    _optimizers: dict[int, list[Monitor]] = field(default_factory=dict)
    _loss: torch.Tensor | None = None
    _undo: list[Callable[[], None]] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    _optimizer_seen: bool = False
    _backward_calls: int = 0
    _first_backward: tuple[set[int], torch.Tensor | None] | None = None  # its parameters and loss
    _first_leaves: dict[int, torch.Tensor] = field(default_factory=dict)  # until its gradients are read
    _first_grads: dict[int, float] = field(default_factory=dict)  # its gradient norms, by parameter id
    _loss_scaled: bool = False  # a GradScaler scaled a loss: the first pass's gradients are scaled too
    _by_hand: list[Monitor] = field(default_factory=list)  # monitors counting backward passes
    _step_hook: ProbeHook | None = None
    _keras: Any = None  # gradmedic.keras.zero_code.KerasAttach: watches Keras fit calls, imports nothing until then

    def install(self) -> None:
        self._step_hook = ProbeHook(self._on_step)  # inert in an optimizer step compiled with the script's code
        handle = register_optimizer_step_pre_hook(self._step_hook)
        self._undo.append(handle.remove)
        from .keras.zero_code import install as watch_keras

        self._keras = watch_keras(self.options, lambda: {w.label for w in self.watched})
        self._undo.append(backward_taps.listen(self))

    def before_backward(self, call: BackwardCall) -> None:
        """Every backward call of the script (Tensor.backward or torch.autograd.backward), before the pass."""
        if call.loss is not None:
            self._loss = call.loss
            self._loss_scaled = self._loss_scaled or call.scaled
        if not self._optimizer_seen and not self._by_hand:
            self._guarded(self._on_backward_by_hand, call.tensors)
        elif self._by_hand and self._loss is not None:
            loss, self._loss = self._loss, None
            for monitor in self._by_hand:
                if monitor is not _NOT_WATCHING:
                    monitor.observe_loss(loss)

    def after_backward(self, call: BackwardCall) -> None:
        if self._first_leaves:
            self._read_first_gradients()

    def _guarded(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:  # never break the user's script
            print(f"gradmedic: could not watch this backward pass ({exc}); training goes on", file=sys.stderr)
            self._by_hand.append(_NOT_WATCHING)

    def _on_backward_by_hand(self, tensors: Any) -> None:
        """Before any optimizer step: the first backward pass is remembered, the second attaches."""
        roots = [tensors] if isinstance(tensors, torch.Tensor) else list(tensors)
        self._backward_calls += 1
        if self._first_backward is None:  # its loss stays for an optimizer that may step next
            self._first_leaves = graph_leaves(roots)
            self._first_backward = (set(self._first_leaves), self._loss)
            return
        loss, self._loss = self._loss, None
        first_params, first_loss = self._first_backward
        params = graph_parameters(roots) | first_params
        monitors = self._attach_models(find_models_holding(params), None, start_step=1)
        first_grads, self._first_grads, self._first_leaves = self._first_grads, {}, {}
        for monitor in monitors:
            # a scaled or overflowed first pass is no calm reference (GradScaler skips such a step itself)
            if first_grads and not self._loss_scaled and all(math.isfinite(n) for n in first_grads.values()):
                monitor.observe_earlier_gradients(first_grads, 0)
            if first_loss is not None:
                monitor.observe_earlier_loss(first_loss, 0)
            if loss is not None:
                monitor.observe_loss(loss)
        self._by_hand += monitors or [_NOT_WATCHING]

    def _read_first_gradients(self) -> None:
        """The first backward pass's gradient norms, read once it is done: before the weights were first
        updated by hand, the calm reference of a run that blows up at once (handed over at attach)."""
        leaves, self._first_leaves = self._first_leaves, {}
        try:
            self._first_grads = grad_norms(list(leaves.values()))
        except Exception:  # without it the run is watched all the same, with one reference less
            self._first_grads = {}

    def _on_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self._optimizer_seen = True
        try:
            monitors = self._optimizers.get(id(optimizer))
            if monitors is None:
                monitors = self._optimizers[id(optimizer)] = self._take_over(optimizer) or self._attach(optimizer)
            loss, self._loss = self._loss, None
            if loss is not None:
                for monitor in monitors:
                    monitor.observe_loss(loss)
        except Exception as exc:  # never break the user's script
            print(f"gradmedic: could not watch {type(optimizer).__name__} ({exc}); training goes on", file=sys.stderr)
            self._optimizers[id(optimizer)] = []
            step = max((w.monitor.step for w in self.watched), default=-1)
            self.incidents.append(
                Incident(step, "runner", f"could not watch the model of a {type(optimizer).__name__}: {one_line(exc)}")
            )

    def _take_over(self, optimizer: torch.optim.Optimizer) -> list[Monitor]:
        """An optimizer that steps models already counted by backward passes takes over their clocks."""
        wanted = {id(p) for group in optimizer.param_groups for p in group["params"]}
        monitors = [
            m for m in self._by_hand if m is not _NOT_WATCHING and wanted & {id(p) for p in m.model.parameters()}
        ]
        for monitor in monitors:
            monitor.use_optimizer(optimizer)
            self._by_hand.remove(monitor)
        return monitors

    def _attach(self, optimizer: torch.optim.Optimizer) -> list[Monitor]:
        # One model is one monitor: an optimizer that steps part of a watched model joins its monitor
        # (its steps hand over no loss: the clock optimizer's do).
        for w in self.watched:
            if _steps_part_of(w.monitor.model, optimizer):
                w.monitor.add_optimizer(optimizer)
                return []
        monitors = []
        for found in find_trained_models(optimizer):
            model, partners = self._group(found, optimizer)
            made = self._attach_models([model], [optimizer, *partners])
            monitors += made
            for partner in partners if made else ():
                self._optimizers[id(partner)] = []
        return monitors

    def _group(
        self, model: nn.Module, optimizer: torch.optim.Optimizer
    ) -> tuple[nn.Module, list[torch.optim.Optimizer]]:
        """The other live optimizers that train a part of ``model`` or a module holding it (a whole
        Sequential and its head), and the largest of their models, to be watched as one."""
        partners = []
        for other in live_optimizers():
            if other is optimizer or id(other) in self._optimizers:
                continue
            found = find_trained_models(other)
            if len(found) != 1:
                continue
            if _contains(model, found[0]):
                partners.append(other)
            elif _contains(found[0], model):
                partners.append(other)
                model = found[0]
        return model, partners

    def _attach_models(
        self, models: list[nn.Module], optimizer: list[torch.optim.Optimizer] | None, start_step: int = 0
    ) -> list[Monitor]:
        monitors = []
        for model in models:
            if not any(p.requires_grad for p in model.parameters()):
                continue
            existing = monitor_of(model)
            if existing is not None:  # one model, one monitor: a second optimizer of it adds none
                if all(w.monitor is not existing for w in self.watched):
                    print(f"gradmedic: {type(model).__name__} is watched by the script's own monitor", file=sys.stderr)
                continue
            if any(model is m for w in self.watched for m in w.monitor.model.modules()):
                continue  # part of a watched model (a head with its own optimizer): its layers are watched
            taken = {w.label for w in self.watched}
            label = "" if not self.watched else _label(model, taken | {""})
            logdir = self.options.logdir
            if logdir is not None and label:
                logdir = str(Path(logdir) / label)
            monitor = Monitor(
                compile_wrapper_of(model) or model,  # its hooks see the compiled passes
                optimizer,
                logdir=logdir,
                every=self.options.every,
                config=self.options.config,
                console=not self.options.quiet,
                treat=self.options.treat,
                start_step=start_step,
                read_loss=False,  # the runner hands each step's loss over itself
            )
            self.watched.append(Watched(label, monitor))
            monitors.append(monitor)
        return monitors

    def finish(self, script_ran: bool = True) -> Report:
        """Close every monitor, undo the hooks, and write the merged report.

        ``script_ran`` is False when the script did not even compile: then no line says that nothing was
        watched (python's own error says it all), though the report still records it.
        """
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
        reports = [(w.label, w.monitor.close()) for w in self.watched]
        if self._keras is not None:
            reports += self._keras.finish()
        report = merge_reports(reports)
        if self.incidents:
            report = replace(report, incidents=(*report.incidents, *self.incidents))
        if report.steps == 0 and not any(i.error == FSDP_UNSUPPORTED for i in report.incidents):
            reason = nothing_watched_reason(self._backward_calls, bool(self.watched), sys.modules)
            if self._step_hook is not None and self._step_hook.compiled:
                reason = COMPILED_STEP
            report = replace(report, incidents=(*report.incidents, Incident(step=-1, component="runner", error=reason)))
            if script_ran and not self.options.quiet and is_writer():
                print(f"gradmedic: no training step was watched: {reason}", file=sys.stderr)
        if self.options.json_path and is_writer():  # under torchrun, rank 0 writes the one report
            models = [
                {"label": w.label, "type": type(w.monitor.model).__name__, "steps": r.steps}
                for w, (_, r) in zip(self.watched, reports)
            ]
            write_report_json(self.options.json_path, report, models)
        return report


def exec_script(path: str, args: list[str]) -> None:
    """Run a script as ``python path args`` would: its own ``__main__``, ``sys.argv`` and ``sys.path[0]``."""
    full = os.path.abspath(path)
    if not os.path.isfile(full):
        raise FileNotFoundError(f"gradmedic run: no such script: {path}")
    code = compile(Path(full).read_bytes(), full, "exec")
    main = types.ModuleType("__main__")
    main.__dict__.update({"__file__": full, "__builtins__": builtins, "__cached__": None})
    saved = sys.modules["__main__"], sys.argv, list(sys.path)
    sys.modules["__main__"] = main
    sys.argv = [path, *args]
    sys.path.insert(0, os.path.dirname(full))
    try:
        exec(code, main.__dict__)
    finally:
        sys.modules["__main__"], sys.argv = saved[0], saved[1]
        sys.path[:] = saved[2]


def check_options(options: RunOptions) -> str | None:
    """What is wrong with the options, in one line, or None: checked before the script starts."""
    try:
        option_checks.check_logdir(options.logdir, "--logdir")
        option_checks.check_output_file(options.json_path, "--json")
        option_checks.check_output_file(options.html_path, "--html")
        check_every(options.every, "--every")
        check_config(options.config)
    except (TypeError, ValueError) as exc:
        return str(exc)
    return None


def run(script: str, args: list[str], options: RunOptions) -> int:
    """Run ``script`` under gradmedic; returns the exit code ``python script`` would have had, or ``-N``
    when python would have died by signal N (Ctrl-C, SIGTERM, SIGHUP): the caller ends the process so.

    The report is written whatever happens: a normal end, ``sys.exit``, an exception, Ctrl-C, SIGTERM
    or SIGHUP.
    """
    if not os.path.isfile(script):
        print(f"gradmedic run: no such script: {script}", file=sys.stderr)
        return 2
    problem = check_options(options)
    if problem is not None:
        print(f"gradmedic run: {problem}", file=sys.stderr)
        return 2
    if options.html_path and not options.logdir and is_writer():  # the other ranks of a torchrun write nothing
        options = replace(options, logdir=tempfile.mkdtemp(prefix="gradmedic-"))
    watcher = ScriptWatcher(options)
    watcher.install()
    ended: BaseException | None = None
    deferred: Deferred | None = None
    try:
        try:
            with stop_signals_raise():
                exec_script(script, args)
        finally:  # at once: a second Ctrl-C right after the first must not break off what follows
            deferred = defer_signals()
    except BaseException as exc:  # whatever ended the script, the record is written next
        ended = exc
    return _write_record(watcher, options, script, ended, deferred)


def _ending(script: str, ended: BaseException | None) -> int:
    """Say how the script ended, as python would; the exit code, or -N for death by signal N."""
    if ended is None:
        return 0
    if isinstance(ended, SystemExit):
        return _exit_code(ended)
    if isinstance(ended, Stopped):
        print(f"gradmedic: {ended}; writing the report", file=sys.stderr)
        return -ended.signum
    _print_script_traceback(script, ended)
    return -signal.SIGINT if isinstance(ended, KeyboardInterrupt) else 1


def _write_record(
    watcher: ScriptWatcher, options: RunOptions, script: str, ended: BaseException | None, deferred: Deferred | None
) -> int:
    """Report the script's end, close the monitors and write the report, with signals deferred throughout
    (``deferred``: since the script ended; None when a signal came before they could be)."""
    code = -signal.SIGINT if isinstance(ended, KeyboardInterrupt) else 1
    if deferred is None:
        deferred = defer_signals()
    try:
        try:
            code = _ending(script, ended)
            compiled = not (isinstance(ended, SyntaxError) and ended.filename == os.path.abspath(script))
            try:
                watcher.finish(script_ran=compiled)
            except Exception as exc:
                print(f"gradmedic: could not write the report ({type(exc).__name__}: {exc})", file=sys.stderr)
            if options.html_path and is_writer():
                _write_html(options)
        finally:
            deferred.restore()
    except KeyboardInterrupt:
        print("gradmedic: report writing abandoned", file=sys.stderr)
        return code if code < 0 else -signal.SIGINT
    if deferred.signum is not None and code >= 0:
        return -deferred.signum
    return code


def _write_html(options: RunOptions) -> None:
    from .report import LogNotFoundError, build_report

    try:
        path = build_report(str(options.logdir), options.html_path)
    except LogNotFoundError:
        print("gradmedic: no HTML report: no model was trained (no optimizer step was seen)", file=sys.stderr)
    except Exception as exc:
        print(f"gradmedic: could not write the HTML report ({type(exc).__name__}: {exc})", file=sys.stderr)
    else:
        print(f"gradmedic: HTML report in {path} (log in {options.logdir})", file=sys.stderr)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _print_script_traceback(script: str, exc: BaseException | None = None) -> None:
    """Print ``exc`` (default: the one being handled) as python would, through ``sys.excepthook``,
    from the script's own frames. A script that does not compile has none: its SyntaxError is printed
    alone, as python prints it.
    """
    value = exc if exc is not None else sys.exc_info()[1]
    if value is None:
        return
    etype, tb = type(value), value.__traceback__
    full = os.path.abspath(script)
    start = tb
    while start is not None and start.tb_frame.f_code.co_filename != full:
        start = start.tb_next
    if start is None and not (isinstance(value, SyntaxError) and value.filename == full):
        start = tb
    value.__traceback__ = start  # python's display reads the traceback from the exception itself
    try:
        sys.excepthook(etype, value, start)
    except Exception:  # a broken custom hook: python falls back to its own display too
        traceback.print_exception(etype, value, start)
