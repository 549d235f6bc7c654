"""Hooks that never break the user's script: not by raising, and not by travelling in a pickle.

``GuardedHook`` turns an error inside a hook into the monitor switching itself off. Hooks live on the
user's modules, and ``torch.save(model)`` or ``copy.deepcopy(model)`` pickle a module's hook dicts with
it; ``keep_out_of_pickles`` gives the module a ``__getstate__`` that leaves gradmedic's hooks out, so the
copy is not watched and the saved file loads without gradmedic, even with ``weights_only=True``.
"""

from __future__ import annotations

import logging
import types
from collections import OrderedDict
from typing import Any, Callable, Protocol

from torch import nn

HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks")


class Failing(Protocol):
    @property
    def disabled(self) -> bool: ...

    def fail(self, exc: BaseException) -> None: ...


class GuardedHook:
    def __init__(self, owner: Failing, fn: Callable[..., Any]) -> None:
        self.owner, self.fn = owner, fn

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        if self.owner.disabled:
            return None
        try:
            self.fn(*args, **kwargs)
        except Exception as exc:
            self.owner.fail(exc)
        return None

    def __reduce__(self) -> tuple[Any, ...]:
        # a last resort, where a hook is pickled by another route: a stdlib call that returns None
        return getattr, (logging.getLogger("gradmedic.detached_hook"), "debug")


def _state_without_gradmedic(module: nn.Module) -> dict[str, Any]:
    state = dict(type(module).__getstate__(module))
    state.pop("__getstate__", None)
    for key in HOOK_DICTS:
        hooks = state.get(key)
        if hooks and any(isinstance(h, GuardedHook) for h in hooks.values()):
            state[key] = OrderedDict((k, h) for k, h in hooks.items() if not isinstance(h, GuardedHook))
    return state


def keep_out_of_pickles(module: nn.Module) -> None:
    """Pickle ``module`` without gradmedic's hooks (an instance ``__getstate__``; idempotent)."""
    if "__getstate__" not in module.__dict__:
        object.__setattr__(module, "__getstate__", types.MethodType(_state_without_gradmedic, module))
