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
