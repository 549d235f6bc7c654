"""non_finite: NaN or Inf in the loss, the gradients or the weights.

The detector is ``detectors/nonfinite.py``. When gradients exploding through time came first, the engine
marks this finding ``explained_by`` that explosion, and the advice points there first.
"""

from __future__ import annotations

from typing import Mapping

from ..advice import SNIPPET_LOWER_LR, STABLE_LOSS, clip_at, clip_snippet, init_snippet, names
from ..detectors import nonfinite
from ..numbers_text import sci
from ..records import EXPLODING, Finding, Kind, LayerInfo
from .kind import Advice, FailureKind, Family, RemedyName

CHECK_DATA = "assert torch.isfinite(x).all() and torch.isfinite(y).all()"


def explain(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[Advice]]:
    where = " and ".join(f.evidence["in"])
    origin = f" (first in {names(f.layers)})" if f.layers else ""
    last = f.evidence.get("last_finite_grad_norm")
    before = f" The last finite gradient norm was {sci(last)}." if last is not None else ""
    message = (
        f"NaN or Inf in the {where}{origin} from step {f.first_step}. Once a weight is non-finite, "
        f"every later step is lost.{before}"
    )
    lower_lr = Advice(
        RemedyName.LOWER_LR, "Lower the learning rate: too large a step overflows the weights.", SNIPPET_LOWER_LR
    )
    if f.evidence.get("explained_by") == EXPLODING:
        # the gradient overflowed through time or depth, not through a large step: see that diagnosis first
        lower_lr = Advice(
            RemedyName.LOWER_LR,
            "Lower the learning rate only if the step size is the cause (see exploding_gradients for where it grows).",
            SNIPPET_LOWER_LR,
        )
    remedies = [
        lower_lr,
        Advice(
            RemedyName.CLIP_GRAD_NORM,
            "Clip the gradient norm.",
            clip_snippet(clip_at(f.evidence, float(last) if last else 1.0)),
        ),
        STABLE_LOSS,
        Advice(RemedyName.CHECK_DATA, "Check the inputs and targets for NaN.", CHECK_DATA),
    ]
    if f.evidence.get("explained_by") == EXPLODING:
        remedies = remedies[1:] + remedies[:1]
    return message, remedies


def explain_checkup(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[Advice]]:
    where = " and ".join(f.evidence["in"])
    origin = f" (first in {names(f.layers)})" if f.layers else ""
    message = (
        f"NaN or Inf in the {where}{origin} of the sample pass, before any training: the first step would "
        "spread it into every weight."
    )
    remedies = [
        Advice(RemedyName.CHECK_DATA, "Check the inputs and targets for NaN and Inf.", CHECK_DATA),
        STABLE_LOSS,
        Advice(
            RemedyName.INIT,
            "Re-initialise with a variance-preserving scale: an oversized init overflows.",
            init_snippet("relu"),
        ),
    ]
    return message, remedies


KIND = FailureKind(
    name=Kind.NON_FINITE,
    title="NaN or Inf",
    about="A NaN or an Inf appeared in the loss, a gradient or a weight; "
    "from there on every update spreads it and training computes nothing useful.",
    detect=nonfinite.detect,
    explain=explain,
    explain_checkup=explain_checkup,
    family=Family.UNSTABLE,
)
