"""The activation and normalisation registries: a library's own classes are measured like the built-in
ones once registered, and nothing is replaced silently."""

from __future__ import annotations

from typing import Iterator

import pytest
import torch
from torch import nn

import gradmedic
from gradmedic.probe import module_types
from gradmedic.probe.layers import ACTIVATION_KINDS, activation_kind, find_layers


class Rectifier(nn.Module):
    """A ReLU written as a clamp: neither an nn.ReLU nor a function the probe knows by name."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=0)


class ScaleNorm(nn.Module):
    """A normalisation layer of one's own, with a learnt gain."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain * x / x.norm(dim=-1, keepdim=True).clamp(min=1e-6)


@pytest.fixture
def registered() -> Iterator[None]:
    norms = module_types.NORM_TYPES
    yield
    ACTIVATION_KINDS.pop(Rectifier, None)
    module_types.NORM_TYPES = norms


def test_a_registered_activation_is_measured_by_its_module(registered: None) -> None:
    assert activation_kind(Rectifier()) is None
    gradmedic.register_activation(Rectifier, "relu")
    assert activation_kind(Rectifier()) == "relu"
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), Rectifier(), nn.Linear(16, 16), Rectifier(), nn.Linear(16, 2))
    with torch.no_grad():
        model[2].bias.fill_(-20.0)  # type: ignore[operator]  # born dead: every unit of the second hidden layer is negative
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(64, 8), torch.randint(0, 2, (64,))
    with gradmedic.watch(model, opt, console=False, every=1) as monitor:
        for _ in range(8):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    report = monitor.report()
    by_name = {layer.name: layer for layer in report.layers}
    assert by_name["2"].activation == "Rectifier" and by_name["2"].activation_module == "3"
    (dead,) = [d for d in report.diagnoses if d.kind == "dead_units"]
    assert dead.evidence["cause"] == "2" and dead.severity == "error"


def test_an_activation_is_not_replaced_silently(registered: None) -> None:
    with pytest.raises(ValueError, match="registered already as a 'relu' activation; pass overwrite=True"):
        gradmedic.register_activation(nn.ReLU, "other")
    gradmedic.register_activation(Rectifier, "relu")
    gradmedic.register_activation(Rectifier, "relu")  # the same again is no conflict
    gradmedic.register_activation(Rectifier, "other", overwrite=True)
    assert activation_kind(Rectifier()) == "other"
    with pytest.raises(ValueError, match="kind must be one of"):
        gradmedic.register_activation(Rectifier, "swish")
    with pytest.raises(TypeError, match="not an instance"):
        gradmedic.register_activation(Rectifier(), "relu")  # type: ignore[arg-type]


def test_a_registered_norm_leaves_the_depth_comparison(registered: None) -> None:
    model = nn.Sequential(nn.Linear(8, 8), ScaleNorm(), nn.Linear(8, 2))
    assert [layer.is_norm for layer in find_layers(model)] == [False, False, False]
    gradmedic.register_normalization(ScaleNorm)
    layers = find_layers(model)
    assert [layer.is_norm for layer in layers] == [False, True, False]
    assert [layer.compares_by_depth for layer in layers] == [True, False, True]
    with pytest.raises(ValueError, match="normalisation layer already"):
        gradmedic.register_normalization(ScaleNorm)
    with pytest.raises(ValueError, match="normalisation layer already"):
        gradmedic.register_normalization(nn.BatchNorm1d)
    gradmedic.register_normalization(nn.LayerNorm, overwrite=True)  # accepted, nothing changes
