"""Step pre-hooks that wait for the closure: gradients are final only once ``step(closure)`` has run it.

``optimizer.step(closure)`` calls the closure (forward, backward) inside ``step``, after torch's
step pre-hooks. LBFGS needs one, and Lightning's automatic optimisation passes one to every
``optimizer.step`` (its precision plugins run training_step, backward, the unscaling and the clipping
in it). A pre-hook that reads gradients there would read the previous step's. ``register_pre_hook``
runs the hook at once when ``step`` gets no closure, and otherwise right after the closure's first
call (LBFGS calls it again at trial points; the first call is the gradient at the step's start).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch.utils.hooks import RemovableHandle

from .probe_hook import ProbeHook

PreHook = Callable[[torch.optim.Optimizer, Any, Any], None]


def register_pre_hook(optimizer: torch.optim.Optimizer, hook: PreHook) -> RemovableHandle:
    """Like ``optimizer.register_step_pre_hook(hook)``, but run after the closure when ``step`` gets one."""

    def pre_hook(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> tuple[Any, Any] | None:
        closure, where = _find_closure(args, kwargs)
        if closure is None:
            hook(opt, args, kwargs)
            return None
        wrapped = _then(closure, lambda: hook(opt, args, kwargs))
        if where == "kwargs":
            return args, {**kwargs, "closure": wrapped}
        return (args[0], wrapped, *args[2:]), kwargs

    return optimizer.register_step_pre_hook(ProbeHook(pre_hook))  # inert in a compiled optimizer step


def _find_closure(args: Any, kwargs: Any) -> tuple[Callable[[], Any] | None, str]:
    """The closure passed to ``step`` (``args[0]`` is the optimizer itself), and where it was."""
    if callable(kwargs.get("closure")):
        return kwargs["closure"], "kwargs"
    if len(args) > 1 and callable(args[1]):
        return args[1], "args"
    return None, ""


def _then(closure: Callable[[], Any], after_first: Callable[[], None]) -> Callable[[], Any]:
    called = False

    def wrapped() -> Any:
        nonlocal called
        result = closure()
        if not called:
            called = True
            after_first()
        return result

    return wrapped
