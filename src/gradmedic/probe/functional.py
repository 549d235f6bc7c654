"""Functional activations seen where they are computed: a TorchFunctionMode for sampled forward passes.

``torch.tanh(...)``, ``F.relu(...)``, ``h.sigmoid()`` are no modules, so no module hook sees them. While
the probe's root hooks hold this mode entered (the training passes of a sampled step only), every torch
call passes through ``__torch_function__``; the activation calls among them hand their result to the
probe before it is concatenated, sliced or fed back into the next time step of a recurrent cell.
The mode sees the outermost call only (``F.tanh`` reaches it as ``Tensor.tanh``, and the ``torch.relu``
inside ``F.relu`` runs with the mode set aside), so one activation is reported once.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from ..records import ActivationKind


def _kinds() -> dict[Any, ActivationKind]:
    """Function object (as the mode receives it) -> activation kind, as in layers.ACTIVATION_KINDS."""
    names: dict[ActivationKind, list[tuple[Any, str]]] = {
        "relu": [
            (torch, "relu"),
            (torch, "relu_"),
            (torch.Tensor, "relu"),
            (torch.Tensor, "relu_"),
            (F, "relu"),
            (F, "relu_"),
            (F, "relu6"),
            (F, "threshold"),
            (F, "_threshold"),
        ],
        "sigmoid": [
            (torch, "sigmoid"),
            (torch, "sigmoid_"),
            (torch.Tensor, "sigmoid"),
            (torch.Tensor, "sigmoid_"),
            (torch.special, "expit"),
            (F, "hardsigmoid"),
        ],
        "tanh": [
            (torch, "tanh"),
            (torch, "tanh_"),
            (torch.Tensor, "tanh"),
            (torch.Tensor, "tanh_"),
            (F, "hardtanh"),
            (F, "hardtanh_"),
        ],
        "other": [
            (F, name)
            for name in ("gelu", "silu", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "celu", "mish")
            + ("softplus", "hardswish")
        ],
    }
    table: dict[Any, ActivationKind] = {}
    for kind, places in names.items():
        for owner, name in places:
            fn = getattr(owner, name, None)
            if fn is not None:
                table[fn] = kind
    return table


ACTIVATION_FUNCTIONS: dict[Any, ActivationKind] = _kinds()

# A model whose sampled passes showed no functional activation this many times in a row (its activations
# are modules) is not intercepted again: the mode costs Python on every torch call it sees.
IDLE_PASSES = 3


def under_compile() -> bool:
    """Whether ``torch.compile`` is at work: tracing, or running a hook eagerly between two compiled graphs."""
    if torch.compiler.is_compiling():
        return True
    try:  # a graph break runs the hook eagerly, with dynamo's frame callback still installed
        from torch._C._dynamo.eval_frame import get_eval_frame_callback

        return get_eval_frame_callback() not in (None, False)
    except Exception:  # a torch without it: the check above is all there is
        return False


class ActivationMode(TorchFunctionMode):
    """Passes every torch call through, and reports (kind, result) of each functional activation.

    ``enter``/``leave`` instead of a ``with`` block: the root pre-hook enters, the root post-hook leaves.
    A pass that raised leaves it entered; the next ``enter`` or ``leave`` takes it off the stack then.
    """

    def __init__(self, on_activation: Callable[[ActivationKind, Any], Any]) -> None:
        super().__init__()
        self.on_activation = on_activation
        self.entered = False  # reporting: inside a sampled training pass
        self.on_stack = False
        self.found = False  # this pass measured a functional activation (the probe says so)
        self.idle = 0  # passes in a row without one

    @property
    def retired(self) -> bool:
        return self.idle >= IDLE_PASSES

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **kwargs) if kwargs else func(*args)  # every torch call of the pass: kept lean
        if func in ACTIVATION_FUNCTIONS and self.entered:
            self.on_activation(ACTIVATION_FUNCTIONS[func], out)
        return out

    def enter(self) -> None:
        self.leave()
        self.found = False
        if not self.on_stack:  # still there when another mode was left above it
            self.__enter__()
            self.on_stack = True
        self.entered = True

    def leave(self) -> None:
        """Take the mode off the stack if it is on top; otherwise it stays there, passing calls through."""
        if self.entered:
            self.idle = 0 if self.found else self.idle + 1
        self.entered = False
        if not self.on_stack:
            return
        try:
            if torch.overrides._get_current_function_mode() is self:
                self.__exit__(None, None, None)
                self.on_stack = False
        except Exception:  # never raise into the user's forward pass
            pass
