"""The step gate: what a treated run does around every optimizer step, or every update by hand.

Before each step it reads the global gradient norm (one host sync per step: the price of treatment,
the same GradScaler pays), drops a non-finite step so no NaN reaches the weights, and clips the
gradient norm once a cure has set a threshold. It scales the learning rate for the step and restores the
scheduler's value afterwards, so the script's schedulers keep running as written.

Scripts that update the weights by hand (``p.data.add_(p.grad, alpha=-lr)``) have no optimizer step to
hook: the monitor calls ``before_update`` at the end of each backward pass, before the script's own
update reads the gradients. There a dropped step's gradients are zeroed in place (the script's update
then moves nothing), clipping scales them, and a lower learning rate is a scale on them too.
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
        model: torch.nn.Module | None = None,
    ) -> None:
        self.optimizers = optimizers
        self.model = model  # without optimizers: the model whose gradients the script applies by hand
        self.clip_at: float | None = None
        self.lr_scale = 1.0
        self.step = 0  # counts the first optimizer's steps, as the monitor does
        self.norms: list[tuple[int, float]] = []  # (step, global norm before clipping), bounded
        self.log = GateLog()
        self._history = history
        self._saved_lr: dict[int, list[Any]] = {}
        self._handles: list[RemovableHandle] = []
        self._wrap = shield or (lambda fn: fn)  # the monitor's: an error here is an incident, not the user's crash
        self.dropped: dict[int, tuple[float, set[int]]] = {}  # step -> (norm, ids of parameters with NaN/Inf grads)
        for opt in optimizers:
            self._hook(opt)

    def _hook(self, opt: torch.optim.Optimizer) -> None:
        self._handles.append(register_pre_hook(opt, self._wrap(self._before)))  # after step(closure)'s backward
        self._handles.append(opt.register_step_post_hook(self._wrap(self._after)))

    def adopt(self, optimizer: torch.optim.Optimizer) -> None:
        """An optimizer took over the step count of a run updated by hand so far: gate its steps from now on.

        The optimizer joins the list the doctor's cures and snapshots share."""
        if self.model is None:
            return
        self.model = None
        self.optimizers.append(optimizer)
        self._hook(optimizer)

    def params(self, optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
        return [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]

    def _before(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self._restore_lr(optimizer)  # a step that raised never ran its post-hook
        params = self.params(optimizer)
        if self._pass(params, first=optimizer is self.optimizers[0], by_hand=False) and self.lr_scale != 1.0:
            self._scale_lr(optimizer)

    def before_update(self) -> None:
        """By hand: the end of a backward pass, before the script's own update reads the gradients."""
        if self.model is None:
            return
        params: list[torch.Tensor] = [p for p in self.model.parameters() if p.grad is not None]
        if self._pass(params, first=True, by_hand=True) and self.lr_scale != 1.0:
            torch._foreach_mul_([p.grad for p in params if p.grad is not None], self.lr_scale)

    def after_update(self) -> None:
        """By hand: the step's update is in (the next pass began)."""
        self.step += 1

    def _pass(self, params: list[torch.Tensor], first: bool, by_hand: bool) -> bool:
        """Read the norm, drop a non-finite step or clip a large one; False when the step was dropped."""
        if not params:
            return False
        grads = [p.grad for p in params if p.grad is not None]  # narrows the type; params already have grads
        stacked = norms(grads, grads[0].device)
        total = float(torch.linalg.vector_norm(stacked))  # the one sync
        if first:
            self.norms.append((self.step, total))
            del self.norms[: -self._history]
            self.log.steps += 1
        if not math.isfinite(total):
            bad = {id(p) for p, ok in zip(params, torch.isfinite(stacked).tolist()) if not ok}
            for p in params:
                if by_hand and p.grad is not None:
                    p.grad.zero_()  # the script's own update reads it: it then moves nothing
                else:
                    p.grad = None  # the optimizer skips parameters without a gradient: the step is dropped
            self.log.skipped.append((self.step, total))
            self.dropped[self.step] = (total, bad)
            for old in [s for s in self.dropped if s < self.step - 64]:
                del self.dropped[old]
            if first:
                self.log.in_row += 1
            return False
        if first:
            self.log.in_row = 0
        if self.clip_at is not None and total > self.clip_at:
            torch._foreach_mul_(grads, self.clip_at / (total + 1e-6))
            self.log.clipped += 1
        return True

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

    def remove(self) -> None:
        for opt in self.optimizers:
            self._restore_lr(opt)
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
