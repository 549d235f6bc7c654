"""The demo's Keras case: a deep sigmoid stack trained with ``model.fit`` caught with vanishing gradients,
next to its ReLU twin, both watched by ``gradmedic.keras.GradmedicCallback``.

It runs only where TensorFlow and Keras 3 are installed (``pip install "gradmedic[keras]"``) and Keras
runs on TensorFlow; ``missing()`` says why not, and the demo prints that line and goes on without it.
TensorFlow is imported only when a Keras case runs.
"""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..records import Report
from .scenarios import RunResult

DIGITS = 1797  # scikit-learn's bundled 8x8 digits
BATCH = 64


@dataclass(frozen=True)
class KerasScenario:
    name: str
    activation: str
    init: str
    expect: frozenset[str]  # kinds that must be diagnosed (any one of them); empty for the healthy twin
    depth: int = 8
    width: int = 32
    lr: float = 0.1
    epochs: int = 3

    @property
    def steps(self) -> int:
        return self.epochs * math.ceil(DIGITS / BATCH)


KERAS_SCENARIOS: dict[str, KerasScenario] = {
    s.name: s
    for s in [
        KerasScenario("keras_deep_sigmoid", "sigmoid", "glorot_uniform", frozenset({"vanishing_gradients"})),
        KerasScenario("keras_deep_relu", "relu", "he_normal", frozenset()),
    ]
}


def missing() -> str | None:
    """Why the Keras case cannot run here, or None when it can."""
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend != "tensorflow":
        return (
            f"KERAS_BACKEND is {backend!r}; gradmedic.keras watches Keras on TensorFlow (unset it, or set tensorflow)"
        )
    for package in ("tensorflow", "keras"):
        if importlib.util.find_spec(package) is None:
            return f"{package} is not installed (pip install 'gradmedic[keras]')"
    return None


def train_keras(
    scenario: KerasScenario, logdir: Path, progress: Callable[[int], None] | None = None, seed: int = 0
) -> tuple[RunResult, Report]:
    """Train one Keras scenario under the callback (logs in ``logdir``); returns (result, report)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    import keras
    from sklearn.datasets import load_digits

    from ..keras import GradmedicCallback

    data, target = load_digits(return_X_y=True)
    x, y = (data / 16.0).astype("float32"), target.astype("int64")
    keras.utils.set_random_seed(seed)
    layers: list[Any] = [keras.Input((64,))]
    for i in range(scenario.depth):
        layers.append(
            keras.layers.Dense(
                scenario.width, activation=scenario.activation, kernel_initializer=scenario.init, name=f"hidden{i}"
            )
        )
    layers.append(keras.layers.Dense(10, name="out"))
    model = keras.Sequential(layers, name=scenario.name)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.SGD(scenario.lr), loss=loss, metrics=["accuracy"])

    class Progress(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.done = 0

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.done += 1
            if progress is not None:
                progress(self.done)

    watcher = GradmedicCallback(logdir=logdir, console=False)
    model.fit(x, y, batch_size=BATCH, epochs=scenario.epochs, verbose=0, callbacks=[watcher, Progress()])
    final_loss, accuracy = model.evaluate(x, y, batch_size=256, verbose=0)
    report = watcher.close()
    return RunResult(float(final_loss), float(accuracy)), report
