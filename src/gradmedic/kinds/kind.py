"""What a failure kind is: one record holding its detector, its explanation and remedies, its title and
its treatment family. The built-in kinds are files beside this one; a user's kind is one more record,
registered with ``gradmedic.register_kind``. Framework-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from ..config import Config
from ..records import Finding, LayerInfo, StepStats, StrEnum


class Family(StrEnum):
    """The treatment families: kinds of one family share a plan of cures (``remedies/plans.py``)."""

    UNSTABLE = "unstable"  # exploding gradients, NaN or Inf, a diverging loss
    DEAD = "dead"  # dead units
    WEAK_SIGNAL = "weak_signal"  # vanishing gradients, saturated units


class RemedyName(StrEnum):
    """The built-in remedies' names: an explanation's ``Advice`` is called by one, and a cure that carries
    that advice out says so with the same one (``Cure.name``), so the report marks the advice as applied."""

    BATCH_NORM = "batch_norm"
    CHECK_DATA = "check_data"
    CLIP_GRAD_NORM = "clip_grad_norm"
    GATED_RNN = "gated_rnn"
    INIT = "init"
    LEAKY_ACTIVATION = "leaky_activation"
    LOWER_LR = "lower_lr"
    LR_WARMUP = "lr_warmup"
    NON_SATURATING_ACTIVATION = "non_saturating_activation"
    NORMALISE_INPUTS = "normalise_inputs"
    RESCALE_RECURRENT = "rescale_recurrent"
    REVIVE_UNITS = "revive_units"
    ROLLBACK = "rollback"
    SKIP_NONFINITE_STEP = "skip_nonfinite_step"
    SMALLER_BATCHES = "smaller_batches"
    STABLE_LOSS = "stable_loss"
    TRUNCATED_BPTT = "truncated_bptt"
    WEIGHT_DECAY = "weight_decay"
    WIDEN_OR_REDRAW = "widen_or_redraw"


@dataclass(frozen=True)
class Advice:
    """One remedy as an explanation proposes it, before it is ranked: a name that cures refer to
    (``Cure.name``; a ``RemedyName`` for the built-in ones), one sentence, and a snippet to paste."""

    name: str
    summary: str
    snippet: str


# The sampled history (oldest first), the layer table by name, the thresholds -> a finding, or None.
Detector = Callable[[Sequence[StepStats], Mapping[str, LayerInfo], Config], "Finding | None"]
# A finding and the layer table -> a message in plain words and the remedies, best first.
Explainer = Callable[[Finding, Mapping[str, LayerInfo]], "tuple[str, list[Advice]]"]


@dataclass(frozen=True)
class FailureKind:
    """One failure kind, everything gradmedic knows about it in one place.

    ``name`` is the stable string of the report's ``kind`` (never renamed once published). ``detect`` runs
    over the sampled steps after each one (``None`` for a kind that only the checkup finds). ``explain``
    turns its finding into a message and ranked advice; ``explain_checkup`` does so for the same kind found
    by the checkup before training (``None``: ``explain`` serves both). ``title`` heads the report's card and
    ``about`` tells a newcomer what the problem is. ``family`` picks the treatment plan (``None``: never
    treated in flight). ``onset_keys`` are evidence keys kept as first measured while the finding stands:
    later windows see the damage, not the cause; when one of ``cause_keys`` is among them, the layers the
    finding named at onset are kept too (they are where the cause is).
    """

    name: str
    title: str
    about: str
    detect: Detector | None
    explain: Explainer
    explain_checkup: Explainer | None = None
    family: str | None = None
    onset_keys: tuple[str, ...] = ()
    cause_keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier() or self.name != self.name.lower():
            raise ValueError(
                f"a failure kind's name must be a lower-case identifier such as 'plateau_loss', got {self.name!r}; "
                "it becomes the report's 'kind' and part of file and tag names"
            )
        if self.detect is not None and not callable(self.detect):
            raise TypeError(
                f"FailureKind {self.name!r}: detect must be a function (history, layers, config) -> Finding | None, "
                f"got {type(self.detect).__name__}"
            )
        if not callable(self.explain):
            raise TypeError(
                f"FailureKind {self.name!r}: explain must be a function (finding, layers) -> (message, [Advice]), "
                f"got {type(self.explain).__name__}"
            )
