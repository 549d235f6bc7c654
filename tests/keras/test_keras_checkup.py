"""gradmedic.keras.checkup: the PyTorch checkup's verdicts, measured on a Keras model before training."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from gradmedic.keras import checkup

from .nets import dense_stack, digits


def _batch(n: int = 128) -> tuple[np.ndarray, np.ndarray]:
    x, y = digits()
    return x[:n], y[:n]


def test_deep_sigmoid_stack_is_predicted_to_vanish() -> None:
    x, y = _batch()
    report = checkup(dense_stack("sigmoid", 10), x, y)
    assert "vanishing_gradients" in report.kinds(at_least="warning")
    assert report.steps == 0 and report.loss == "compiled_loss" and report.batch_size == 128
    assert [layer.name for layer in report.checkup][0] == "hidden0"
    assert report.checkup[-1].name == "out" and report.checkup[-1].is_output


def test_relu_stack_pushed_negative_is_born_dead() -> None:
    x, _ = _batch()
    report = checkup(dense_stack("relu", 4, bias=-5.0), x)  # no targets: a random projection of the output
    dead = next(d for d in report.diagnoses if d.kind == "dead_units")
    assert dead.severity == "error" and dead.evidence["cause"] == "hidden0" and dead.evidence["born_dead"]
    assert report.loss == "random_projection"


def test_healthy_relu_stack_passes_and_the_model_is_left_as_it_was() -> None:
    x, y = _batch()
    model = dense_stack("relu", 4, init="he_normal")
    before = [w.copy() for w in model.get_weights()]
    report = checkup(model, x, y)
    assert report.healthy, [(d.kind, d.severity) for d in report.diagnoses]
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert all("call" not in vars(layer) for layer in model.layers)


def test_batchnorm_state_and_dropout_are_left_alone() -> None:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32, name="fc"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.Activation("relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(10, name="out"),
        ]
    )
    moving = [v.numpy().copy() for v in model.non_trainable_variables]
    x, y = _batch()
    report = checkup(model, x, y)
    fc = next(layer for layer in report.checkup if layer.name == "fc")
    assert fc.activation == "relu" and fc.dead_units is not None
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(moving, model.non_trainable_variables))


def test_same_weights_same_verdicts_as_the_pytorch_checkup() -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed: no PyTorch checkup to compare with")
    import gradmedic

    x, y = _batch()
    for activation, bias in (("sigmoid", 0.0), ("relu", -5.0), ("tanh", 0.0)):
        model = dense_stack(activation, 8, bias=bias)
        modules: list[torch.nn.Module] = []
        for layer in model.layers:
            kernel, b = layer.get_weights()
            linear = torch.nn.Linear(kernel.shape[0], kernel.shape[1])
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(kernel.T.copy()))
                linear.bias.copy_(torch.from_numpy(b))
            modules.append(linear)
            if layer.name != "out":
                modules.append(
                    {"sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[activation]()
                )
        twin = torch.nn.Sequential(*modules)
        ours = checkup(model, x, y, loss_fn=_sparse_ce)
        theirs = gradmedic.checkup(twin, torch.from_numpy(x), torch.from_numpy(y))
        assert ours.kinds(at_least="warning") == theirs.kinds(at_least="warning"), activation
        for a, b in zip(ours.checkup, theirs.checkup):
            assert a.grad_norm == pytest.approx(b.grad_norm, rel=1e-3, abs=1e-12)


def _sparse_ce(y_true: object, y_pred: object) -> object:
    return keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)


def test_the_advice_is_written_in_keras() -> None:
    x, y = _batch()
    report = checkup(dense_stack("relu", 4, bias=-5.0), x, y)
    dead = next(d for d in report.diagnoses if d.kind == "dead_units")
    snippets = "\n".join(r.snippet for r in dead.remedies)
    assert "keras" in snippets and "torch" not in snippets and "nn." not in snippets


def test_every_remedy_the_advice_can_give_has_a_keras_snippet() -> None:
    """Every remedy an explanation of a built-in kind names (kinds/*.py and advice.py; growth through time is
    measured on PyTorch recurrent weights only) has its Keras snippet."""
    import re
    from pathlib import Path

    import gradmedic.advice
    import gradmedic.kinds
    from gradmedic.keras.advice import SNIPPETS
    from gradmedic.kinds.kind import RemedyName

    sources = [Path(gradmedic.advice.__file__), *Path(gradmedic.kinds.__file__).parent.glob("*.py")]
    named = {m for path in sources for m in re.findall(r"RemedyName\.([A-Z_]+)", path.read_text())}
    advised = {RemedyName[m].value for m in named}
    assert {"init", "clip_grad_norm", "revive_units"} <= advised  # the scan finds them
    assert advised <= set(SNIPPETS), sorted(advised - set(SNIPPETS))
