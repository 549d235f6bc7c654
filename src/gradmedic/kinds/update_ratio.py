"""update_ratio: each step changes a layer's weights by a large part of their norm (the learning rate is far
too high, even when clipping keeps the gradient flat). The detector is ``detectors/update_ratio.py``.

Not treated in flight: the unstable family's cures follow when the run also explodes or diverges.
"""

from __future__ import annotations

import math
from typing import Mapping

from ..advice import names
from ..detectors import update_ratio
from ..records import Finding, Kind, LayerInfo
from .kind import Advice, FailureKind, RemedyName

SNIPPET_WARMUP = """# a linear warm-up over the first 1000 steps
scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 1000))
# ... after optimizer.step():
scheduler.step()"""


def explain(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[Advice]]:
    ratios = f.evidence["update_ratio"]
    worst = max(ratios, key=ratios.get)
    message = (
        f"Each step changes the weights of {names(ratios)} by {ratios[worst]:.2g} of their norm "
        f"(median, '{worst}'), since step {f.first_step}; healthy training moves them by about 1e-3 of it. "
        "The learning rate is far too high for these weights, even where gradients look tame (clipping bounds "
        "the gradient, not the step an adaptive optimizer takes)."
    )
    factor = max(10.0, 10 ** math.ceil(math.log10(max(ratios[worst], 1e-12) / 1e-2)))
    snippet = f"""# lower the learning rate until ||dw|| / ||w|| sits near 1e-3 ({factor:.0f}x lower here)
for group in optimizer.param_groups:
    group["lr"] /= {factor:.0f}"""
    remedies = [
        Advice(RemedyName.LOWER_LR, f"Lower the learning rate about {factor:.0f}x.", snippet),
        Advice(RemedyName.LR_WARMUP, "Warm the learning rate up over the first steps.", SNIPPET_WARMUP),
    ]
    return message, remedies


KIND = FailureKind(
    name=Kind.UPDATE_RATIO,
    title="Updates too large",
    about="Each step changes the weights by a large part of their own size (healthy training "
    "moves them by about a thousandth), so the optimizer throws away what it learned: the learning rate "
    "is too high.",
    detect=update_ratio.detect,
    explain=explain,
)
