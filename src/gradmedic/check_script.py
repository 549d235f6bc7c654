"""``gradmedic check SCRIPT [ARGS...]``: run a training script up to its first optimizer step, stop it there,
and print the checkup of the model and the batch it was about to train on.

How: torch's global module hooks note every top-level module call (one made from outside any other module's
forward) with its arguments, and the gradient that reaches its output when the script calls backward().
The global optimizer-step pre-hook stops the script at its first step, before any weight moves, by raising
a private BaseException (an ``except Exception`` in the script cannot swallow it). The optimizer names the
trained model (run.find_trained_models); the checkup replays that model's last training call and
backpropagates the script's own loss gradient at the output.

A script that updates its weights by hand has no optimizer step to stop at. Its first backward pass that
reaches the parameters of a module, when no optimizer holds any of them, is its first step: the script is
stopped as that backward pass ends (gradients computed, no weight moved yet), and the model is the smallest
module holding the parameters the pass reached (run.find_models_holding), as ``gradmedic run`` finds it.

Exit codes: 0 healthy (nothing above info), 1 a warning or an error was found, 2 no checkup could be made;
a Ctrl-C before the first step ends the process by SIGINT, as python would (``check`` returns -2).
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.optim.optimizer import register_optimizer_step_pre_hook

from .preflight.batch import pick_output
from .preflight.core import run_checkup
from .preflight.show import default_console, print_report
from .probe.graph import graph_parameters
from .records import CheckupReport
from .report_merge import merge_reports, write_report_json
from .run import _print_script_traceback, exec_script, find_models_holding, find_trained_models, live_optimizers

HEALTHY, PROBLEMS, NOT_CHECKED = 0, 1, 2


@dataclass
class CheckOptions:
    json_path: str | None = None
    quiet: bool = False


class _FirstBackward(BaseException):
    """Raised as a backward pass ends that trains modules no optimizer holds: the first step of a
    hand-updated script, stopped before its update."""

    def __init__(self, models: list[nn.Module]) -> None:
        super().__init__("gradmedic check stops the script at the end of its first backward pass")
        self.models = models


class _FirstStep(BaseException):
    """Raised by the optimizer-step pre-hook: the script stops before its first step."""

    def __init__(self, optimizer: torch.optim.Optimizer, closure: Callable[[], Any] | None) -> None:
        super().__init__("gradmedic check stops the script at its first optimizer step")
        self.optimizer = optimizer
        self.closure = closure


@dataclass
class ModuleCall:
    """One top-level call of a module: what it was given, and the gradient its output received."""

    module: nn.Module
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    seq: int
    output_grad: torch.Tensor | None = None


@dataclass
class CallRecorder:
    """Notes the latest top-level call of every module, and stops the script at the first optimizer step."""

    calls: dict[int, ModuleCall] = field(default_factory=dict)  # by id(module); training calls only
    _depth: int = 0
    _seq: Any = field(default_factory=itertools.count)
    _forward: list[Any] = field(default_factory=list)
    _step: list[Any] = field(default_factory=list)
    _backward: Callable[..., Any] | None = None  # torch.autograd.backward as it was, while patched
    _by_hand_decided: bool = False  # a backward pass reaching module parameters was judged

    def install(self) -> None:
        self._forward = [
            register_module_forward_pre_hook(self._pre),
            register_module_forward_hook(self._post, with_kwargs=True, always_call=True),
        ]
        self._step = [register_optimizer_step_pre_hook(self._on_step)]
        self._backward = torch.autograd.backward
        torch.autograd.backward = self._wrap_backward(self._backward)

    def remove_step_hook(self) -> None:
        for handle in self._step:
            handle.remove()
        self._step.clear()
        self._by_hand_decided = True  # stopped: no backward pass stops anything any more

    def remove(self) -> None:
        self.remove_step_hook()
        for handle in self._forward:
            handle.remove()
        self._forward.clear()
        if self._backward is not None:
            torch.autograd.backward = self._backward
            self._backward = None

    def _wrap_backward(self, original: Callable[..., Any]) -> Callable[..., Any]:
        recorder = self

        def backward(tensors: Any, *args: Any, **kwargs: Any) -> Any:
            if recorder._by_hand_decided:
                return original(tensors, *args, **kwargs)
            roots = [tensors] if isinstance(tensors, torch.Tensor) else list(tensors)
            params = graph_parameters(roots)  # walked before the pass frees the graph
            result = original(tensors, *args, **kwargs)
            models = recorder._trained_by_hand(params)
            if models:
                raise _FirstBackward(models)
            return result

        return backward

    def _trained_by_hand(self, params: set[int]) -> list[nn.Module]:
        """The modules a backward pass trained, when no optimizer holds any of their parameters (decided
        once, at the first pass that reaches module parameters)."""
        if not params:
            return []
        models = find_models_holding(params)
        if not models:
            return []  # tensors outside any module: maybe a later pass trains a model
        self._by_hand_decided = True
        held = {id(p) for optimizer in live_optimizers() for group in optimizer.param_groups for p in group["params"]}
        return [] if held & params else models

    def _pre(self, module: nn.Module, args: Any) -> None:
        self._depth += 1

    def _post(self, module: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
        self._depth = max(self._depth - 1, 0)
        if self._depth or not torch.is_grad_enabled():  # nested calls and evaluation passes are not replayed
            return
        call = ModuleCall(module, tuple(args), dict(kwargs or {}), next(self._seq))
        self.calls[id(module)] = call
        first = _first_float(output)
        if first is not None and first.requires_grad:
            first.register_hook(partial(_keep_grad, call))

    def _on_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        # torch hands the hook the step's own arguments, the optimizer first: step(closure) has one more
        given = [a for a in args if a is not optimizer] + list((kwargs or {}).values())
        raise _FirstStep(optimizer, next((a for a in given if callable(a)), None))

    def call_for(self, model: nn.Module) -> ModuleCall | None:
        """The model's own latest training call, or else the latest of a top-level module that contains it."""
        own = self.calls.get(id(model))
        if own is not None and own.module is model:
            return own
        containing = [c for c in self.calls.values() if any(m is model for m in c.module.modules())]
        return max(containing, key=lambda c: c.seq) if containing else None


