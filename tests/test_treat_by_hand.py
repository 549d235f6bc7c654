"""Treatment for loops that update the weights by hand (no optimizer): ``watch(model, treat=True)``.

The gate acts at the end of each backward pass, before the script's own update reads the gradients: a
dropped step's gradients are zeroed, clipping and a lower learning rate scale them. Both hand-update
styles of the tutorials are covered: ``p.data.add_(p.grad, alpha=-lr)`` and ``p -= lr * p.grad`` under
``torch.no_grad()``.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradmedic
from gradmedic.demo import data
from gradmedic.demo.scenarios import RNN_LENGTH, ReluRNN, mlp

STYLES = ["data_add", "no_grad_sub"]


def _update(model: nn.Module, lr: float, style: str) -> None:
    if style == "data_add":
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
    else:
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad


def _digits(
    lr: float, style: str, treat: bool | None, steps: int = 150
) -> tuple[float, list[float], gradmedic.Report | None]:
    """A ReLU MLP on the digits, SGD by hand; ``treat`` None runs it unwatched. (accuracy, losses, report)."""
    torch.manual_seed(0)
    model = mlp([64, 128, 128, 10], nn.ReLU)
    x, y = data.digits()
    monitor = gradmedic.watch(model, console=False, treat=treat) if treat is not None else None
    losses = []
    for xb, yb in data.batches(x, y, 64, steps, 0):
        model.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        _update(model, lr, style)
        if monitor is not None:
            monitor.observe_loss(loss)
        losses.append(loss.item())
    report = monitor.close() if monitor is not None else None
    with torch.no_grad():
        accuracy = float((model(x).argmax(1) == y).float().mean())
    return accuracy, losses, report


@pytest.mark.parametrize("style", STYLES)
def test_too_high_lr_by_hand_is_treated_close_to_its_twin(style: str) -> None:
    untreated, _, _ = _digits(3.0, style, None)
    treated, _, report = _digits(3.0, style, True)
    twin, _, _ = _digits(0.3, style, None)
    assert untreated < 0.3 < twin - 0.3, (untreated, twin)  # the untreated run is a failure, the twin is not
    assert report is not None and report.treatments
    assert treated >= twin - 0.1, (treated, twin, report.to_dict()["treatments"])
    assert all(t.action and t.reason and t.reverse for t in report.treatments)
    assert not any(t.outcome.startswith("stuck") for t in report.treatments)


@pytest.mark.parametrize("style", STYLES)
def test_a_healthy_hand_loop_is_untouched(style: str) -> None:
    _, plain, _ = _digits(0.3, style, None, steps=40)
    _, watched, _ = _digits(0.3, style, False, steps=40)
    _, treated, report = _digits(0.3, style, True, steps=40)
    assert plain == watched == treated  # bitwise
    assert report is not None and not report.treatments and report.healthy


@pytest.mark.parametrize("style", STYLES)
def test_a_nonfinite_step_by_hand_moves_nothing_and_the_script_reads_a_gradient(style: str) -> None:
    torch.manual_seed(0)
    model = mlp([64, 32, 10], nn.ReLU)
    x, y = data.digits()
    monitor = gradmedic.watch(model, console=False, treat=True)
    for step, (xb, yb) in enumerate(data.batches(x, y, 64, 30, 0)):
        model.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        if step in (12, 13):
            loss = loss * float("nan")  # a poisoned batch
        loss.backward()
        before = [p.detach().clone() for p in model.parameters()]
        _update(model, 0.1, style)  # p.grad is still a tensor: the script's own update does not crash
        if step in (12, 13):
            assert all(torch.equal(a, p) for a, p in zip(before, model.parameters())), "a NaN step moved the weights"
        monitor.observe_loss(loss)
    report = monitor.close()
    assert all(torch.isfinite(p).all() for p in model.parameters())
    skips = [t for t in report.treatments if t.remedy == "skip_nonfinite_step"]
    assert len(skips) == 1 and skips[0].step == 12 and skips[0].after["steps_dropped"] == 2
    assert "by hand" in skips[0].action


def _relu_rnn(radius: float, treat: bool | None) -> tuple[float, gradmedic.Report | None]:
    torch.manual_seed(0)
    model = ReluRNN(radius)
    x, y = data.sequences(length=RNN_LENGTH, seed=0)
    monitor = gradmedic.watch(model, console=False, treat=treat) if treat is not None else None
    for xb, yb in data.batches(x, y, 32, 60, 0):
        model.zero_grad()
        loss = F.mse_loss(model(xb), yb)
        loss.backward()
        _update(model, 0.01, "no_grad_sub")
        if monitor is not None:
            monitor.observe_loss(loss)
    report = monitor.close() if monitor is not None else None
    with torch.no_grad():
        return float(F.mse_loss(model(x), y)), report


@pytest.mark.slow
def test_gradients_overflowing_through_time_by_hand_are_treated_like_with_an_optimizer() -> None:
    untreated, _ = _relu_rnn(1.05, None)
    treated, report = _relu_rnn(1.05, True)
    twin, _ = _relu_rnn(0.9, None)
    assert not math.isfinite(untreated)
    assert report is not None
    assert [t.remedy for t in report.treatments] == ["skip_nonfinite_step", "rescale_recurrent"]
    assert math.isfinite(treated) and treated <= 2 * twin, (treated, twin)
