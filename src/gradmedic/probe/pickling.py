"""Hooks that stay behind when a watched model is pickled, deep-copied or saved whole.

torch keeps forward hooks in each module's ``__dict__``, so ``torch.save(model)`` and
``copy.deepcopy(model)`` would carry gradmedic's hooks into the copy: a pickling error for bound
methods, and a saved file that needs gradmedic to load. Every hook the probe registers is a
``ProbeHook``, and the modules' ``__getstate__`` (``nn.Module``'s, and that of every torch class
that defines its own, such as ``RNNBase``) leaves ``ProbeHook`` entries out of the state it returns.
The live model keeps its hooks; the copy has none of ours and never imports gradmedic.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from torch import nn

from .probe_hook import ProbeHook

# hook dicts that torch keys by the same handle id as the hook itself
_COMPANIONS = ("_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called")


def without_probe_hooks(state: dict[str, Any]) -> dict[str, Any]:
    """A module's pickled state without gradmedic's hooks; ``state`` is the copy ``__getstate__`` made."""
    dropped: set[Any] = set()
    for key, value in list(state.items()):
        if key.endswith("hooks") and isinstance(value, dict) and any(isinstance(h, ProbeHook) for h in value.values()):
            kept = type(value)((k, h) for k, h in value.items() if not isinstance(h, ProbeHook))
            dropped |= value.keys() - kept.keys()
            state[key] = kept
    for key in _COMPANIONS:
        companion = state.get(key)
        if dropped and isinstance(companion, dict) and dropped & companion.keys():
            state[key] = type(companion)((k, v) for k, v in companion.items() if k not in dropped)
    return state


def _filtering(original: Callable[[nn.Module], Any]) -> Callable[[nn.Module], Any]:
    @functools.wraps(original)
    def __getstate__(self: nn.Module) -> Any:
        state = original(self)
        return without_probe_hooks(state) if isinstance(state, dict) else state

    __getstate__._gradmedic_filters = True  # type: ignore[attr-defined]
    return __getstate__


def _module_classes(root: type[nn.Module]) -> list[type[nn.Module]]:
    seen: list[type[nn.Module]] = []
    stack = [root]
    while stack:
        cls = stack.pop()
        if cls not in seen:
            seen.append(cls)
            stack.extend(cls.__subclasses__())
    return seen


def install_state_filter(model: nn.Module) -> None:
    """Make pickling leave ProbeHooks out, for ``nn.Module`` and every class in ``model`` (idempotent)."""
    classes = {*_module_classes(nn.Module)} if not _installed() else set()
    classes |= {type(m) for m in model.modules()}
    for cls in classes:
        getstate = cls.__dict__.get("__getstate__")
        if getstate is not None and not getattr(getstate, "_gradmedic_filters", False):
            cls.__getstate__ = _filtering(getstate)  # type: ignore[method-assign]


def _installed() -> bool:
    return getattr(nn.Module.__getstate__, "_gradmedic_filters", False)
