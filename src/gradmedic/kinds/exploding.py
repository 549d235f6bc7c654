"""exploding_gradients: the gradient norm spikes, grows within a window, grows through depth or through
time, or heads for overflow.

The detector is ``detectors/exploding.py`` (with ``detectors/growth.py`` for growth through time and
depth); the words for growth through time are in ``growth_advice.py``.
"""

from __future__ import annotations

from typing import Mapping

from .. import growth_advice
from ..advice import (
    BATCH_NORM,
    LOWER_LR,
    SNIPPET_WEIGHT_DECAY,
    checkup_activations,
    clip_snippet,
    gain_profile,
    init_for,
    init_snippet,
    names,
)
from ..detectors import exploding
from ..numbers_text import sci
from ..records import Finding, Kind, LayerInfo
from .kind import Advice, FailureKind, Family, RemedyName


def explain(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[Advice]]:
    ev = f.evidence
    parts = []
    rules = ev.get("rules", [])
    if "spike" in rules:
        parts.append(
            f"the global gradient norm is {ev['spike_factor']:.0f}x its earlier median ({sci(ev['baseline_norm'])})"
        )
    if "early" in rules:
        rose = " while the loss rose" if ev.get("loss_rose") else ""
        parts.append(
            f"the global gradient norm is {ev['early_factor']:.0f}x its first value ({sci(ev['first_norm'])}){rose}"
        )
    if "growth" in rules:
        parts.append(f"it grew {sci(ev['growth_in_window'])}x within a few sampled steps")
    if "overflow" in rules:
        parts.append(f"it reached {sci(ev['max_norm'])}, on its way to overflow")
    if "depth" in rules:
        parts.append(
            f"early layers' gradients are {names(f'{k} {v:.0f}x' for k, v in ev['ratio_to_output'].items())} the output layer's"
        )
    in_time = ev.get("through_time") or {}
    in_depth = ev.get("through_depth") or {}
    if in_time:
        parts.append(growth_advice.time_text(in_time))
    if ev.get("from_start"):
        parts.insert(0, "the gradient overflowed at the first step, before any update was applied")
    if "per_layer_gain" in ev and not in_depth:  # the depth cause says it in its why
        parts.append(f"each layer multiplies the backward signal by about {ev['per_layer_gain']:.2f}")
    recurrent = [i.name for i in layers.values() if i.type in ("RNN", "RNNCell")]
    if in_time:
        why = (
            "backpropagation through time multiplies the gradient by the recurrent weights at every time step, "
            "and a spectral radius above 1 compounds over the sequence"
        )
        if ev.get("from_start"):
            why += "; the learning rate is not the cause (no step had been taken yet), so lowering it cures nothing"
    elif in_depth:
        why = (
            f"each of {in_depth['layers']} layers multiplies the signal by about {in_depth['per_layer_gain']:.2f} "
            f"(its weights are that many times the variance-preserving scale), compounding to "
            f"{sci(in_depth['growth'])}x through depth; the learning rate is not the cause (no step had been taken "
            "yet), so lowering it cures nothing"
        )
    elif recurrent:
        why = "backpropagation through time multiplies by the recurrent weights at every time step"
    else:
        why = "each layer or step multiplies the gradient by a factor above one, and large updates feed back"
    where = f" (grew most in {names(f.layers)})" if f.layers else ""
    if in_time:
        where = f" through time in {names(f.layers)}"
    elif in_depth:
        where = f" through depth ({in_depth['layers']} layers)"
    message = f"Gradients explode{where} since step {f.first_step}: {'; '.join(parts)}. Why: {why}."
    clip = float(ev.get("suggested_clip", 1.0))
    remedies: list[Advice]
    if in_time:
        remedies = growth_advice.time_remedies(in_time, clip)
        if not ev.get("from_start"):
            remedies.append(LOWER_LR)
    elif in_depth:
        remedies = [
            Advice(
                RemedyName.INIT,
                "Re-initialise with a variance-preserving scale (He for ReLU, Xavier for tanh): "
                "each layer's gain is then about 1.",
                init_snippet("tanh" if "Tanh" in {i.activation for i in layers.values()} else "relu"),
            ),
            Advice(
                RemedyName.BATCH_NORM,
                "Normalise each layer's pre-activations, so the scale cannot compound.",
                BATCH_NORM.snippet,
            ),
            Advice(
                RemedyName.CLIP_GRAD_NORM,
                f"Clip the gradient norm (at {clip:.3g}), once the gradient is finite: clipping cannot repair Inf.",
                clip_snippet(clip),
            ),
        ]
    else:
        remedies = [
            Advice(
                RemedyName.CLIP_GRAD_NORM,
                f"Clip the gradient norm at {clip:.3g} ({ev.get('suggested_clip_basis', 'from the calm norms')}).",
                clip_snippet(clip),
            ),
            LOWER_LR,
        ]
        if recurrent:
            remedies.append(
                Advice(
                    RemedyName.GATED_RNN,
                    "Use an LSTM or GRU: gates keep the recurrent gradient in range.",
                    growth_advice.SNIPPET_GATED,
                )
            )
    remedies.append(
        Advice(RemedyName.WEIGHT_DECAY, "Regularise the weights so they cannot grow unchecked.", SNIPPET_WEIGHT_DECAY)
    )
    remedies.append(
        Advice(
            RemedyName.SMALLER_BATCHES,
            "Use smaller batches (and a learning rate scaled with them).",
            "loader = DataLoader(dataset, batch_size=32, shuffle=True)",
        )
    )
    return message, remedies


