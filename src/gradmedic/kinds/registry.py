"""The registry of failure kinds: the engine runs their detectors, the advice their explanations, the
report their titles, the doctor their treatment families.

The built-in kinds register themselves on first use. ``register_kind`` adds one of the user's; like
BackPACK's ``set_module_extension``, it refuses to replace a kind already registered under that name
unless told ``overwrite=True``.
"""

from __future__ import annotations

import threading

from .kind import FailureKind

_KINDS: dict[str, FailureKind] = {}
_BUILTIN: set[str] = set()
_lock = threading.RLock()
_loaded = False


def register_kind(kind: FailureKind, overwrite: bool = False) -> FailureKind:
    """Add a failure kind; its detector then runs in every monitor and pipeline made afterwards.

    Raises ``ValueError`` when a kind of that name is registered already, unless ``overwrite=True``.
    Returns the kind, so a module can write ``PLATEAU = register_kind(FailureKind(...))``.
    """
    if not isinstance(kind, FailureKind):
        raise TypeError(
            f"register_kind takes a gradmedic.FailureKind, got {type(kind).__name__}; "
            "build one with FailureKind(name=..., title=..., about=..., detect=..., explain=...)"
        )
    with _lock:
        _ensure_builtins()
        old = _KINDS.get(kind.name)
        if old is not None and old is not kind and not overwrite:
            origin = "a built-in kind" if kind.name in _BUILTIN else "registered earlier"
            raise ValueError(
                f"a failure kind named {kind.name!r} exists already ({origin}); choose another name, "
                f"or pass overwrite=True to replace it"
            )
        _KINDS[kind.name] = kind
    return kind


def unregister_kind(name: str) -> None:
    """Remove a kind of the user's (tests, notebooks re-run); built-in kinds cannot be removed."""
    with _lock:
        _ensure_builtins()
        if name in _BUILTIN:
            raise ValueError(f"{name!r} is a built-in kind and cannot be removed; register_kind(..., overwrite=True)")
        _KINDS.pop(name, None)


def get_kind(name: str) -> FailureKind | None:
    """The registered kind of that name, or ``None``."""
    _ensure_builtins()
    return _KINDS.get(name)


def registered_kinds() -> list[FailureKind]:
    """Every registered kind: the built-in ones first, in the order their detectors run, then the user's."""
    _ensure_builtins()
    with _lock:
        return list(_KINDS.values())


def family_of(name: str) -> str | None:
    """The treatment family of a kind, or ``None`` for a kind that is never treated (or unknown)."""
    kind = get_kind(name)
    return kind.family if kind is not None else None


def title_of(name: str) -> str:
    """The kind's title, or its name in words for a kind this process does not know."""
    kind = get_kind(name)
    return kind.title if kind is not None else name.replace("_", " ").capitalize()


def _ensure_builtins() -> None:
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        from .builtin import BUILTIN_KINDS  # the built-in kinds import the advice, which imports this module

        for kind in BUILTIN_KINDS:
            _KINDS.setdefault(kind.name, kind)
            _BUILTIN.add(kind.name)
        _loaded = True
