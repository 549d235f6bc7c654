"""loss_divergence: the loss climbs far above its best and past where it started, or far above the first
losses (an early blow-up). The detector is ``detectors/divergence.py``.
"""

from __future__ import annotations

from typing import Mapping

from ..advice import LOWER_LR, clip_at, clip_snippet
from ..detectors import divergence
from ..records import Finding, Kind, LayerInfo
from .kind import Advice, FailureKind, Family, RemedyName


def explain(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[Advice]]:
    ev = f.evidence
    if ev.get("reference") == "initial loss":
        message = (
            f"The loss blew up from step {f.first_step}: {ev['loss']:.3g} now, {ev['factor']:.0f}x where it "
            f"started ({ev['initial_loss']:.3g}). The learning rate is most likely far too high."
        )
    else:
        message = (
            f"The loss diverges since step {f.first_step}: {ev['loss']:.3g} now, {ev['factor']:.0f}x its best "
            f"({ev['best_loss']:.3g}) and above where it started ({ev['initial_loss']:.3g})."
        )
    remedies = [
        LOWER_LR,
        Advice(RemedyName.CLIP_GRAD_NORM, "Clip the gradient norm.", clip_snippet(clip_at(f.evidence, 1.0))),
    ]
    return message, remedies


KIND = FailureKind(
    name=Kind.LOSS_DIVERGENCE,
    title="Diverging loss",
    about="The loss climbed far above its best value, or far above where it started, instead of going down.",
    detect=divergence.detect,
    explain=explain,
    family=Family.UNSTABLE,
)
