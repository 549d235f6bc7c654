"""Functional activations are intercepted on sampled training passes only, and attributed to their layer."""

from __future__ import annotations

from typing import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import _get_current_function_mode

import gradmedic
from gradmedic.probe.functional import IDLE_PASSES, ActivationMode

from ..step_recorder import StepRecorder

ACTIVATIONS: list[tuple[str, Callable[[torch.Tensor], torch.Tensor], str]] = [
    ("torch.tanh", torch.tanh, "tanh"),
    ("F.tanh", F.tanh, "tanh"),
    ("Tensor.tanh", lambda x: x.tanh(), "tanh"),
    ("Tensor.tanh_", lambda x: x.tanh_(), "tanh"),
    ("torch.sigmoid", torch.sigmoid, "sigmoid"),
    ("F.sigmoid", F.sigmoid, "sigmoid"),
    ("Tensor.sigmoid_", lambda x: x.sigmoid_(), "sigmoid"),
    ("expit", torch.special.expit, "sigmoid"),
    ("F.relu", F.relu, "relu"),
    ("F.relu inplace", lambda x: F.relu(x, inplace=True), "relu"),
    ("torch.relu", torch.relu, "relu"),
    ("torch.relu_", torch.relu_, "relu"),
    ("Tensor.relu", lambda x: x.relu(), "relu"),
    ("F.gelu", F.gelu, "other"),
    ("F.silu", F.silu, "other"),
    ("F.leaky_relu", F.leaky_relu, "other"),
]


