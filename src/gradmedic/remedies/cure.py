"""The cure interface: one small class per treatment, and the record of one application.

A cure says whether it fits a diagnosis (``applies_to``) and applies itself (``apply``), returning an
``Applied`` that names what changed, why, the figures before, and how to undo it. The doctor chooses
among cures in the order of its plans and judges whether each one worked. A cure whose class says
``unsticks = True`` acts on the weights themselves (rescale, rollback): the doctor turns to those when
every step is being dropped, since cures that act on a step cannot help a run that takes none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

from ..records import Diagnosis
from .context import Context


@dataclass(frozen=True)
class Applied:
    """What one cure did: the action in words, why, figures before, how to reverse it."""

    action: str
    reason: str
    before: Mapping[str, Any] = field(default_factory=dict)
    reverse: str = ""
    undo: Callable[[], None] | None = None  # None for stabilisers (clip, lower lr): escalation stacks them
    surgery: bool = False  # modules were added or swapped: the probe must look at the model again


class Cure(Protocol):
    @property
    def name(self) -> str:
        """The advice it carries out (a ``RemedyName`` for the built-in ones), so the report marks it applied."""
        ...

    def applies_to(self, diagnosis: Diagnosis, ctx: Context) -> bool: ...

    def apply(self, diagnosis: Diagnosis, ctx: Context) -> Applied | None: ...
