"""In-memory snapshots of the model and optimizer state, to roll back to when the weights are damaged.

A snapshot is taken every ``every`` steps, only when the weights are finite, and only the last few are
kept. Snapshots live in host memory, so an accelerator's memory pays nothing for them; the cost is a
few host copies of the parameters and the optimizer state, and one transfer every ``every`` steps.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..config import Config
from ..probe.norms import norms


def _clone(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_clone(v) for v in value)
    return value


def finite_weights(model: nn.Module) -> bool:
    params = [p.detach() for p in model.parameters()]
    if not params:
        return True
    return math.isfinite(float(norms(params, params[0].device).sum()))


@dataclass(frozen=True)
class Snapshot:
    step: int
    loss: float | None  # the recent loss when it was taken: rollback prefers the best
    model: dict[str, Any]
    optimizers: list[dict[str, Any]]


class Snapshots:
    def __init__(
        self,
        model: nn.Module,
        optimizers: list[torch.optim.Optimizer],
        every: int = Config.snapshot_every,
        keep: int = 4,
    ):
        self.model = model
        self.optimizers = optimizers
        self.every = every
        self.kept: deque[Snapshot] = deque(maxlen=keep)

    def maybe_take(self, step: int, healthy: bool, loss: float | None = None) -> None:
        """Called after each step: keep a snapshot every ``every`` steps of a healthy run."""
        if step % self.every or not healthy or not finite_weights(self.model):
            return
        self.take(step, loss)

    def take(self, step: int, loss: float | None = None) -> None:
        """Keep a snapshot of the state now, before update ``step``."""
        self.kept.append(
            Snapshot(
                step=step,
                loss=loss,
                model=_clone(self.model.state_dict()),
                optimizers=[_clone(opt.state_dict()) for opt in self.optimizers],
            )
        )

    def before(self, step: int) -> Snapshot | None:
        """The best snapshot taken up to ``step``: the lowest loss, the latest on a tie or without losses."""
        older = [s for s in self.kept if s.step <= step]  # taken at step s: the state before update s
        if not older:
            return None
        return min(reversed(older), key=lambda s: s.loss if s.loss is not None and math.isfinite(s.loss) else math.inf)

    def restore(self, snapshot: Snapshot) -> None:
        self.model.load_state_dict(snapshot.model)
        for opt, state in zip(self.optimizers, snapshot.optimizers):
            opt.load_state_dict(_clone(state))

    def clear(self) -> None:
        """Forget every snapshot (after surgery the old state no longer fits the model)."""
        self.kept.clear()
