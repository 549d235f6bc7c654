"""GradmedicCallback on model.fit: each failure is caught, each healthy twin stays quiet."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import gradmedic
from gradmedic.keras import GradmedicCallback
from gradmedic.kinds.registry import get_kind
from gradmedic.records import Report

from .nets import dense_stack, digits, fit


def _watch(model: keras.Model, epochs: int = 1, **kwargs: object) -> Report:
    callback = GradmedicCallback(console=False, **kwargs)  # type: ignore[arg-type]
    fit(model, callback, epochs=epochs)
    return callback.report


def test_deep_sigmoid_stack_vanishes() -> None:
    report = _watch(dense_stack("sigmoid", 8))
    assert "vanishing_gradients" in report.kinds(at_least="warning")
    vanishing = next(d for d in report.diagnoses if d.kind == "vanishing_gradients")
    assert vanishing.layers[0] == "hidden0"
    assert report.steps == 29  # 1797 digits in batches of 64


def test_relu_twin_of_the_deep_stack_is_quiet() -> None:
    report = _watch(dense_stack("relu", 8, init="he_normal"))
    assert report.healthy, [(d.kind, d.severity) for d in report.diagnoses]


def test_huge_learning_rate_explodes() -> None:
    report = _watch(dense_stack("relu", 3, lr=50.0))
    assert report.kinds(at_least="warning") & {"exploding_gradients", "non_finite", "loss_divergence"}


def test_exploding_advice_is_a_keras_clip_at_the_learned_threshold() -> None:
    report = _watch(dense_stack("relu", 3, lr=3.0))
    exploding = next(d for d in report.diagnoses if d.kind == "exploding_gradients")
    clip = next(r for r in exploding.remedies if r.name == "clip_grad_norm")
    assert "global_clipnorm=" in clip.snippet and "torch" not in clip.snippet
    assert f"{exploding.evidence['suggested_clip']:.3g}" in clip.snippet


def test_moderate_learning_rate_twin_is_quiet() -> None:
    report = _watch(dense_stack("relu", 3, lr=0.05))
    assert report.healthy, [(d.kind, d.severity) for d in report.diagnoses]


def test_relu_pushed_negative_dies_and_names_the_first_dead_layer() -> None:
    report = _watch(dense_stack("relu", 4, bias=-5.0))
    dead = next(d for d in report.diagnoses if d.kind == "dead_units")
    assert dead.severity == "error"
    assert dead.evidence["cause"] == "hidden0"
    assert dead.layers[0] == "hidden0"


def test_relu_with_zero_bias_twin_is_quiet() -> None:
    report = _watch(dense_stack("relu", 4, bias=0.0))
    assert report.healthy, [(d.kind, d.severity) for d in report.diagnoses]


def test_stats_per_layer_reach_the_report_layers() -> None:
    report = _watch(dense_stack("tanh", 2), epochs=1)
    by_name = {info.name: info for info in report.layers}
    assert list(by_name) == ["hidden0", "hidden1", "out"]
    assert by_name["hidden0"].activation == "Tanh" and by_name["hidden0"].units == 32
    assert by_name["out"].is_output and by_name["out"].activation == ""


def test_activation_layer_is_filed_under_the_dense_layer_before_it() -> None:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(16, name="fc1"),
            keras.layers.BatchNormalization(name="bn1"),
            keras.layers.Activation("relu", name="act1"),
            keras.layers.Dense(10, name="out"),
        ]
    )
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    report = _watch(model, epochs=1)
    fc1 = next(info for info in report.layers if info.name == "fc1")
    assert (fc1.activation, fc1.activation_module, fc1.units) == ("ReLU", "act1", 16)
    assert not next(info for info in report.layers if info.name == "bn1").has_weights


def test_fit_is_restored_after_watching_and_a_second_fit_continues_the_count() -> None:
    model = dense_stack("relu", 2)
    optimizer = model.optimizer
    callback = GradmedicCallback(console=False)
    fit(model, callback, epochs=1)
    assert "apply" not in vars(optimizer)
    assert all("call" not in vars(layer) for layer in model.layers)
    fit(model, callback, epochs=1)
    assert callback.report.steps == 2 * 29
    x, y = digits()
    history = model.fit(x, y, batch_size=64, epochs=1, verbose=0)  # unwatched: Keras' own function
    assert np.isfinite(history.history["loss"][-1])


class StepsSeen(gradmedic.Sink):
    def __init__(self) -> None:
        self.steps: list[int] = []

    def write_step(self, stats: gradmedic.StepStats, layers: object) -> None:
        self.steps.append(stats.step)


def test_sinks_and_detectors_of_ones_own() -> None:
    """The deep sigmoid stack, watched for dead units only: no vanishing_gradients, and the sink sees steps."""
    sink = StepsSeen()
    report = _watch(dense_stack("sigmoid", 8), sinks=[sink], detectors=[get_kind("dead_units")])
    assert "vanishing_gradients" not in report.kinds()
    assert report.steps == 29 and sink.steps


def test_plans_of_ones_own_are_refused_with_a_way_out() -> None:
    with pytest.raises(TypeError, match="treat=True or treat=False"):
        GradmedicCallback(treat={"unstable": []})
