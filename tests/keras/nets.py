"""Small dense Keras models on scikit-learn's bundled digits, the failures and their healthy twins."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from sklearn.datasets import load_digits


def digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype("float32"), y.astype("int64")


def dense_stack(
    activation: str,
    depth: int,
    *,
    width: int = 32,
    lr: float = 0.1,
    bias: float = 0.0,
    init: str = "glorot_uniform",
    seed: int = 0,
) -> keras.Model:
    """``depth`` hidden Dense layers named hidden0.. and an output layer named out, compiled with SGD."""
    keras.utils.set_random_seed(seed)
    layers: list[Any] = [keras.Input((64,))]
    for i in range(depth):
        layers.append(
            keras.layers.Dense(
                width,
                activation=activation,
                kernel_initializer=init,
                bias_initializer=keras.initializers.Constant(bias),
                name=f"hidden{i}",
            )
        )
    layers.append(keras.layers.Dense(10, name="out"))
    model = keras.Sequential(layers)
    model.compile(optimizer=keras.optimizers.SGD(lr), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def fit(model: keras.Model, callback: Any, epochs: int = 2, batch_size: int = 64) -> None:
    x, y = digits()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[callback])
