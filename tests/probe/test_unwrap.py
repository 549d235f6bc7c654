"""watch() on wrapped optimizers and compiled models: the inner objects are hooked; the rest is refused clearly."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import gradmedic
from gradmedic.probe.unwrap import unwrap, unwrap_model, unwrap_optimizer

from ..models import fit, relu_mlp


class HalfInitialisedWrapper(torch.optim.Optimizer):
    """Subclasses Optimizer without calling its __init__ (as accelerate's AcceleratedOptimizer does)."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer

    @property
    def param_groups(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return self.optimizer.param_groups

    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        return self.optimizer.step(closure)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none)


class PlainWrapper:
    """Holds the optimizer in .optimizer, as Lightning's LightningOptimizer does."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer

    def step(self, closure: Any = None) -> Any:
        return self.optimizer.step(closure)

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()


def test_wrapped_optimizers_are_unwrapped_to_the_torch_optimizer() -> None:
    opt = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    assert unwrap_optimizer(HalfInitialisedWrapper(opt)) is opt
    assert unwrap_optimizer(PlainWrapper(PlainWrapper(opt))) is opt
    assert unwrap_optimizer(opt) is opt


def test_a_half_initialised_optimizer_without_an_inner_one_says_what_to_pass() -> None:
    class Broken(torch.optim.Optimizer):
        def __init__(self) -> None:
            pass

    with pytest.raises(TypeError, match="pass the torch optimizer it wraps"):
        unwrap_optimizer(Broken())


def test_a_scheduler_is_not_taken_for_an_optimizer() -> None:
    model = nn.Linear(2, 2)
    sched = torch.optim.lr_scheduler.StepLR(torch.optim.SGD(model.parameters(), lr=0.1), 1)
    assert unwrap_optimizer(sched) is sched
    with pytest.raises(TypeError, match="scheduler.optimizer"):
        gradmedic.watch(model, sched)  # type: ignore[arg-type]


@pytest.mark.slow
def test_a_compiled_model_is_unwrapped_without_compiling() -> None:
    model = nn.Linear(2, 2)
    compiled = torch.compile(model)  # wrapping only: nothing is compiled until it is called
    assert unwrap_model(compiled) is model


def test_a_model_that_is_not_a_module_says_what_to_pass() -> None:
    with pytest.raises(TypeError, match="torch.nn.Module"):
        unwrap_model(lambda x: x)


def test_lists_of_wrapped_optimizers_are_unwrapped_each() -> None:
    a = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    b = torch.optim.Adam(nn.Linear(2, 2).parameters(), lr=0.1)
    model, opts = unwrap(nn.Linear(2, 2), (PlainWrapper(a), HalfInitialisedWrapper(b)))
    assert isinstance(model, nn.Linear) and opts == [a, b]


def test_watch_through_a_half_initialised_wrapper_counts_every_step() -> None:
    model = relu_mlp()
    inner = torch.optim.Adam(model.parameters(), 1e-3)
    wrapped = HalfInitialisedWrapper(inner)
    with gradmedic.watch(model, wrapped, console=False) as monitor:
        fit(model, wrapped, 25, monitor)
    report = monitor.close()
    assert report.steps == 25
    assert [layer.name for layer in report.layers] == ["0", "2", "4"]
    assert report.healthy


@pytest.mark.slow
def test_a_compiled_model_trains_watched_under_its_own_layer_names() -> None:
    torch.manual_seed(0)
    model = relu_mlp()
    compiled = torch.compile(model, backend="eager")  # dynamo without code generation: fast on CPU
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    with gradmedic.watch(compiled, opt, console=False) as monitor:
        fit(compiled, opt, 25, monitor)
    report = monitor.close()
    assert report.steps == 25
    assert [layer.name for layer in report.layers] == ["0", "2", "4"]  # not "_orig_mod.0", ...
    assert [layer.units for layer in report.layers[:2]] == [64, 64]  # the activations were measured too
    assert report.healthy
