"""optimizer.step(closure): the statistics are the gradients the closure computed, not the previous step's."""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F

import gradmedic
from gradmedic.demo import data
from gradmedic.probe.closure import register_pre_hook
from gradmedic.records import LayerInfo, StepStats

from ..models import relu_mlp


class Steps:
    """A sink that keeps each sampled step's global gradient norm."""

    def __init__(self) -> None:
        self.norms: dict[int, float] = {}

    def write_step(self, stats: StepStats, layers: Mapping[str, LayerInfo]) -> None:
        self.norms[stats.step] = stats.global_grad_norm

    def write_diagnosis(self, *args: Any) -> None: ...

    def close(self, *args: Any) -> None: ...


def _train_with_closure(steps: int, positional: bool) -> tuple[dict[int, float], dict[int, float]]:
    torch.manual_seed(0)
    model = relu_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    sink = Steps()
    true_norms: dict[int, float] = {}
    x, y = data.digits()
    with gradmedic.watch(model, opt, console=False, sinks=[sink], every=1):
        for step, (xb, yb) in enumerate(data.batches(x, y, 64, steps)):

            def closure(xb: torch.Tensor = xb, yb: torch.Tensor = yb, step: int = step) -> torch.Tensor:
                opt.zero_grad()
                loss = F.cross_entropy(model(xb), yb)
                loss.backward()
                grads = [p.grad for p in model.parameters() if p.grad is not None]
                true_norms[step] = float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))
                return loss

            opt.step(closure) if positional else opt.step(closure=closure)
    return sink.norms, true_norms


def test_a_closure_passed_by_keyword_is_measured_after_its_backward() -> None:
    seen, true = _train_with_closure(8, positional=False)
    assert sorted(seen) == list(range(8))
    for step in range(8):
        assert abs(seen[step] - true[step]) <= 1e-4 * true[step], (step, seen[step], true[step])


def test_a_positional_closure_is_measured_after_its_backward() -> None:
    seen, true = _train_with_closure(5, positional=True)
    for step in range(5):
        assert abs(seen[step] - true[step]) <= 1e-4 * true[step], (step, seen[step], true[step])


def test_the_hook_runs_once_after_the_first_call_of_a_closure_called_many_times() -> None:
    param = torch.nn.Parameter(torch.tensor([2.0]))
    opt = torch.optim.LBFGS([param], max_iter=4)
    calls: list[str] = []

    def closure() -> torch.Tensor:
        calls.append("closure")
        opt.zero_grad()
        loss = (param**2).sum()
        loss.backward()
        return loss

    handle = register_pre_hook(opt, lambda o, a, k: calls.append(f"hook grad={float(param.grad):.1f}"))
    opt.step(closure)
    handle.remove()
    assert calls[:2] == ["closure", "hook grad=4.0"]
    assert calls.count("hook grad=4.0") == 1 and len(calls) > 2


def test_without_a_closure_the_hook_runs_before_the_step() -> None:
    param = torch.nn.Parameter(torch.tensor([2.0]))
    opt = torch.optim.SGD([param], lr=0.1)
    seen: list[float] = []
    register_pre_hook(opt, lambda o, a, k: seen.append(float(param.detach())))
    (param**2).sum().backward()
    opt.step()
    assert seen == [2.0]
