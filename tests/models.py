"""Tiny models and a training loop shared by the monitor tests."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gradmedic.demo import data


def relu_mlp(widths: tuple[int, ...] = (64, 64, 64, 10), inplace: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.ReLU(inplace=inplace))
    return nn.Sequential(*layers)


def fit(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    steps: int,
    monitor: object | None = None,
    *,
    batch_size: int = 64,
    between: Callable[[int], None] | None = None,
) -> None:
    """Train on digits for ``steps`` optimizer steps, handing the loss to the monitor when given."""
    x, y = data.digits()
    for i, (xb, yb) in enumerate(data.batches(x, y, batch_size, steps)):
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        if monitor is not None:
            monitor.observe_loss(loss)  # type: ignore[attr-defined]
        if between is not None:
            between(i)
