"""Step clocks: what marks a training step's boundaries for the Monitor.

A clock calls ``before()`` once a step's gradients are final and ``after()`` once its update has been
applied; ``after`` must never raise (the Monitor's counts the step even after it stopped watching). ``OptimizerClock`` takes both from an optimizer's step pre- and post-hooks. ``BackwardClock``
serves loops that update the weights by hand: a step's gradients are final at the end of its backward
pass, and its update is done by the next training forward pass (or the next backward pass, or close).
Backward passes inside an optimizer's ``step()`` (LBFGS closures) make one step together.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from torch.utils.hooks import RemovableHandle

from .closure import register_pre_hook
from .probe_hook import ProbeHook

Tick = Callable[[], None]
Guard = Callable[[Callable[..., Any]], Callable[..., Any]]

# The end of a backward pass is seen through hooks on this many parameters, spread over the model: a
# step costs a few Python calls however large the model is (a backward that reaches none is not seen).
WATCHED_PARAMETERS = 4


class StepClock(Protocol):
    def pass_start(self) -> None:
        """A training forward pass of the model begins."""

    def close(self) -> None:
        """Finish an open step and remove every hook."""


class OptimizerClock:
    """One step per ``optimizer.step()``: gradients before it, the update after it."""

    def __init__(self, optimizer: torch.optim.Optimizer, before: Tick, after: Tick, guard: Guard) -> None:
        self.optimizer = optimizer
        self._after = ProbeHook(lambda *_: after())  # ``after`` never raises; it counts the step
        self._handles = [
            register_pre_hook(optimizer, guard(lambda *_: before())),  # after step(closure)'s backward
            optimizer.register_step_post_hook(self._after),
        ]

    @property
    def compiled(self) -> bool:
        """Whether the optimizer stepped inside a compiled function, where its hooks do nothing."""
        return self._after.compiled

    def pass_start(self) -> None:
        pass

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


class BackwardClock:
    """One step per backward pass that reaches the model's parameters (for loops without an optimizer)."""

    def __init__(self, params: Sequence[torch.Tensor], before: Tick, after: Tick, guard: Guard) -> None:
        self._before, self._after = before, after
        self._open = False  # a step's gradients were measured; its update is not yet seen
        self._queued = False  # the end-of-backward callback is queued for the running backward pass
        self._in_optimizer = 0  # inside an optimizer's step(): its closures' backward passes are one step
        self._counted_in_optimizer = False
        trainable = [p for p in params if p.requires_grad]
        stride = max(1, len(trainable) // WATCHED_PARAMETERS)
        watched = trainable[::stride][: WATCHED_PARAMETERS - 1] + trainable[-1:]
        self._detached = False
        self._param_handles: list[RemovableHandle] = [
            p.register_post_accumulate_grad_hook(guard(self._on_grad)) for p in dict.fromkeys(watched)
        ]
        self._end = guard(self._end_of_backward)
        self._global_handles = [
            register_optimizer_step_pre_hook(ProbeHook(guard(self._optimizer_pre))),
            register_optimizer_step_post_hook(ProbeHook(guard(self._optimizer_post))),
        ]

    def _on_grad(self, param: torch.Tensor) -> None:
        if not self._queued and not self._detached:
            self._queued = True
            torch.autograd.Variable._execution_engine.queue_callback(self._end)

    def _end_of_backward(self) -> None:
        self._queued = False
        if self._detached:
            return
        if self._in_optimizer:
            if self._counted_in_optimizer:
                return
            self._counted_in_optimizer = True
        self._close_step()
        self._before()
        self._open = True

    def _close_step(self) -> None:
        if self._open:
            self._open = False
            self._after()

    def _optimizer_pre(self, *_: Any) -> None:
        self._in_optimizer += 1
        self._counted_in_optimizer = False

    def _optimizer_post(self, *_: Any) -> None:
        self._in_optimizer = max(0, self._in_optimizer - 1)

    def pass_start(self) -> None:
        if not self._in_optimizer:  # a closure's forward pass re-evaluates the same step
            self._close_step()

    def detach(self) -> None:
        """Stop counting, leaving the open step unfinished (an optimizer's clock takes over).

        The global optimizer hooks stay until ``close()``: this may run inside one of them.
        """
        self._open = False
        self._detached = True
        for handle in self._param_handles:
            handle.remove()
        self._param_handles.clear()

    def close(self) -> None:
        self._close_step()
        self.detach()
        for handle in self._global_handles:
            handle.remove()
        self._global_handles.clear()
