"""The loss a script calls ``backward()`` on, read for a monitor whose script never hands it over.

A training forward pass of the model leaves a pre-hook on the autograd node that made its output (one
``grad_fn.register_prehook``, about half the cost of a tensor hook); the hook only notes that the
output received a gradient. A scalar loss whose backward pass set that note is
the model's loss, handed to the monitor once the pass has returned (probe/backward_taps.py reports the
calls). So each of two watched models (a GAN's generator and discriminator) gets only the losses whose
backward passes go through it, and a backward pass that reaches no watched model is left alone.
"""

from __future__ import annotations

from typing import Callable

import torch

from . import backward_taps
from .backward_taps import BackwardCall


class LossReader:
    """Hands ``hand(loss)`` each scalar loss whose backward pass reached an output given to ``watch``."""

    def __init__(self, hand: Callable[[torch.Tensor], None]) -> None:
        self._hand = hand
        self._reached = False
        self._stop = backward_taps.listen(self)

    def watch(self, tensors: list[torch.Tensor]) -> None:
        """A training pass's output tensors: the first one that takes a gradient gets the hook."""
        for tensor in tensors:
            if tensor.requires_grad:
                node = tensor.grad_fn
                if node is not None:
                    node.register_prehook(self._mark)
                else:  # a leaf: the model returned a parameter
                    tensor.register_hook(self._mark)
                return

    def _mark(self, grad: object) -> None:
        self._reached = True

    def before_backward(self, call: BackwardCall) -> None:
        if call.loss is not None:
            self._reached = False  # a note left by torch.autograd.grad or a failed pass is no evidence

    def after_backward(self, call: BackwardCall) -> None:
        if call.loss is not None and self._reached:
            self._reached = False
            self._hand(call.loss)

    def close(self) -> None:
        self._stop()
