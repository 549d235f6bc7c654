"""What a Keras activation can tell us, and its reductions inside the training graph.

Kinds are ``records.ActivationKind``, as for PyTorch; ``None`` means no activation (``"linear"``). The reductions run in the
sampled step's compiled function, on the tensor the layer produced, so no extra forward pass is needed.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from ..records import ActivationKind

# activation function name -> kind; a name not listed here is "other"
FUNCTION_KINDS: dict[str, ActivationKind | None] = {
    "linear": None,
    "relu": "relu",
    "relu6": "relu",
    "sigmoid": "sigmoid",
    "hard_sigmoid": "sigmoid",
    "tanh": "tanh",
    "hard_tanh": "tanh",
}

# torch-style class labels, so the advice reads the same for both frameworks ("Sigmoid", "Tanh", ...)
LABELS = {"relu": "ReLU", "relu6": "ReLU6", "sigmoid": "Sigmoid", "hard_sigmoid": "Hardsigmoid", "tanh": "Tanh"}

ACTIVATION_LAYERS = ("Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax")


def function_name(fn: Any) -> str:
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return str(name)


def activation_of(layer: Any) -> tuple[ActivationKind | None, str]:
    """(kind, label) of the activation a layer applies to its output; (None, "") when it applies none."""
    cls = type(layer).__name__
    if cls == "ReLU":
        leaky = float(getattr(layer, "negative_slope", 0.0) or 0.0) > 0
        return ("other", "LeakyReLU") if leaky else ("relu", "ReLU")
    if cls in ("LeakyReLU", "PReLU", "ELU", "Softmax"):
        return "other", cls
    fn = getattr(layer, "activation", None)
    if fn is None or not callable(fn):
        return None, ""
    name = function_name(fn)
    kind = FUNCTION_KINDS.get(name, "other")
    if kind is None:
        return None, ""
    return kind, LABELS.get(name, name)


def is_activation_layer(layer: Any) -> bool:
    return type(layer).__name__ in ACTIVATION_LAYERS


def unit_axis(layer: Any, rank: int) -> int:
    """The axis that holds a layer's units: channels for convolutions (last unless channels_first)."""
    if getattr(layer, "data_format", None) == "channels_first" and rank > 2:
        return 1
    return rank - 1


def reduce_parts(y: Any, kind: ActivationKind, axis: int, margin: float) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(zero_fraction, saturated_fraction, active per unit) of one activated output, as float32 tensors."""
    x = tf.cast(y, tf.float32)
    rank = x.shape.rank or 1
    axis = axis % rank
    others = [a for a in range(rank) if a != axis]
    zero = tf.reduce_mean(tf.cast(tf.equal(x, 0.0), tf.float32))
    if kind == "sigmoid":
        saturated = tf.reduce_mean(tf.cast(tf.abs(x - 0.5) > 0.5 - margin, tf.float32))
    elif kind == "tanh":
        saturated = tf.reduce_mean(tf.cast(tf.abs(x) > 1.0 - 2.0 * margin, tf.float32))
    else:
        saturated = tf.constant(0.0)
    active = tf.cast(tf.reduce_any(x > 0.0, axis=others), tf.float32) if others else tf.cast(x > 0.0, tf.float32)
    return zero, saturated, tf.reshape(active, [-1])


def reduce_in_graph(y: Any, kind: ActivationKind, axis: int, margin: float) -> tf.Tensor:
    """[zero_fraction, saturated_fraction, active per unit...] of one activated output, as float32."""
    zero, saturated, active = reduce_parts(y, kind, axis, margin)
    return tf.concat([tf.stack([zero, saturated]), active], 0)
