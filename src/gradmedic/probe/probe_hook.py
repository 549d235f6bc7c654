"""ProbeHook: every module hook gradmedic registers, so that pickling and ``torch.compile`` can tell them apart.

Pickling leaves ProbeHooks out of a module's state (probe/pickling.py). Under ``torch.compile`` a
ProbeHook does nothing inside a graph: dynamo traces it as an empty function (no graph break, no op,
no guard on the probe's state), and it notes that it was compiled, so the Monitor knows to run its
sampled steps eagerly (probe/eager_steps.py). A hook that dynamo meets between compiled frames (the
root module's hooks of a compiled custom module are called so) runs as it is, and so does everything
it calls (``keep_out_of_dynamo``): otherwise dynamo would try to compile each of those functions.
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
        if get_eval_frame_callback() not in (None, False):
            self.compiled = True  # called between graphs: runs as it is (keep_out_of_dynamo)
        return self.fn(*args)


def keep_out_of_dynamo() -> None:
    """Have dynamo run a ProbeHook it meets between graphs as it is, and every function the hook calls.

    Set on the code object, where ``torch._dynamo.reset()`` clears it: made at import, again whenever a
    monitor attaches.
    """
    try:
        from torch._C._dynamo.eval_frame import _FrameAction, _FrameExecStrategy, set_code_exec_strategy

        skip = _FrameAction.SKIP
        set_code_exec_strategy(ProbeHook.__call__.__code__, _FrameExecStrategy(skip, skip))
    except Exception:  # a torch without it: dynamo compiles the hook into an empty frame instead
        pass


keep_out_of_dynamo()
