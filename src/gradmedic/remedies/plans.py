"""The ranked cures for each family of failures, tried in order until one works.

Exploding gradients, non-finite values and a diverging loss are one family (an unstable run); vanishing
gradients and saturated units are another (a weak signal); dead units are the third. Each failure kind
names its family (``kinds/``); ``watch(..., treat={family: [cures]})`` replaces a family's plan or adds one.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..kinds.kind import Family
from ..records import DEAD, VANISHING
from .batchnorm import InsertBatchNorm
from .clip import ClipGradNorm
from .cure import Cure
from .lower_lr import LowerLearningRate
from .reinit import Reinitialise
from .rescale_recurrent import RescaleRecurrent
from .revive import ReviveDeadUnits
from .rollback import Rollback
from .swap import SwapActivation


def plans() -> dict[str, list[Cure]]:
    """The built-in plans, fresh cures each time (cures keep state over a run)."""
    return {
        # damaged weights first go back to a healthy snapshot; otherwise clip, then slow down
        # a recurrent weight that grows the gradient through time is rescaled first: nothing else makes it finite
        Family.UNSTABLE: [
            RescaleRecurrent(),
            Rollback("clip", only_when_damaged=True),
            ClipGradNorm(),
            LowerLearningRate(),
            Rollback("lower_lr"),
        ],
        # units that died again at the lower learning rate are revived once more (ReDo revives periodically)
        Family.DEAD: [ReviveDeadUnits(), SwapActivation(DEAD), LowerLearningRate(), ReviveDeadUnits()],
        # re-initialising helps only a young run with a bad scale; otherwise normalise, then swap
        Family.WEAK_SIGNAL: [Reinitialise(), InsertBatchNorm(), SwapActivation(VANISHING)],
    }


def with_plans(custom: Mapping[str, Sequence[Any]] | None) -> dict[str, list[Cure]]:
    """The built-in plans, with the user's plans (family -> cures, in order) in place of those of the same
    family and beside them for new families. Each cure must have ``name``, ``applies_to`` and ``apply``."""
    out = plans()
    for family, cures in (custom or {}).items():
        if not isinstance(family, str) or isinstance(cures, (str, bytes)) or not isinstance(cures, Sequence):
            raise TypeError(
                "treat takes True, False, or plans: a dict of family name -> list of cures, such as "
                f"{{'unstable': [ClipGradNorm(), LowerLearningRate()]}}; got {family!r}: {type(cures).__name__}"
            )
        for cure in cures:
            missing = [m for m in ("name", "applies_to", "apply") if not hasattr(cure, m)]
            if missing:
                raise TypeError(
                    f"the cure {cure!r} in the plan for {family!r} lacks {', '.join(missing)}; a cure has a name "
                    "(the remedy it applies), applies_to(diagnosis, ctx) and apply(diagnosis, ctx) (see docs/extending.md)"
                )
        out[family] = list(cures)
    return out
