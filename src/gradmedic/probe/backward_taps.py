"""The one wrapper gradmedic puts around ``torch.autograd.backward``, shared by all that listen to backward calls.

``Tensor.backward`` calls ``torch.autograd.backward``, so the one wrapper sees both. Listeners are the
monitors made by ``watch()`` (probe/loss_reader.py) and ``gradmedic run``'s script watcher (run.py). The
wrapper is installed when the first listener arrives and taken off when the last one leaves, in whatever
order they leave; ``GradScaler.scale`` is wrapped alongside, so that a scaled loss reaches the listeners
unscaled. When something else wrapped ``torch.autograd.backward`` over ours meanwhile, ours stays in its
chain and passes calls straight through from then on (a later install's wrapper reports them, once).

Each call is passed through unchanged: its arguments, its return value and its exceptions. A listener
that raises is dropped from the call and never reaches the script (the monitors guard their own).
"""

from __future__ import annotations

import functools
import sys
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import torch


@dataclass(frozen=True)
class BackwardCall:
    """One call of ``torch.autograd.backward`` as listeners see it."""

    tensors: Any  # the first argument, as given: a tensor or a sequence of them
    loss: torch.Tensor | None  # a single real scalar tensor given alone (unscaled when a GradScaler scaled it)
    scaled: bool  # ``loss`` was read back from a GradScaler's scaled output


class BackwardListener(Protocol):
    def before_backward(self, call: BackwardCall) -> None:
        """Before the pass: the graph is still whole."""

    def after_backward(self, call: BackwardCall) -> None:
        """After the pass returned normally (not called when it raised)."""


_listeners: list[BackwardListener] = []
_installed: list[tuple[Any, str, Any, Any]] = []  # (owner, name, original, ours) while installed
_scaled: tuple[weakref.ref[torch.Tensor], torch.Tensor] | None = None  # the last scaled loss and its unscaled value
_generation = [0]  # of the installed wrappers; an older one of ours left in a chain passes calls through


def listen(listener: BackwardListener) -> Callable[[], None]:
    """Report every backward call to ``listener`` until the returned function is called (safe to call twice)."""
    if not _listeners:
        _install()
    _listeners.append(listener)

    def stop() -> None:
        for i, known in enumerate(_listeners):
            if known is listener:
                del _listeners[i]
                break
        else:
            return
        if not _listeners:
            _uninstall()

    return stop


def listening() -> int:
    """How many listeners are registered (tests)."""
    return len(_listeners)


def _install() -> None:
    global _scaled
    _scaled = None
    _generation[0] += 1
    for owner, name, wrap in (
        (torch.autograd, "backward", _wrap_backward),
        (torch.amp.GradScaler, "scale", _wrap_scale),
    ):
        original = getattr(owner, name)
        ours = wrap(original)
        setattr(owner, name, ours)
        _installed.append((owner, name, original, ours))


def _uninstall() -> None:
    global _scaled
    _scaled = None
    while _installed:
        owner, name, original, ours = _installed.pop()
        if getattr(owner, name) is ours:  # else another wrapper holds ours; ours passes calls through
            setattr(owner, name, original)


def _call_of(tensors: Any) -> BackwardCall:
    try:
        return _read_call(tensors)
    except Exception:  # an odd argument: torch itself will say what is wrong with it
        return BackwardCall(tensors, None, False)


def _read_call(tensors: Any) -> BackwardCall:
    global _scaled
    if not (isinstance(tensors, torch.Tensor) and tensors.numel() == 1 and tensors.is_floating_point()):
        return BackwardCall(tensors, None, False)
    held = _scaled
    if held is not None and held[0]() is tensors:
        _scaled = None
        return BackwardCall(tensors, held[1], True)
    return BackwardCall(tensors, tensors, False)


def _tell(method: str, call: BackwardCall) -> None:
    for listener in tuple(_listeners):
        try:
            getattr(listener, method)(call)
        except Exception as exc:  # a listener's own bug: never the script's problem
            print(f"gradmedic: a backward listener failed ({type(exc).__name__}: {exc})", file=sys.stderr)


def _wrap_backward(original: Callable[..., Any]) -> Callable[..., Any]:
    generation = _generation[0]

    @functools.wraps(original)
    def backward(tensors: Any, *args: Any, **kwargs: Any) -> Any:
        if not _listeners or generation != _generation[0]:
            return original(tensors, *args, **kwargs)
        call = _call_of(tensors)
        _tell("before_backward", call)
        result = original(tensors, *args, **kwargs)  # its exceptions go to the script as they are
        _tell("after_backward", call)
        return result

    _left_to_run(backward)
    return backward


def _left_to_run(fn: Callable[..., Any]) -> None:
    """Have torch.compile run ``fn``'s frame as it is, as it runs ``torch.autograd.backward``'s own: a
    ``backward()`` inside a compiled function then breaks its graph once, as it does unwatched, and not a
    second time in here. Set on the code object through the C module, without loading dynamo."""
    try:
        from torch._C._dynamo.eval_frame import _FrameAction, _FrameExecStrategy, set_code_exec_strategy

        set_code_exec_strategy(fn.__code__, _FrameExecStrategy(_FrameAction.SKIP, _FrameAction.DEFAULT))
    except Exception:  # a torch without it: the extra graph break is all it costs
        pass


def _wrap_scale(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def scale(scaler: Any, outputs: Any) -> Any:
        global _scaled
        scaled = original(scaler, outputs)
        if isinstance(outputs, torch.Tensor) and outputs.numel() == 1 and isinstance(scaled, torch.Tensor):
            _scaled = (weakref.ref(scaled), outputs)
        return scaled

    return scale
