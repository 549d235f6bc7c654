"""The step gate: what a treated run does around every optimizer step.

Before each step it reads the global gradient norm (one host sync per step: the price of treatment,
the same GradScaler pays), drops a non-finite step so no NaN reaches the weights, and clips the
gradient norm once a cure has set a threshold. It scales the learning rate for the step and restores the
scheduler's value afterwards, so the script's schedulers keep running as written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch.utils.hooks import RemovableHandle

from ..probe.closure import register_pre_hook
from ..probe.norms import norms


@dataclass
class GateLog:
    """What the gate did since the doctor last looked."""

    skipped: list[tuple[int, float]] = field(default_factory=list)  # (step, norm) of dropped steps
    in_row: int = 0  # steps dropped in a row, up to the latest one: the run is stuck while this grows
    clipped: int = 0
    steps: int = 0


class StepGate:
    """Per-step guard, clip and learning-rate scale on every optimizer of a treated run."""

    def __init__(
        self,
        optimizers: list[torch.optim.Optimizer],
        history: int = 4096,
        shield: Callable[[Callable[..., Any]], Callable[..., Any]] | None = None,
    ) -> None:
        self.optimizers = optimizers
        self.clip_at: float | None = None
        self.lr_scale = 1.0
        self.step = 0  # counts the first optimizer's steps, as the monitor does
        self.norms: list[tuple[int, float]] = []  # (step, global norm before clipping), bounded
        self.log = GateLog()
        self._history = history
        self._saved_lr: dict[int, list[Any]] = {}
        self._handles: list[RemovableHandle] = []
        wrap = shield or (lambda fn: fn)  # the monitor's: an error here is an incident, not the user's crash
        self.dropped: dict[int, tuple[float, set[int]]] = {}  # step -> (norm, ids of parameters with NaN/Inf grads)
        for opt in optimizers:
            self._handles.append(register_pre_hook(opt, wrap(self._before)))  # after step(closure)'s backward
            self._handles.append(opt.register_step_post_hook(wrap(self._after)))

    def params(self, optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
        return [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]

    def _before(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self._restore_lr(optimizer)  # a step that raised never ran its post-hook
        params = self.params(optimizer)
        if not params:
            return
        grads = [p.grad for p in params if p.grad is not None]  # narrows the type; params already have grads
        stacked = norms(grads, grads[0].device)
        total = float(torch.linalg.vector_norm(stacked))  # the one sync
        first = optimizer is self.optimizers[0]
        if first:
            self.norms.append((self.step, total))
            del self.norms[: -self._history]
            self.log.steps += 1
        if not math.isfinite(total):
            bad = {id(p) for p, ok in zip(params, torch.isfinite(stacked).tolist()) if not ok}
            for p in params:
                p.grad = None  # the optimizer skips parameters without a gradient: the step is dropped
            self.log.skipped.append((self.step, total))
            self.dropped[self.step] = (total, bad)
            for old in [s for s in self.dropped if s < self.step - 64]:
                del self.dropped[old]
            if first:
                self.log.in_row += 1
            return
        if first:
            self.log.in_row = 0
        if self.clip_at is not None and total > self.clip_at:
            torch._foreach_mul_(grads, self.clip_at / (total + 1e-6))
            self.log.clipped += 1
        if self.lr_scale != 1.0:
            self._scale_lr(optimizer)

    def _after(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self._restore_lr(optimizer)
        if optimizer is self.optimizers[0]:
            self.step += 1

    def _scale_lr(self, optimizer: torch.optim.Optimizer) -> None:
        saved = []
        for group in optimizer.param_groups:
            lr = group["lr"]
            if isinstance(lr, torch.Tensor):
                saved.append(lr.clone())
                lr.mul_(self.lr_scale)
            else:
                saved.append(lr)
                group["lr"] = lr * self.lr_scale
        self._saved_lr[id(optimizer)] = saved

    def _restore_lr(self, optimizer: torch.optim.Optimizer) -> None:
        saved = self._saved_lr.pop(id(optimizer), None)
        if saved is None:
            return
        for group, lr in zip(optimizer.param_groups, saved):
            if isinstance(group["lr"], torch.Tensor) and isinstance(lr, torch.Tensor):
                group["lr"].copy_(lr)
            else:
                group["lr"] = lr

    def calm_norms(self, before_step: int) -> list[float]:
        """The finite global norms observed before a step (the calm before a spike)."""
        return [n for s, n in self.norms if s < before_step and math.isfinite(n)]

    def remove(self) -> None:
        for opt in self.optimizers:
            self._restore_lr(opt)
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
