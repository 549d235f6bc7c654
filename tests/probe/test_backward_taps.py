"""The one wrapper of torch.autograd.backward: installed while anything listens, shared, and taken off cleanly."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import gradmedic
from gradmedic.probe import backward_taps
from gradmedic.probe.backward_taps import BackwardCall
from gradmedic.run import RunOptions, ScriptWatcher


class Recorder:
    def __init__(self) -> None:
        self.losses: list[float | None] = []

    def before_backward(self, call: BackwardCall) -> None:
        pass

    def after_backward(self, call: BackwardCall) -> None:
        self.losses.append(None if call.loss is None else float(call.loss.detach()))


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))


def test_listeners_leaving_in_any_order_restore_backward() -> None:
    original, original_scale = torch.autograd.backward, torch.amp.GradScaler.scale
    a, b = Recorder(), Recorder()
    stop_a = backward_taps.listen(a)
    wrapped = torch.autograd.backward
    stop_b = backward_taps.listen(b)
    assert torch.autograd.backward is wrapped is not original  # one wrapper, however many listen
    _model()(torch.ones(2, 4)).sum().backward()
    stop_a()
    stop_a()  # twice is harmless
    assert torch.autograd.backward is wrapped
    _model()(torch.ones(2, 4)).sum().backward()
    stop_b()
    assert torch.autograd.backward is original and torch.amp.GradScaler.scale is original_scale
    assert len(a.losses) == 1 and len(b.losses) == 2 and backward_taps.listening() == 0


def test_monitors_closed_out_of_order_leave_torch_as_it_was() -> None:
    original = torch.autograd.backward
    first, second, third = _model(), _model(), _model()
    monitors = [gradmedic.watch(m, console=False) for m in (first, second, third)]
    for i in (1, 0, 2):
        monitors[i].close()
        assert (torch.autograd.backward is original) == (i == 2)


def test_the_runner_and_a_monitor_share_the_wrapper_and_leave_in_either_order() -> None:
    original = torch.autograd.backward
    for runner_first in (True, False):
        watcher = ScriptWatcher(RunOptions(quiet=True))
        watcher.install()
        wrapped = torch.autograd.backward
        monitor = gradmedic.watch(_model(), console=False)
        assert torch.autograd.backward is wrapped and backward_taps.listening() == 2
        if runner_first:
            watcher.finish(script_ran=False)
            monitor.close()
        else:
            monitor.close()
            watcher.finish(script_ran=False)
        assert torch.autograd.backward is original and backward_taps.listening() == 0


def test_a_wrapper_put_over_ours_keeps_working_and_nothing_reports_twice() -> None:
    original = torch.autograd.backward
    seen: list[int] = []
    recorder = Recorder()
    stop = backward_taps.listen(recorder)
    ours = torch.autograd.backward

    def foreign(tensors: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(1)
        return ours(tensors, *args, **kwargs)

    torch.autograd.backward = foreign
    try:
        stop()  # ours is held by the foreign wrapper: it stays, passing calls through
        assert torch.autograd.backward is foreign
        _model()(torch.ones(2, 4)).sum().backward()
        again = Recorder()
        stop_again = backward_taps.listen(again)  # a fresh wrapper over the foreign one
        _model()(torch.ones(2, 4)).sum().backward()
        stop_again()
        assert torch.autograd.backward is foreign
    finally:
        torch.autograd.backward = original
    assert seen == [1, 1] and recorder.losses == [] and len(again.losses) == 1


def test_listeners_get_the_scalar_loss_only_and_a_broken_one_breaks_nothing(capsys: Any) -> None:
    recorder = Recorder()

    class Broken(Recorder):
        def before_backward(self, call: BackwardCall) -> None:
            raise ValueError("listener bug")

    stops = [backward_taps.listen(Broken()), backward_taps.listen(recorder)]
    try:
        model = _model()
        out = model(torch.ones(3, 4))
        out.backward(torch.ones_like(out))  # not a scalar: no loss
        loss = F.mse_loss(model(torch.ones(3, 4)), torch.zeros(3, 1))
        assert loss.backward() is None
        torch.autograd.backward([model(torch.ones(3, 4)).sum()])  # a list: no loss
    finally:
        for stop in stops:
            stop()
    assert recorder.losses == [None, loss.item(), None]
    assert "listener bug" in capsys.readouterr().err
