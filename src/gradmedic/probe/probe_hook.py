"""ProbeHook: every hook gradmedic registers, so that pickling and ``torch.compile`` can tell them apart.

Pickling leaves ProbeHooks out of a module's state (probe/pickling.py). Under ``torch.compile`` a
ProbeHook does nothing: dynamo traces it as an empty function, inlined in the graph of the module
that calls it or as a frame of its own when a module's hooks are called between graphs (the root
hooks of a compiled custom module), so watching adds no graph break, no op and no guard on the probe's
state. It notes that it was compiled, so the Monitor knows to run its sampled steps eagerly
(probe/eager_steps.py). A hook that dynamo lets run as it is while its frame callback is installed
(a frame past the recompile limit) runs with dynamo disabled, or dynamo would try to compile every
function it calls.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

try:
    from torch._C._dynamo.eval_frame import get_eval_frame_callback
except ImportError:  # a torch without dynamo's frame hook: nothing runs between graphs
    get_eval_frame_callback = type(None)


class ProbeHook:
    """A hook of gradmedic's: called like the function it wraps, and inert in compiled graphs."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.compiled = False  # this hook was reached under torch.compile (traced, or between graphs)

    def __call__(self, *args: Any) -> Any:
        if torch.compiler.is_compiling():
            self.compiled = True  # dynamo replays this store after the graph; the hook adds nothing else
            return None
        if get_eval_frame_callback() not in (None, False):  # dynamo let this frame run as it is
            self.compiled = True
            return _outside_dynamo()(self.fn, *args)
        return self.fn(*args)


_DISABLED: Callable[..., Any] | None = None


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def _outside_dynamo() -> Callable[..., Any]:
    """``_call`` with dynamo disabled while it runs (made when first needed: dynamo is loaded by then)."""
    global _DISABLED
    if _DISABLED is None:
        try:
            _DISABLED = torch._dynamo.disable(_call)
        except Exception:  # never raise into the user's forward pass: run it as it is
            _DISABLED = _call
    return _DISABLED