class Net(nn.Module):
    def __init__(self, act: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(6, 16), nn.Linear(16, 3)
        self.act = act
        self.modes: list[object] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.modes.append(_get_current_function_mode())
        return self.fc2(self.act(self.fc1(x)))


def _train(model: nn.Module, steps: int, every: int | None = None) -> StepRecorder:
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    recorder = StepRecorder()
    x = torch.randn(8, 6)
    with gradmedic.watch(model, opt, console=False, sinks=[recorder], every=every):
        for _ in range(steps):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    return recorder


@pytest.mark.parametrize("name, act, kind", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_each_functional_activation_is_measured_with_its_kind(
    name: str, act: Callable[[torch.Tensor], torch.Tensor], kind: str
) -> None:
    torch.manual_seed(0)
    recorder = _train(Net(act), 2)
    stats = recorder.steps[0].layers["fc1"].activation
    assert stats is not None and stats.kind == kind and stats.active.shape == (16,)
    if kind in ("tanh", "sigmoid"):
        assert stats.saturated_fraction is not None


def test_the_mode_is_entered_on_sampled_training_passes_only() -> None:
    torch.manual_seed(0)
    model = Net(torch.tanh)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(8, 6)
    with gradmedic.watch(model, opt, console=False, every=5) as monitor:
        for _ in range(25):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
        with torch.no_grad():
            model(x)  # evaluation: never intercepted
        sampled = [monitor.config.is_sampled(step) for step in range(25)]
    entered = [isinstance(mode, ActivationMode) for mode in model.modes]
    assert entered == sampled + [False]
    assert not all(sampled) and any(sampled)
    assert _get_current_function_mode() is None  # nothing left behind


def test_a_model_without_functional_activations_stops_being_intercepted() -> None:
    torch.manual_seed(0)
    model = Net(nn.ReLU())  # its activation is a module: the mode finds nothing to measure
    _train(model, 10)
    entered = [isinstance(mode, ActivationMode) for mode in model.modes]
    assert entered == [True] * IDLE_PASSES + [False] * (10 - IDLE_PASSES)


def test_an_activation_module_is_counted_once_per_call() -> None:
    torch.manual_seed(0)
    model = Net(nn.ReLU())  # a module: its own F.relu call inside is not counted a second time
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with gradmedic.watch(model, opt, console=False) as monitor:
        model(torch.randn(8, 6))
        site = monitor._probe.sites["fc1"]
        assert site.counted == 8 * 16 and site.module == "act" and site.kind == "relu"


def test_a_learned_gate_is_not_taken_for_the_layers_output() -> None:
    class Gated(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(6, 16), nn.Linear(16, 3)
            self.gate = nn.Parameter(torch.full((16,), 9.0))  # sigmoid(9): saturated, but no layer's output

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.fc1(x)
            return self.fc2(torch.sigmoid(self.gate) * F.relu(h))  # the gate is computed first

    torch.manual_seed(0)
    recorder = _train(Gated(), 1)
    stats = recorder.steps[0].layers["fc1"].activation
    assert stats is not None and stats.kind == "relu"


def test_a_forward_pass_that_raises_leaves_no_mode_behind() -> None:
    class Fails(Net):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = super().forward(x)
            if len(self.modes) == 2:
                raise ValueError("the user's own bug")
            return out

    torch.manual_seed(0)
    model = Fails(torch.tanh)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(8, 6)
    with gradmedic.watch(model, opt, console=False) as monitor:
        for _ in range(4):
            opt.zero_grad()
            try:
                loss = model(x).square().mean()
            except ValueError:
                assert _get_current_function_mode() is None
                continue
            loss.backward()
            opt.step()
    assert monitor.step == 3 and _get_current_function_mode() is None


def test_a_cell_called_over_time_steps_accumulates_into_one_site() -> None:
    class Loop(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cell, self.head = nn.Linear(4 + 8, 8), nn.Linear(8, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [batch, steps, 4]
            h = torch.zeros(x.shape[0], 8)
            keep = torch.ones(8)
            keep[0] = 0.0
            for t in range(x.shape[1]):
                h = torch.tanh(self.cell(torch.cat([x[:, t], h], 1)))  # [batch, 8]
                h = h * keep  # changed afterwards: the count is of the value tanh returned
            return self.head(h)

    torch.manual_seed(0)
    model = Loop()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    recorder = StepRecorder()
    x = torch.randn(5, 7, 4)
    with gradmedic.watch(model, opt, console=False, sinks=[recorder]) as monitor:
        opt.zero_grad()
        model(x).sum().backward()
        assert monitor._probe.sites["cell"].counted == 5 * 7 * 8  # every time step (small: counted whole)
        opt.step()
    stats = recorder.steps[0].layers["cell"].activation
    assert stats is not None and stats.kind == "tanh"
    assert stats.zero_fraction == 0.0 and bool(stats.active[0])  # not zeroed by what came after


@pytest.mark.slow
def test_under_torch_compile_the_mode_stays_out_of_the_graph_and_sampled_steps_see_it_eagerly() -> None:
    torch.manual_seed(0)
    model = Net(torch.tanh)
    compiled = torch.compile(model, backend="eager")
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(8, 6)
    with gradmedic.watch(model, opt, console=False) as monitor:
        for _ in range(3):
            opt.zero_grad()
            compiled(x).square().mean().backward()
            opt.step()
            assert _get_current_function_mode() is None
        # the first pass ran compiled (the probe saw nothing); the next sampled ones ran eagerly
        assert monitor.compiled
        assert monitor._probe.sites["fc1"].kind == "tanh"
    assert not monitor._disabled and monitor.step == 3


def test_a_time_step_changed_in_place_afterwards_is_left_out_not_miscounted() -> None:
    class Loop(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cell, self.head = nn.Linear(4 + 8, 8), nn.Linear(8, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [batch, steps, 4]
            h = torch.zeros(x.shape[0], 8)
            out = x.new_zeros(x.shape[0], 8)
            for t in range(x.shape[1]):
                h = F.gelu(self.cell(torch.cat([x[:, t], h], 1)))  # [batch, 8]
                out = out + h
                h.mul_(0.0)  # overwritten in place after use (gelu keeps its input, not its output)
            return self.head(out)

    torch.manual_seed(0)
    model = Loop()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    recorder = StepRecorder()
    with gradmedic.watch(model, opt, console=False, sinks=[recorder]) as monitor:
        opt.zero_grad()
        model(torch.randn(5, 7, 4)).sum().backward()
        assert monitor._probe.sites["cell"].counted == 5 * 8  # the first step, reduced at once; the rest dropped
        opt.step()
    stats = recorder.steps[0].layers["cell"].activation
    assert stats is not None and stats.kind == "other" and stats.zero_fraction == 0.0
