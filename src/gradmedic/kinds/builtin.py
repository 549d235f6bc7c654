"""The built-in failure kinds, in the order their detectors run (causes before what they explain)."""

from __future__ import annotations

from . import dead, exploding, loss_divergence, non_finite, saturated, update_ratio, vanishing
from .kind import FailureKind

BUILTIN_KINDS: tuple[FailureKind, ...] = (
    non_finite.KIND,
    exploding.KIND,
    vanishing.KIND,
    dead.KIND,
    saturated.KIND,
    loss_divergence.KIND,
    update_ratio.KIND,
)
