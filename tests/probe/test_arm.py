"""The per-layer hooks are made once per probe: each sampled step registers the same ones again."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import gradmedic

from ..models import relu_mlp


def _probe_hooks(model: torch.nn.Module) -> set[int]:
    return {
        id(hook)
        for module in model.modules()
        for hooks in (module._forward_pre_hooks, module._forward_hooks)
        for hook in hooks.values()
        if type(hook).__name__ == "ProbeHook"
    }


def test_sampled_steps_register_the_same_hooks_again() -> None:
    torch.manual_seed(0)
    model = relu_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(32, 64), torch.randint(0, 10, (32,))
    monitor = gradmedic.watch(model, opt, every=2, console=False)
    armed: list[set[int]] = []
    for step in range(30):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        monitor.observe_loss(loss)
        if monitor.config.is_sampled(step + 1) and step >= 20:  # the next step's hooks are armed now
            armed.append(_probe_hooks(model))
    report = monitor.close()
    assert len(armed) >= 3
    assert len(armed[0]) > 3  # the per-layer hooks besides the three root hooks
    assert all(hooks == armed[0] for hooks in armed)  # the same objects: made once, registered again
    assert not _probe_hooks(model)  # all of them gone after close
    assert report.steps == 30 and not report.incidents
