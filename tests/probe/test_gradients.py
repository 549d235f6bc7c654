"""Gradient, weight and update norms agree with plain torch, also when weights are not contiguous or replaced."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gradmedic.probe.gradients import UPDATE_BLOCKS, UPDATE_RUN, GradientProbe
from gradmedic.probe.layers import find_layers


def _measure(model: nn.Module, opt: torch.optim.Optimizer, probe: GradientProbe, x: torch.Tensor):  # type: ignore[no-untyped-def]
    opt.zero_grad()
    model(x).square().mean().backward()
    m = probe.before_step()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    opt.step()
    probe.after_step(m)
    values = torch.cat(m.tensors()).numpy()
    stats, global_norm = probe.unpack(m, values)
    return stats, global_norm, before, grads


def _model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3, bias=False))
    model[2].weight = nn.Parameter(torch.randn(3, 5).t().contiguous().t())  # a transposed, non-contiguous weight
    return model


def test_norms_and_update_ratios_match_torch() -> None:
    model = _model()
    assert not model[2].weight.is_contiguous()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    probe = GradientProbe(find_layers(model))
    x = torch.randn(16, 6)
    for _ in range(3):  # the reused buffers stay right on later steps
        stats, global_norm, before, grads = _measure(model, opt, probe, x)
        for name in ("0", "2"):
            w = f"{name}.weight"
            after = dict(model.named_parameters())[w].detach()
            assert stats[name].grad_norm == pytest.approx(float(grads[w].norm()), rel=1e-5)
            assert stats[name].weight_norm == pytest.approx(float(before[w].norm()), rel=1e-5)
            expected = float((after - before[w]).norm() / before[w].norm())  # small weights: the subset is all
            assert stats[name].update_ratio == pytest.approx(expected, rel=1e-4)
        assert stats["0"].bias_grad_norm == pytest.approx(float(grads["0.bias"].norm()), rel=1e-5)
        assert stats["2"].bias_grad_norm is None
        assert global_norm == pytest.approx(float(torch.cat([g.flatten() for g in grads.values()]).norm()), rel=1e-5)


def test_a_large_weights_update_ratio_comes_from_runs_spread_over_it() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(300, 200), nn.Tanh(), nn.Linear(200, 4))  # 60000 and 800 weights
    big = model[0].weight
    assert big.numel() > UPDATE_BLOCKS * UPDATE_RUN >= model[2].weight.numel()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    probe = GradientProbe(find_layers(model))
    for _ in range(3):
        stats, _, before, _ = _measure(model, opt, probe, torch.randn(64, 300))
        full = float((big.detach() - before["0.weight"]).norm() / before["0.weight"].norm())
        assert stats["0"].update_ratio == pytest.approx(full, rel=0.15)  # an estimate from 4096 of 60000
        small = float((model[2].weight.detach() - before["2.weight"]).norm() / before["2.weight"].norm())
        assert stats["2"].update_ratio == pytest.approx(small, rel=1e-4)  # whole
    # an update confined to the last row still shows: the runs reach the end of the tensor
    opt.zero_grad()
    m = probe.before_step()
    with torch.no_grad():
        big[-1:] += 1.0
    probe.after_step(m)
    stats, _ = probe.unpack(m, torch.cat(m.tensors()).numpy())
    assert stats["0"].update_ratio is None  # no gradient this step: not judged
    assert float(m.tensors()[1][0]) > 0


def test_a_weight_whose_storage_is_replaced_is_followed() -> None:
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    probe = GradientProbe(find_layers(model))
    x = torch.randn(16, 6)
    _measure(model, opt, probe, x)
    model[0].weight.data = model[0].weight.data.clone()  # new storage, same Parameter
    stats, _, before, _ = _measure(model, opt, probe, x)
    after = model[0].weight.detach()
    expected = float((after - before["0.weight"]).norm() / before["0.weight"].norm())
    assert stats["0"].update_ratio == pytest.approx(expected, rel=1e-4)
    assert expected > 0


def test_a_layer_without_a_gradient_has_no_gradient_stats() -> None:
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    probe = GradientProbe(find_layers(model))
    opt.zero_grad()
    model[0](torch.randn(4, 6)).sum().backward()  # only the first layer takes part
    m = probe.before_step()
    opt.step()
    probe.after_step(m)
    stats, _ = probe.unpack(m, torch.cat(m.tensors()).numpy())
    assert stats["0"].grad_norm is not None and stats["2"].grad_norm is None
    assert stats["2"].update_ratio is None and stats["2"].weight_norm is not None
