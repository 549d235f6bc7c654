"""saturated_units: sigmoid or tanh outputs pinned at their asymptotes, where the derivative is ~0.

The detector is ``detectors/saturation.py``.
"""

from __future__ import annotations

from typing import Mapping

from ..advice import NORMALISE_INPUTS, SNIPPET_BATCHNORM, SNIPPET_RELU, init_snippet, names
from ..detectors import saturation
from ..records import Finding, Kind, LayerInfo
from .kind import Advice, FailureKind, Family, RemedyName

# what brings pre-activations back into the linear range, where the derivative is large
SHRINK_PRE_ACTIVATIONS = (
    Advice(
        RemedyName.INIT, "Use Xavier/Glorot init so pre-activations start in the linear range.", init_snippet("tanh")
    ),
    Advice(RemedyName.BATCH_NORM, "Normalise pre-activations with BatchNorm.", SNIPPET_BATCHNORM),
    NORMALISE_INPUTS,
)


def explain(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[Advice]]:
    fractions: Mapping[str, float] = f.evidence["saturated_fraction"]
    first = f.layers[0]
    message = (
        f"Saturated units: {fractions[first]:.0%} of the {f.evidence['activation'][first]} outputs of {names(f.layers)} "
        f"sit at their asymptotes since step {f.first_step}, where the derivative is below 1 % of its maximum. "
        "Gradients through them vanish."
    )
    remedies = [
        Advice(RemedyName.NON_SATURATING_ACTIVATION, "Use ReLU, ELU or GELU.", SNIPPET_RELU),
        *SHRINK_PRE_ACTIVATIONS,
    ]
    return message, remedies


def explain_checkup(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[Advice]]:
    ev = f.evidence
    first = f.layers[0]
    message = (
        f"Saturated at birth: {ev['saturated_fraction'][first]:.0%} of the {ev['activation'][first]} outputs of "
        f"{names(f.layers)} sit at their asymptotes on the sample batch, before any training, where the derivative "
        "is below 1 % of its maximum. The initial weights (or the inputs) are too large, and gradients through "
        "these units vanish."
    )
    remedies = [
        *SHRINK_PRE_ACTIVATIONS,
        Advice(RemedyName.NON_SATURATING_ACTIVATION, "Use ReLU (with He init), ELU or GELU.", SNIPPET_RELU),
    ]
    return message, remedies


KIND = FailureKind(
    name=Kind.SATURATED,
    title="Saturated units",
    about="Sigmoid or tanh outputs pinned near their limits have a derivative near zero, "
    "so almost no gradient passes back through them.",
    detect=saturation.detect,
    explain=explain,
    explain_checkup=explain_checkup,
    family=Family.WEAK_SIGNAL,
)
