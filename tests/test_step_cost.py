"""What a step that is not sampled costs, counted in dispatched torch ops rather than in time.

An op is counted when it reaches the dispatcher; views and detach launch no kernel and are left out.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

import gradmedic

from .models import relu_mlp

FREE = {"detach", "alias", "view", "_unsafe_view", "t", "transpose", "expand", "slice", "select", "unsqueeze"}


class OpCounter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = func.overloadpacket.__name__
        if name not in FREE:
            self.ops.append(name)
        return func(*args, **(kwargs or {}))


def _ops_per_step(hand_over_loss: bool, watched: bool, scalar_loss: bool = True) -> list[str]:
    torch.manual_seed(0)
    model = relu_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(32, 64), torch.randint(0, 10, (32,))
    monitor = gradmedic.watch(model, opt, console=False) if watched else None

    def step() -> None:
        opt.zero_grad()
        if scalar_loss:
            loss = F.cross_entropy(model(x), y)
            loss.backward()
        else:  # backward() on per-example losses: no scalar loss to read
            losses = F.cross_entropy(model(x), y, reduction="none")
            losses.backward(torch.full_like(losses, 1 / len(losses)))
            loss = losses.mean()
        opt.step()
        if monitor is not None and hand_over_loss:
            monitor.observe_loss(loss)

    for _ in range(23):  # past the dense first 20 steps; the next is not a sampled step
        step()
    with OpCounter() as counter:
        step()
    if monitor is not None:
        assert not monitor.config.is_sampled(23)
        monitor.close()
    return counter.ops


def test_an_unsampled_step_costs_no_op_when_the_loss_is_handed_over() -> None:
    plain = _ops_per_step(hand_over_loss=True, watched=False)
    assert plain  # the counter sees the user's own ops
    assert _ops_per_step(hand_over_loss=True, watched=True) == plain


def test_an_unsampled_step_costs_no_op_when_the_loss_is_read_at_backward() -> None:
    # the script never hands the loss over: it is read where backward() is called on it
    assert _ops_per_step(hand_over_loss=False, watched=True) == _ops_per_step(hand_over_loss=False, watched=False)


def test_an_unsampled_step_costs_one_reduction_without_any_loss() -> None:
    plain = _ops_per_step(hand_over_loss=False, watched=False, scalar_loss=False)
    watched = _ops_per_step(hand_over_loss=False, watched=True, scalar_loss=False)
    extra = list(watched)
    for op in plain:
        extra.remove(op)
    assert extra == ["sum"]
