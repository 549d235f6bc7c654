"""dead_units: units of a ReLU-like activation that are zero for every example over a window.

The detector is ``detectors/dead.py``; at initialisation, ``detectors/init_rules.py`` finds units born dead.
"""

from __future__ import annotations

from typing import Mapping

from ..advice import SNIPPET_BATCHNORM, SNIPPET_LEAKY, SNIPPET_LOWER_LR, SNIPPET_REVIVE, init_snippet
from ..detectors import dead
from ..records import Finding, Kind, LayerInfo
from .kind import Advice, FailureKind, Family, RemedyName

SNIPPET_REDRAW = """# a narrow ReLU stack can be born dead by bad luck of the draw: widen it, or redraw until it is alive
for attempt in range(20):
    report = gradmedic.checkup(model, x_sample)
    if "dead_units" not in report.kinds(at_least="warning"):
        break
    for m in model.modules():
        if isinstance(m, nn.Linear):
            m.reset_parameters()"""


def explain(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[Advice]]:
    fractions: Mapping[str, float] = f.evidence["dead_fraction"]
    cause = f.evidence["cause"]
    cascade = f.evidence["cascade"]
    info = layers.get(cause)
    act = f" (through {info.activation} module '{info.activation_module}')" if info and info.activation_module else ""
    message = (
        f"Dead units: {fractions[cause]:.0%} of the units of layer '{cause}'{act} output zero for every example "
        f"since step {f.first_step}. A ReLU whose input is negative for every example passes no gradient, "
        "so it never recovers."
    )
    if cascade:
        message += " The zeros cascade into " + ", ".join(f"'{n}' ({fractions[n]:.0%} dead)" for n in cascade) + "."
    remedies = [
        Advice(
            RemedyName.LEAKY_ACTIVATION,
            "Use LeakyReLU, PReLU or ELU: they keep a gradient for negative inputs.",
            SNIPPET_LEAKY,
        ),
        Advice(
            RemedyName.REVIVE_UNITS,
            "Revive the dead units (ReDo): fresh incoming weights, zero outgoing weights.",
            SNIPPET_REVIVE.format(layer=cause),
        ),
        Advice(
            RemedyName.LOWER_LR,
            "Lower the learning rate: large updates push units into the dead zone.",
            SNIPPET_LOWER_LR,
        ),
        Advice(
            RemedyName.INIT, "Re-initialise with He init and zero (or small positive) biases.", init_snippet("relu")
        ),
        Advice(RemedyName.BATCH_NORM, "Normalise pre-activations so they stay centred.", SNIPPET_BATCHNORM),
    ]
    return message, remedies


def explain_checkup(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[Advice]]:
    ev = f.evidence
    fractions: Mapping[str, float] = ev["dead_fraction"]
    cause = ev["cause"]
    if ev["born_dead"]:
        first = ev["dead_layers"][0]
        message = (
            f"Born dead: every unit of layer '{first}' is zero for every example of the batch, before any training. "
            "The layers after it see a constant, so the output does not depend on the input, and no gradient "
            "reaches the layers below it: training cannot start."
        )
        if cause != first:
            message += f" The dying starts in '{cause}' ({fractions[cause]:.0%} of its units dead)."
    else:
        message = (
            f"Dead at birth: {fractions[cause]:.0%} of the units of layer '{cause}' are zero for every example of "
            "the batch, before any training. A ReLU whose input is negative for every example passes no gradient, "
            "so these units may never learn."
        )
    cascade = [n for n in ev["cascade"] if n != cause]
    if cascade:
        message += " Also dead: " + ", ".join(f"'{n}' ({fractions[n]:.0%})" for n in cascade[:4])
        message += f" and {len(cascade) - 4} more." if len(cascade) > 4 else "."
    remedies = [
        Advice(
            RemedyName.LEAKY_ACTIVATION,
            "Use LeakyReLU, PReLU or ELU: they pass a gradient for negative inputs.",
            SNIPPET_LEAKY,
        ),
        Advice(
            RemedyName.INIT,
            "Use He init with zero biases: a negative bias or a bad scale starts units dead.",
            init_snippet("relu"),
        ),
        Advice(
            RemedyName.BATCH_NORM,
            "Normalise pre-activations with BatchNorm: each unit is then positive for part of the batch.",
            SNIPPET_BATCHNORM,
        ),
        Advice(
            RemedyName.WIDEN_OR_REDRAW,
            "Widen narrow layers (a ReLU layer of width N is all zero at an input with probability 2^-N at init), "
            "or redraw the init until the checkup passes.",
            SNIPPET_REDRAW,
        ),
    ]
    return message, remedies


KIND = FailureKind(
    name=Kind.DEAD,
    title="Dead units",
    about="A ReLU unit whose input is negative for every example outputs zero and gets a zero gradient, "
    "so it never recovers; the zeros starve the layers after it.",
    detect=dead.detect,
    explain=explain,
    explain_checkup=explain_checkup,
    family=Family.DEAD,
)
