"""Failure kinds as objects: one file per kind (its detector, explanation, remedies, title, treatment
family), and the registry that the engine, the advice, the report and the doctor look them up in.

The built-in kinds are registered on first lookup (``registry._ensure_builtins``), not on import here:
they use the advice, and the advice uses the registry.
"""

from __future__ import annotations

from .kind import Advice, Detector, Explainer, FailureKind, Family
from .registry import family_of, get_kind, register_kind, registered_kinds, title_of, unregister_kind

__all__ = [
    "Advice",
    "Detector",
    "Explainer",
    "FailureKind",
    "Family",
    "family_of",
    "get_kind",
    "register_kind",
    "registered_kinds",
    "title_of",
    "unregister_kind",
]