def explain_checkup(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[Advice]]:
    ev = f.evidence
    if ev.get("through_time"):
        return _checkup_through_time(f)
    ratios: Mapping[str, float] = ev["ratio_to_output"]
    worst = max(ratios.values())
    message = (
        f"Gradients will explode: before any training, the backpropagated signal at {names(f.layers)} is "
        f"{sci(worst)}x that at the output layer '{ev['output_layer']}' {gain_profile(ev)}. Each layer multiplies the "
        "gradient by more than one: the initial weights are too large for this depth."
    )
    remedies = [
        init_for(checkup_activations(f)),
        BATCH_NORM,
        Advice(RemedyName.CLIP_GRAD_NORM, "Clip the gradient norm while the init is being fixed.", clip_snippet(1.0)),
    ]
    return message, remedies


def _checkup_through_time(f: Finding) -> tuple[str, list[Advice]]:
    in_time = f.evidence["through_time"]
    grown = [
        f"the hidden state of '{c['layer']}' grows {c['hidden_growth']:.3g}x per time step"
        for c in in_time.values()
        if c.get("hidden_growth") is not None
    ]
    message = (
        f"Gradients will explode through time in {names(f.layers)}: before any training, "
        f"{growth_advice.time_text(in_time)}"
        + (f"; {'; '.join(grown)}" if grown else "")
        + ". Backpropagation through time multiplies the gradient by the recurrent weights at every time step, "
        "so a spectral radius above 1 compounds over the sequence, whatever the learning rate."
    )
    return message, growth_advice.time_remedies(in_time, 1.0)


KIND = FailureKind(
    name=Kind.EXPLODING,
    title="Exploding gradients",
    about="The gradient grows layer by layer, or step by step through time, until updates throw the "
    "weights around or overflow to Inf and NaN.",
    detect=exploding.detect,
    explain=explain,
    explain_checkup=explain_checkup,
    family=Family.UNSTABLE,
    # measured at onset, kept while the finding stands: later windows see the damage, not the cause
    onset_keys=(
        "suggested_clip",
        "suggested_clip_basis",
        "baseline_norm",
        "through_time",
        "through_depth",
        "from_start",
        "first_norm",
        "early_factor",
    ),
    cause_keys=("through_time", "through_depth"),
)
