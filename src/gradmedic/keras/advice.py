"""The remedies' snippets in Keras: the same ranked advice as ``gradmedic.advice``, ready to paste into a
Keras script. A remedy without a Keras snippet here keeps the shared one. No tensorflow is imported.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Callable

from ..records import Diagnosis, Remedy, Report
from ..sinks.base import SinkSet

SNIPPETS: dict[str, Callable[[Remedy, Diagnosis], str]] = {}


def snippet(name: str) -> Callable[[Callable[[Remedy, Diagnosis], str]], Callable[[Remedy, Diagnosis], str]]:
    def register(fn: Callable[[Remedy, Diagnosis], str]) -> Callable[[Remedy, Diagnosis], str]:
        if name in SNIPPETS:
            raise ValueError(f"a Keras snippet for {name!r} is already registered")
        SNIPPETS[name] = fn
        return fn

    return register


def _layer(d: Diagnosis) -> str:
    return str(d.evidence.get("cause") or (d.layers[0] if d.layers else "dense"))


@snippet("clip_grad_norm")
def _clip(r: Remedy, d: Diagnosis) -> str:
    found = re.search(r"max_norm=([0-9.eE+-]+)", r.snippet)
    at = found.group(1) if found else "1.0"
    return f"""# clip the global gradient norm: the optimizer does it before each update
optimizer = keras.optimizers.Adam(learning_rate=1e-3, global_clipnorm={at})
model.compile(optimizer=optimizer, loss=loss)"""


@snippet("lower_lr")
def _lower_lr(r: Remedy, d: Diagnosis) -> str:
    return """# lower the learning rate (10x here); takes effect at once, no recompile needed
model.optimizer.learning_rate = float(model.optimizer.learning_rate) * 0.1"""


@snippet("lr_warmup")
def _warmup(r: Remedy, d: Diagnosis) -> str:
    return """# a linear warm-up over the first 1000 steps, then the base rate
schedule = keras.optimizers.schedules.CosineDecay(0.0, 1, alpha=1.0, warmup_target=1e-3, warmup_steps=1000)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule), loss=loss)"""


@snippet("non_saturating_activation")
def _relu(r: Remedy, d: Diagnosis) -> str:
    return """# non-saturating activations instead of sigmoid/tanh in the hidden layers
keras.layers.Dense(64, activation="relu", kernel_initializer="he_normal")   # or "elu", "gelu\""""


@snippet("leaky_activation")
def _leaky(r: Remedy, d: Diagnosis) -> str:
    return """# a leaky activation keeps a gradient for negative inputs, so units cannot die
keras.layers.Dense(64, activation="leaky_relu")   # or "elu"; or Dense(64) followed by keras.layers.PReLU()"""


@snippet("batch_norm")
def _batch_norm(r: Remedy, d: Diagnosis) -> str:
    return """# normalise pre-activations: BatchNormalization between each Dense (or Conv) and its activation
keras.layers.Dense(64, use_bias=False), keras.layers.BatchNormalization(), keras.layers.Activation("relu")"""


@snippet("init")
def _init(r: Remedy, d: Diagnosis) -> str:
    he = "kaiming" in r.snippet
    name = "he_normal" if he else "glorot_uniform"
    return f"""# variance-preserving initialisation ({"He" if he else "Xavier/Glorot"}) and zero biases
keras.layers.Dense(64, activation=..., kernel_initializer="{name}", bias_initializer="zeros")"""


@snippet("weight_decay")
def _weight_decay(r: Remedy, d: Diagnosis) -> str:
    return """# weight regularisation: decoupled weight decay in the optimizer
optimizer = keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=1e-2)"""


@snippet("smaller_batches")
def _smaller_batches(r: Remedy, d: Diagnosis) -> str:
    return "model.fit(x, y, batch_size=32)   # and scale the learning rate with the batch size"


@snippet("check_data")
def _check_data(r: Remedy, d: Diagnosis) -> str:
    return "import numpy as np\nassert np.isfinite(x).all() and np.isfinite(y).all()"


@snippet("revive_units")
def _revive(r: Remedy, d: Diagnosis) -> str:
    return f"""# revive dead units: re-initialise the kernel columns of units that are never positive on a batch
layer = model.get_layer("{_layer(d)}")
dead = (keras.Model(model.inputs, layer.output).predict(x_batch) <= 0).all(axis=0)
kernel, bias = layer.get_weights()
kernel[:, dead] = keras.initializers.HeNormal()(kernel.shape).numpy()[:, dead]
bias[dead] = 0.0
layer.set_weights([kernel, bias])"""


@snippet("widen_or_redraw")
def _redraw(r: Remedy, d: Diagnosis) -> str:
    return """# a narrow ReLU stack can be born dead by bad luck of the draw: widen it, or redraw until it is alive
for seed in range(20):
    keras.utils.set_random_seed(seed)
    model = build_model()   # your own function that makes the model
    if "dead_units" not in gradmedic.keras.checkup(model, x_sample).kinds(at_least="warning"):
        break"""


@snippet("gated_rnn")
def _gated(r: Remedy, d: Diagnosis) -> str:
    return "keras.layers.LSTM(64)   # or keras.layers.GRU(64): gates keep the recurrent gradient in range"


@snippet("normalise_inputs")
def _normalise(r: Remedy, d: Diagnosis) -> str:
    return """norm = keras.layers.Normalization()
norm.adapt(x_train)   # then make norm the model's first layer"""


@snippet("stable_loss")
def _stable_loss(r: Remedy, d: Diagnosis) -> str:
    return """# logits into a loss that applies the softmax itself, never log(softmax(...)) by hand
loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)   # and no softmax on the last layer"""


def for_keras(diagnosis: Diagnosis) -> Diagnosis:
    """The diagnosis with each remedy's snippet in Keras, where there is one."""
    remedies = tuple(
        replace(r, snippet=SNIPPETS[r.name](r, diagnosis)) if r.name in SNIPPETS else r for r in diagnosis.remedies
    )
    return replace(diagnosis, remedies=remedies)


def keras_report(report: Any) -> Any:
    """A report (or checkup report) whose diagnoses carry Keras snippets."""
    return replace(report, diagnoses=[for_keras(d) for d in report.diagnoses])


class KerasSinkSet(SinkSet):
    """The shared sinks, handed diagnoses with Keras snippets."""

    def write_diagnosis(self, diagnosis: Diagnosis, step: int) -> None:
        super().write_diagnosis(for_keras(diagnosis), step)

    def close(self, report: Report) -> None:
        super().close(keras_report(report))
