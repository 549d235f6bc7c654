"""vanishing_gradients: early layers' weight gradients orders of magnitude below the output layer's.

The detector is ``detectors/vanishing.py``; here are its words, its remedies and its place in treatment.
"""

from __future__ import annotations

from typing import Mapping

from ..advice import (
    BATCH_NORM,
    SNIPPET_RELU,
    checkup_activations,
    gain_profile,
    init_for,
    init_snippet,
    names,
    saturating_activations,
)
from ..detectors import vanishing
from ..numbers_text import sci
from ..records import Finding, Kind, LayerInfo
from .kind import Advice, FailureKind, Family, RemedyName


def explain(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[Advice]]:
    ratios: Mapping[str, float] = f.evidence["ratio_to_output"]
    worst = min(ratios.values())
    saturating = saturating_activations(layers, f.layers)
    why = (
        f"{'/'.join(sorted(set(saturating)))} derivatives are at most 0.25 (sigmoid) or 1 (tanh), "
        "so the gradient shrinks at every layer on the way back"
        if saturating
        else "each layer scales the backward signal down (too small an init, or too deep a plain stack)"
    )
    message = (
        f"Gradients vanish toward the input: the weight gradients of {names(f.layers)} are "
        f"{sci(worst)}x those of the output layer '{f.evidence['output_layer']}' (RMS per weight), "
        f"since step {f.first_step}. These layers barely learn: {why}."
    )
    remedies = []
    if saturating:
        acts = "/".join(sorted(set(saturating)))
        remedies.append(
            Advice(RemedyName.NON_SATURATING_ACTIVATION, f"Use ReLU or ELU instead of {acts}.", SNIPPET_RELU)
        )
    remedies.append(BATCH_NORM)
    remedies.append(
        Advice(
            RemedyName.INIT,
            "Re-initialise with a variance-preserving scale for the activation.",
            init_snippet("tanh" if saturating else "relu"),
        )
    )
    return message, remedies


def explain_checkup(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[Advice]]:
    ev = f.evidence
    ratios: Mapping[str, float] = ev["ratio_to_output"]
    kinds = checkup_activations(f)
    saturating = sorted(kinds & {"sigmoid", "tanh"})
    worst = min(ratios.values())
    bounds = {"sigmoid": "a sigmoid's derivative is at most 0.25", "tanh": "a tanh's derivative is at most 1"}
    why = (
        " and ".join(bounds[k] for k in saturating) + ", so each layer scales the gradient down"
        if saturating
        else "each layer scales the backward signal down: the initial weights are too small for this depth"
    )
    message = (
        f"Gradients will vanish: before any training, the backpropagated signal at {names(f.layers)} is "
        f"{sci(worst)}x that at the output layer '{ev['output_layer']}' {gain_profile(ev)}. Those layers will barely "
        f"learn: {why}."
    )
    remedies = []
    if saturating:
        remedies.append(
            Advice(
                RemedyName.NON_SATURATING_ACTIVATION,
                "Use ReLU (with He init), ELU or GELU instead of sigmoid/tanh.",
                SNIPPET_RELU,
            )
        )
    remedies.append(init_for(kinds))
    remedies.append(BATCH_NORM)
    return message, remedies


KIND = FailureKind(
    name=Kind.VANISHING,
    title="Vanishing gradients",
    about="The gradient shrinks layer by layer on its way back to the input, "
    "so the early layers hardly change and stop learning.",
    detect=vanishing.detect,
    explain=explain,
    explain_checkup=explain_checkup,
    family=Family.WEAK_SIGNAL,
)
