"""Built-in recurrent layers: their output is an activation of their own.

``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` (and their ``*Cell`` forms) apply tanh, sigmoid or relu inside one
fused kernel, out of reach of any hook or mode. What comes out is the hidden state: ``tanh`` (RNN) or a
mix of tanh values (GRU: a convex blend of tanh outputs; LSTM: ``o * tanh(c)``), bounded by one and
saturated near it, or ``relu`` (``nn.RNN(nonlinearity="relu")``), whose units can die. The output
sequence (every time step, every direction) is measured; ``h_n`` and the LSTM cell state are not.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from ..records import ActivationKind

RECURRENT_TYPES: tuple[type[nn.Module], ...] = (nn.RNNBase, nn.RNNCellBase)


def recurrent_kind(module: nn.Module) -> ActivationKind | None:
    """The activation kind of a built-in recurrent layer's output, or None when it has none to measure."""
    if not isinstance(module, RECURRENT_TYPES):
        return None
    if getattr(module, "proj_size", 0):  # an LSTM with a projection: its output is a linear map, unbounded
        return None
    if getattr(module, "mode", None) == "RNN_RELU" or getattr(module, "nonlinearity", "tanh") == "relu":
        return "relu"
    return "tanh"


def recurrent_output(output: Any) -> torch.Tensor | None:
    """The hidden-state sequence among a recurrent layer's outputs: ``out`` of ``(out, h_n)``, a cell's ``h``."""
    if isinstance(output, tuple) and not isinstance(output, PackedSequence) and output:
        output = output[0]  # (out, h_n), (out, (h_n, c_n)), or a LSTMCell's (h, c)
    if isinstance(output, PackedSequence):
        output = output.data  # [sum of lengths, units]
    if isinstance(output, torch.Tensor) and output.is_floating_point() and output.ndim >= 1:
        return output
    return None
