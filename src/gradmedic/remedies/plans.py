"""The ranked cures for each family of failures, tried in order until one works.

Exploding gradients, non-finite values and a diverging loss are one family (an unstable run); vanishing
gradients and saturated units are another (a weak signal); dead units are the third.
"""

from __future__ import annotations

from ..records import DEAD, EXPLODING, LOSS_DIVERGENCE, NON_FINITE, SATURATED, VANISHING
from .batchnorm import InsertBatchNorm
from .clip import ClipGradNorm
from .cure import Cure
from .lower_lr import LowerLearningRate
from .reinit import Reinitialise
from .rescale_recurrent import RescaleRecurrent
from .revive import ReviveDeadUnits
from .rollback import Rollback
from .swap import SwapActivation

FAMILY = {
    EXPLODING: "unstable",
    NON_FINITE: "unstable",
    LOSS_DIVERGENCE: "unstable",
    DEAD: "dead",
    VANISHING: "weak_signal",
    SATURATED: "weak_signal",
}


def plans() -> dict[str, list[Cure]]:
    return {
        # damaged weights first go back to a healthy snapshot; otherwise clip, then slow down
        # a recurrent weight that grows the gradient through time is rescaled first: nothing else makes it finite
        "unstable": [
            RescaleRecurrent(),
            Rollback("clip", only_when_damaged=True),
            ClipGradNorm(),
            LowerLearningRate(),
            Rollback("lower_lr"),
        ],
        # units that died again at the lower learning rate are revived once more (ReDo revives periodically)
        "dead": [ReviveDeadUnits(), SwapActivation(DEAD), LowerLearningRate(), ReviveDeadUnits()],
        # re-initialising helps only a young run with a bad scale; otherwise normalise, then swap
        "weak_signal": [Reinitialise(), InsertBatchNorm(), SwapActivation(VANISHING)],
    }
