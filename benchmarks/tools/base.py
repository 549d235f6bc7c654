"""What every tool adapter of the overhead benchmark offers, and the hook stash that pauses a tool.

An adapter attaches its tool to a workload once, then runs watched training steps in the tool's own
way (some peers must wrap ``backward`` or hand over the loss). Between watched blocks the benchmark
runs plain blocks on the same model: ``pause`` takes out every hook the tool added to the model,
its parameters, the optimizer and the global module hooks, and ``resume`` puts them back, so a plain
block is exactly the user's loop. Not every peer can be detached through its own API; the stash
treats them all alike.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.modules.module as module_globals

from ..workloads import Workload

_MODULE_HOOKS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
)
_OPTIMIZER_HOOKS = ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks")
_GLOBAL_HOOKS = (
    "_global_forward_hooks",
    "_global_forward_hooks_with_kwargs",
    "_global_forward_hooks_always_called",
    "_global_forward_pre_hooks",
    "_global_backward_hooks",
    "_global_backward_pre_hooks",
)


def _hook_dicts(w: Workload) -> list[dict[Any, Any]]:
    """Every hook registry that a monitoring tool may write into, for this workload."""
    dicts: list[dict[Any, Any]] = [getattr(m, a) for m in w.model.modules() for a in _MODULE_HOOKS]
    for p in w.model.parameters():
        for attr in ("_backward_hooks", "_post_accumulate_grad_hooks"):
            hooks = getattr(p, attr, None)
            if hooks is not None:
                dicts.append(hooks)
    dicts += [getattr(w.optimizer, a) for a in _OPTIMIZER_HOOKS]
    dicts += [getattr(module_globals, a) for a in _GLOBAL_HOOKS]
    return dicts


class PeerUnsupported(RuntimeError):
    """An adapter's explanation of why a peer cannot run this workload (raised from the peer's error)."""


class HookStash:
    """Removes the hooks added since it was made, and restores them (same keys, same callables)."""

    def __init__(self, w: Workload) -> None:
        self.workload = w
        self.baseline = {id(d): set(d) for d in _hook_dicts(w)}
        self.stashed: list[tuple[dict[Any, Any], dict[Any, Any]]] = []

    def pause(self) -> int:
        """Take the tool's hooks out; returns how many were taken."""
        self.stashed = []
        for d in _hook_dicts(self.workload):
            added = {k: v for k, v in d.items() if k not in self.baseline.get(id(d), ())}
            for k in added:
                del d[k]
            if added:
                self.stashed.append((d, added))
        return sum(len(a) for _, a in self.stashed)

    def resume(self) -> None:
        for d, added in self.stashed:
            d.update(added)
        self.stashed = []


class Tool:
    """A tool under test. Subclasses set the class attributes and implement attach and step."""

    name = ""
    label = ""
    per_layer = ""  # what it measures per layer ("" when nothing)
    settings = ""  # the configuration used, in words
    period = 1  # the tool's sampling period in steps: blocks are a multiple of it
    compiles = False  # the workload's model is torch.compile'd before its plain warm-up (plain blocks too)

    def __init__(self) -> None:
        self.stash: HookStash | None = None

    def start(self, w: Workload) -> None:
        """Snapshot the hook registries, then attach the tool."""
        self.stash = HookStash(w)
        self.attach(w)

    def attach(self, w: Workload) -> None:
        raise NotImplementedError

    def step(self, w: Workload, step: int) -> None:
        """One watched training step (zero_grad, forward, loss, backward, optimizer step)."""
        raise NotImplementedError

    def pause(self) -> None:
        if self.stash is not None:
            self.stash.pause()

    def resume(self) -> None:
        if self.stash is not None:
            self.stash.resume()

    def close(self) -> None:
        """Detach for good and flush (not timed)."""

    def inside_seconds(self) -> float | None:
        """Seconds spent inside the tool's own hooks so far, when the tool can tell (gradmedic)."""
        return None


def loss_of(w: Workload) -> torch.Tensor:
    """The forward pass and the mean loss of the workload's batch."""
    return w.loss_fn(w.model(w.x), w.y)
