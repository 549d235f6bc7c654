"""Where exploding gradients grow, on synthetic records: through time (a recurrent radius >= 1) or not at all."""

from __future__ import annotations

import math

from gradmedic.advice import explain
from gradmedic.config import Config
from gradmedic.detectors import exploding
from gradmedic.detectors.engine import Engine
from gradmedic.records import LayerInfo, LayerStats, Recurrence, StepStats
from gradmedic.remedies.figures import far_from_healthy

CFG = Config()
LAYERS = {
    "rnn": LayerInfo(name="rnn", type="RNN", order=0),
    "head": LayerInfo(name="head", type="Linear", order=1, is_output=True),
}


def _step(step: int, norm: float, radius: float, steps: int = 300, loss: float = 1.0) -> StepStats:
    bad = not math.isfinite(norm)
    layers = {name: LayerStats(grad_norm=norm, nonfinite_grad=bad) for name in LAYERS}
    recurrence = {"rnn.weight_hh_l0": Recurrence("rnn", "weight_hh_l0", radius, steps)}
    return StepStats(step, layers, norm, loss=loss, losses={step: loss}, recurrence=recurrence)


def test_overflow_at_the_first_step_through_a_recurrent_weight_is_exploding_through_time() -> None:
    finding = exploding.detect([_step(0, math.inf, 1.05)], LAYERS, CFG)
    assert finding is not None and finding.severity == "error" and finding.layers == ("rnn",)
    assert finding.evidence["from_start"] and finding.evidence["through_time"]["rnn.weight_hh_l0"]["steps"] == 300
    diagnosis = explain(finding, LAYERS)
    assert diagnosis.remedies[0].name == "rescale_recurrent"
    assert "lower_lr" not in {r.name for r in diagnosis.remedies}


def test_no_cause_through_time_below_radius_one_or_over_short_sequences() -> None:
    assert exploding.detect([_step(0, math.inf, 0.95)], LAYERS, CFG) is None
    assert exploding.detect([_step(0, math.inf, 1.05, steps=5)], LAYERS, CFG) is None


def test_once_the_gradient_is_finite_again_the_rule_no_longer_fires() -> None:
    history = [_step(0, math.inf, 1.05)] + [_step(s, 1.0, 0.9) for s in range(1, 8)]
    assert exploding.detect(history, LAYERS, CFG) is None


def test_the_non_finite_diagnosis_names_the_explosion_as_its_cause() -> None:
    engine = Engine(CFG)
    engine.update(_step(0, math.inf, 1.05), LAYERS)
    assert engine.findings["non_finite"].evidence["explained_by"] == "exploding_gradients"
    assert engine.findings["exploding_gradients"].first_step == 0


def test_far_from_healthy_figures() -> None:
    before = {"loss": 2.3, "max_dead_fraction": 1.0}
    assert "still dead" in (far_from_healthy("dead", before, {"loss": 1.0, "max_dead_fraction": 0.47}, CFG) or "")
    assert far_from_healthy("dead", before, {"loss": 2.25, "max_dead_fraction": 0.3}, CFG) is None
    assert "still 1.0e-05x" in (far_from_healthy("weak_signal", {}, {"min_ratio_to_output": 1e-5}, CFG) or "")
    assert far_from_healthy("dead", before, {"loss": 0.6, "max_dead_fraction": 0.1}, CFG) is None
    assert far_from_healthy("unstable", before, {"loss": 5.0}, CFG) is None


# --- which layer the diagnosis names -----------------------------------------------------------------------
WLM = {  # pytorch/examples word_language_model's RNN_TANH: encoder (Embedding), rnn, decoder (as the probe lists them)
    "encoder": LayerInfo(name="encoder", type="Embedding", order=0, has_weights=False),
    "rnn": LayerInfo(name="rnn", type="RNN", order=1),
    "decoder": LayerInfo(name="decoder", type="Linear", order=2, is_output=True),
}


def _spiking(grads_before: dict[str, float], grads_after: dict[str, float], radius: float = 0.5) -> list[StepStats]:
    """Eight calm sampled steps, then a window whose global norm is 500x theirs (the spike rule)."""
    steps = []
    for i in range(CFG.exploding_min_history + CFG.window):
        calm = i < CFG.exploding_min_history
        grads = grads_before if calm else grads_after
        layers = {name: LayerStats(grad_norm=g) for name, g in grads.items()}
        recurrence = {"rnn.weight_hh_l0": Recurrence("rnn", "weight_hh_l0", radius, 35)}
        steps.append(StepStats(10 * i, layers, 1.0 if calm else 500.0, recurrence=recurrence))
    return steps


def test_an_embedding_whose_gradient_grew_most_is_not_named() -> None:
    # an embedding's gradient is row-wise and sparse: it jumps with the tokens a batch holds, and is no link
    # of the chain the gradient grows through (as in the depth profile, the rnn and decoder are)
    history = _spiking({"encoder": 0.01, "rnn": 1.0, "decoder": 2.0}, {"encoder": 50.0, "rnn": 30.0, "decoder": 40.0})
    finding = exploding.detect(history, WLM, CFG)
    assert finding is not None and "through_time" not in finding.evidence
    assert finding.layers == ("rnn",)  # grew 30x; the encoder grew 5000x, the decoder 20x
    assert "grew most in 'rnn'" in explain(finding, WLM).message


def test_with_no_link_measured_the_other_layers_are_ranked() -> None:
    history = _spiking({"encoder": 0.01}, {"encoder": 50.0})
    finding = exploding.detect(history, WLM, CFG)
    assert finding is not None and finding.layers == ("encoder",)


def test_an_explosion_through_time_names_the_recurrent_layer() -> None:
    # the decoder's gradient grew most, but the signal grows through the recurrent weight
    history = _spiking(
        {"encoder": 0.01, "rnn": 1.0, "decoder": 0.1}, {"encoder": 5.0, "rnn": 3.0, "decoder": 40.0}, 1.5
    )
    finding = exploding.detect(history, WLM, CFG)
    assert finding is not None and finding.evidence["through_time"]
    assert finding.layers == ("rnn",)
    assert "through time in 'rnn'" in explain(finding, WLM).message


def test_the_layer_named_with_a_cause_at_onset_stays() -> None:
    # a later window of the same severity, judged on weights the blow-up has changed, names another layer:
    # the cause found at onset (the recurrent weight) and its layer stay together
    engine = Engine(CFG)
    history = _spiking(
        {"encoder": 0.01, "rnn": 1.0, "decoder": 0.1}, {"encoder": 5.0, "rnn": 3.0, "decoder": 40.0}, 1.5
    )
    for stats in history:
        engine.update(stats, WLM)
    assert engine.findings["exploding_gradients"].layers == ("rnn",)
    for i in range(len(history), len(history) + CFG.window):
        later = {"encoder": 5.0, "rnn": 3.0, "decoder": 4000.0}
        engine.update(StepStats(10 * i, {n: LayerStats(grad_norm=g) for n, g in later.items()}, 5e4), WLM)
    standing = engine.findings["exploding_gradients"]
    assert standing.layers == ("rnn",) and standing.evidence["through_time"]
