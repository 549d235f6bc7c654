"""Model shapes beyond a Sequential of Dense layers: saturation, convolutions, subclassed models, failures."""

from __future__ import annotations

import keras
import pytest

from gradmedic.keras import GradmedicCallback, checkup
from gradmedic.keras.probe import Probe

from .nets import dense_stack, digits, fit


def test_tanh_stack_with_a_huge_init_saturates_during_training_and_at_the_checkup() -> None:
    big = keras.initializers.RandomNormal(stddev=3.0, seed=0)
    model = dense_stack("tanh", 3, init=big)
    x, y = digits()
    assert "saturated_units" in checkup(model, x[:128], y[:128]).kinds(at_least="warning")
    callback = GradmedicCallback(console=False)
    fit(model, callback, epochs=1)
    saturated = next(d for d in callback.report.diagnoses if d.kind == "saturated_units")
    assert "hidden0" in saturated.layers


class TwoLayers(keras.Model):
    def __init__(self) -> None:
        super().__init__()
        self.conv = keras.layers.Conv2D(8, 3, activation="relu", name="conv")
        self.flat = keras.layers.Flatten()
        self.fc = keras.layers.Dense(10, name="fc")

    def call(self, x: object) -> object:
        return self.fc(self.flat(self.conv(x)))


def test_subclassed_conv_model_counts_channels_as_units() -> None:
    keras.utils.set_random_seed(0)
    model = TwoLayers()
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = digits()
    callback = GradmedicCallback(console=False)
    model.fit(x.reshape(-1, 8, 8, 1), y, batch_size=64, epochs=1, verbose=0, callbacks=[callback])
    conv = next(info for info in callback.report.layers if info.name == "conv")
    assert (conv.activation, conv.units) == ("ReLU", 8)
    assert callback.report.steps == 29
    # fit built the model in its first step: watched from the second, and the report says so
    assert [i.step for i in callback.report.incidents] == [0]


def test_an_internal_error_never_breaks_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Probe) -> None:
        raise RuntimeError("probe exploded")

    monkeypatch.setattr(Probe, "read", broken)
    model = dense_stack("relu", 2)
    callback = GradmedicCallback(console=False)
    with pytest.warns(RuntimeWarning, match="gradmedic stopped watching"):
        x, y = digits()
        history = model.fit(x, y, batch_size=64, epochs=1, verbose=0, callbacks=[callback])
    assert len(history.history["loss"]) == 1
    assert [i.component for i in callback.report.incidents] == ["monitor"]
    assert "apply" not in vars(model.optimizer)


def test_an_unbuilt_model_gets_a_clear_error_from_the_checkup() -> None:
    model = keras.Sequential([keras.layers.Dense(4)])
    with pytest.raises(ValueError, match="not built"):
        checkup(model, {"not": "a batch"})


def test_xla_compiled_fit_is_watched() -> None:
    model = dense_stack("sigmoid", 8)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,  # Keras' default on a GPU: the sampled twin must compile under XLA too
    )
    callback = GradmedicCallback(console=False)
    fit(model, callback, epochs=1)
    assert "vanishing_gradients" in callback.report.kinds(at_least="warning")
    assert not callback.report.incidents


def test_a_sampled_step_that_cannot_be_traced_falls_back_to_keras_own(monkeypatch: pytest.MonkeyPatch) -> None:
    def untraceable(self: Probe, packed: object) -> None:
        raise ValueError("cannot trace this")

    monkeypatch.setattr(Probe, "_output", untraceable)
    model = dense_stack("relu", 2)
    callback = GradmedicCallback(console=False)
    x, y = digits()
    with pytest.warns(RuntimeWarning, match="could not run"):
        history = model.fit(x, y, batch_size=64, epochs=2, verbose=0, callbacks=[callback])
    assert len(history.history["loss"]) == 2
    assert model.optimizer.iterations.numpy() == 2 * 29  # every step trained, the first one by Keras' function
    assert [i.component for i in callback.report.incidents] == ["monitor"]


def test_bad_arguments_are_refused_before_training() -> None:
    with pytest.raises(ValueError, match="every must be >= 1"):
        GradmedicCallback(every=0)
    with pytest.raises(TypeError, match="gradmedic.Config"):
        GradmedicCallback(config={"every": 5})  # type: ignore[arg-type]
