"""A deep feed-forward net whose init is too large: the gradient is huge from the first step, at a small
learning rate. The diagnosis names depth as the cause (exploding_gradients with the per-layer gain), not
the learning rate; at He init the same net raises nothing of the kind."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradmedic
from gradmedic.config import Config
from gradmedic.demo import data
from gradmedic.detectors.growth import depth_cause
from gradmedic.records import LayerInfo, LayerStats, StepStats

DEPTH = 30


def _deep(scale: float) -> nn.Sequential:
    """DEPTH Linear layers with ReLU between them, weights drawn with std scale / sqrt(fan_in)."""
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Linear(64, 64)]
    for _ in range(DEPTH - 2):
        layers += [nn.ReLU(), nn.Linear(64, 64)]
    layers += [nn.ReLU(), nn.Linear(64, 10)]
    model = nn.Sequential(*layers)
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Linear):
                m.weight.normal_(0.0, scale / math.sqrt(m.in_features))
                m.bias.zero_()
    return model


def _train(scale: float, steps: int = 25) -> gradmedic.Report:
    model = _deep(scale)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    x, y = data.digits()
    with gradmedic.watch(model, opt, console=False) as monitor:
        for xb, yb in data.batches(x, y, 64, steps, 0):
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            monitor.observe_loss(loss)
    return monitor.report()


def test_too_large_init_is_diagnosed_as_explosion_through_depth_from_step_0() -> None:
    report = _train(3.0)
    exploding = next(d for d in report.diagnoses if d.kind == "exploding_gradients")
    assert exploding.severity == "error" and exploding.first_step == 0
    cause = exploding.evidence["through_depth"]
    # 3 / sqrt(2): the weights are 3/sqrt(2) times He's scale, and a ReLU halves the second moment
    assert cause["per_layer_gain"] == pytest.approx(3 / math.sqrt(2), rel=0.05)
    assert cause["layers"] == DEPTH - 1 and cause["growth"] > 1e6
    assert "through depth" in exploding.message and "learning rate is not the cause" in exploding.message
    names = [r.name for r in exploding.remedies]
    assert names[:3] == ["init", "batch_norm", "clip_grad_norm"]
    assert "lower_lr" not in names  # no step had been taken when it overflowed: the step size is not the cause
    nonfinite = next(d for d in report.diagnoses if d.kind == "non_finite")
    assert nonfinite.evidence.get("explained_by") == "exploding_gradients"


def test_the_same_net_at_he_init_has_no_depth_cause() -> None:
    report = _train(math.sqrt(2.0))
    assert not any(d.evidence.get("through_depth") for d in report.diagnoses)
    assert "exploding_gradients" not in {d.kind for d in report.diagnoses if d.severity != "info"}


def _stats(weight_norms: list[float]) -> tuple[StepStats, dict[str, LayerInfo]]:
    layers = {f"l{i}": LayerInfo(name=f"l{i}", type="Linear", order=i, activation="ReLU", units=64) for i in range(6)}
    layers["out"] = LayerInfo(name="out", type="Linear", order=9, is_output=True)
    stats = {f"l{i}": LayerStats(weight_norm=w, grad_rms=1.0) for i, w in enumerate(weight_norms)}
    stats["out"] = LayerStats(weight_norm=1.0, grad_rms=1.0)
    return StepStats(step=0, layers=stats, global_grad_norm=1e9), layers


def test_depth_cause_reads_the_gain_from_the_weights() -> None:
    he = math.sqrt(2) * 8  # ||W|| of a 64x64 He-initialised weight: sqrt(2/64) * 64
    step, layers = _stats([3 * he] * 6)
    cause = depth_cause([step], layers, Config())
    assert cause["per_layer_gain"] == pytest.approx(3.0) and cause["growth"] == pytest.approx(3.0**6)
    assert depth_cause([_stats([he] * 6)[0]], layers, Config()) == {}  # gain 1: nothing grows
    assert depth_cause([_stats([1.5 * he] * 6)[0]], layers, Config()) == {}  # 1.5**6 = 11 < 70: too little