def _first_float(output: Any) -> torch.Tensor | None:
    try:
        return pick_output(output)
    except TypeError:
        return None


def _keep_grad(call: ModuleCall, grad: torch.Tensor) -> None:
    call.output_grad = grad.detach()


def _script_loss(grad: torch.Tensor) -> Callable[[Any], torch.Tensor]:
    """The loss whose gradient at the output is the one the script's own loss produced."""

    def loss(output: Any) -> torch.Tensor:
        out = pick_output(output)
        if out.shape != grad.shape:
            raise ValueError(f"the replayed output has shape {list(out.shape)}, the script's {list(grad.shape)}")
        return (out.float() * grad.to(out.device, torch.float32)).sum()

    return loss


def check(script: str, args: list[str], options: CheckOptions) -> int:
    """Run ``script`` up to its first optimizer step (or, without an optimizer, the end of its first backward
    pass) and check the model it trains; returns the exit code."""
    if not os.path.isfile(script):
        print(f"gradmedic check: no such script: {script}", file=sys.stderr)
        return NOT_CHECKED
    recorder = CallRecorder()
    recorder.install()
    try:
        stop = _run_until_first_step(script, args, recorder)
    finally:
        recorder.remove()
    if isinstance(stop, int):
        return stop
    if isinstance(stop, _FirstBackward):
        return _check_models(script, recorder, stop.models, "the first backward pass", options)
    trainer = f"the first optimizer to step ({type(stop.optimizer).__name__})"
    return _check_models(script, recorder, find_trained_models(stop.optimizer), trainer, options)


def _run_until_first_step(script: str, args: list[str], recorder: CallRecorder) -> _FirstStep | _FirstBackward | int:
    try:
        exec_script(script, args)
    except _FirstStep as stop:
        recorder.remove_step_hook()
        if stop.closure is not None and not _trained_calls(recorder, find_trained_models(stop.optimizer)):
            with torch.enable_grad():
                stop.closure()  # optimizer.step(closure): the forward pass runs inside the closure
        return stop
    except _FirstBackward as stop:
        recorder.remove_step_hook()
        return stop
    except SystemExit:
        pass
    except KeyboardInterrupt:
        _print_script_traceback(script)
        return -signal.SIGINT  # the caller dies by SIGINT, as python does
    except BaseException:
        _print_script_traceback(script)
        print(f"gradmedic check: {script} failed before its first optimizer step", file=sys.stderr)
        return NOT_CHECKED
    print(
        f"gradmedic check: {script} ended without an optimizer step or a backward pass through a module's "
        "parameters, so there is no model and batch to check; "
        "call gradmedic.checkup(model, inputs) in the script instead",
        file=sys.stderr,
    )
    return NOT_CHECKED


def _trained_calls(recorder: CallRecorder, models: list[nn.Module]) -> list[tuple[nn.Module, ModuleCall]]:
    found: list[tuple[nn.Module, ModuleCall]] = []
    for model in models:
        call = recorder.call_for(model)
        if call is not None and all(call.module is not m for m, _ in found):
            found.append((call.module, call))
    return found


def _check_models(
    script: str, recorder: CallRecorder, models: list[nn.Module], trainer: str, options: CheckOptions
) -> int:
    """Check each of ``models`` (what ``trainer`` trains) on its latest training call."""
    calls = _trained_calls(recorder, models)
    if not calls:
        names = ", ".join(type(m).__name__ for m in models) or "no parameters"
        print(
            f"gradmedic check: {trainer} trains {names}, which the script never called as one module with "
            "gradients on; call gradmedic.checkup(model, inputs, loss_fn=...) in the script instead",
            file=sys.stderr,
        )
        return NOT_CHECKED
    reports: list[tuple[str, CheckupReport]] = []
    for i, (model, call) in enumerate(calls):
        grad = call.output_grad
        try:
            report = run_checkup(
                model,
                (call.args, call.kwargs),
                loss_fn=_script_loss(grad) if grad is not None else None,
                loss_name="script_gradient" if grad is not None else None,
            )
        except (ValueError, TypeError) as exc:
            print(f"gradmedic check: could not check {type(model).__name__}: {exc}", file=sys.stderr)
            return NOT_CHECKED
        reports.append(("" if i == 0 else type(model).__name__, report))
    if not options.quiet:
        console = default_console()
        for label, report in reports:
            print_report(report, console, title=f"gradmedic check {Path(script).name} {label}".rstrip())
    merged = _merge(reports)
    if options.json_path:
        entries = [{"label": label, "type": type(m).__name__} for (label, _), (m, _) in zip(reports, calls)]
        write_report_json(options.json_path, merged, entries)
    return HEALTHY if merged.healthy else PROBLEMS


def _merge(reports: list[tuple[str, CheckupReport]]) -> CheckupReport:
    """One report for several checked models; every model's names but the first's get ``label/``."""
    if len(reports) == 1:
        return reports[0][1]
    merged = merge_reports(reports)
    checkup = [
        replace(layer, name=f"{label}/{layer.name}" if label else layer.name)
        for label, r in reports
        for layer in r.checkup
    ]
    first = reports[0][1]
    return CheckupReport(
        steps=0,
        layers=merged.layers,
        diagnoses=merged.diagnoses,
        checkup=checkup,
        batch_size=first.batch_size,
        loss=first.loss,
    )
