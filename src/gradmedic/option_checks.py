"""Checks of the plain options every entry point takes (folders, files, flags, failure kinds, sinks), for
``watch()``, ``gradmedic run`` and the framework callbacks alike: a wrong one fails at once, before
training, with a ``TypeError`` or ``ValueError`` that names it and says what to pass. Framework-free, and
nothing here creates a file or a folder. The checks of models and optimizers are in ``arguments.py``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

from .kinds.kind import FailureKind
from .sinks.base import Sink


def check_flag(value: Any, name: str) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")


def check_treat_form(treat: Any) -> None:
    """``treat`` is True, False, or plans (a mapping; the plans themselves are checked where the cures are)."""
    if not isinstance(treat, (bool, Mapping)):
        raise TypeError(
            f"treat must be True, False, or plans (a dict of family -> list of cures), got {type(treat).__name__}; "
            "see docs/extending.md"
        )


def check_detectors(detectors: Any) -> list[FailureKind] | None:
    """``detectors``: None (every registered kind), or failure kinds."""
    if detectors is None:
        return None
    if isinstance(detectors, (str, bytes, FailureKind)) or not isinstance(detectors, Iterable):
        raise TypeError(
            f"detectors must be a list of gradmedic.FailureKind, got {type(detectors).__name__}; "
            "for one kind pass [kind]"
        )
    out = list(detectors)
    for kind in out:
        if not isinstance(kind, FailureKind):
            raise TypeError(
                f"detectors must hold gradmedic.FailureKind records, got {type(kind).__name__}; "
                "see docs/extending.md for a custom detector"
            )
    return out


def check_sinks(sinks: Any) -> list[Sink]:
    """Sinks: ``gradmedic.Sink`` subclasses, or any object with some of its methods (the others are skipped)."""
    if isinstance(sinks, (str, bytes)) or not isinstance(sinks, Iterable):
        raise TypeError(f"sinks must be a list of sink objects (gradmedic.Sink), got {type(sinks).__name__}")
    out = list(sinks)
    for sink in out:
        if not any(hasattr(sink, m) for m in ("write_step", "write_diagnosis", "close")):
            raise TypeError(
                f"sinks must hold sink objects with write_step / write_diagnosis / close methods, "
                f"got {type(sink).__name__}; subclass gradmedic.Sink"
            )
    return out


def check_logdir(logdir: Any, name: str = "logdir") -> Path | None:
    """A folder that exists or can be created, and that can be written to; None stays None."""
    if logdir is None:
        return None
    if isinstance(logdir, bool) or not isinstance(logdir, (str, os.PathLike)):
        raise TypeError(f"{name} must be a folder path (str or pathlib.Path), got {type(logdir).__name__} {logdir!r}")
    if not str(os.fspath(logdir)).strip():
        raise ValueError(f"{name} must be a non-empty folder path, got {logdir!r}; pass e.g. {name}='runs/exp1'")
    path = Path(logdir)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name}={str(logdir)!r} is a file, not a folder; pass a folder path for the logs")
    check_writable_folder(path, name)
    return path


def check_output_file(target: Any, name: str) -> Path | None:
    """A file path whose folder exists or can be created and can be written to; None stays None."""
    if target is None:
        return None
    if isinstance(target, bool) or not isinstance(target, (str, os.PathLike)):
        raise TypeError(f"{name} must be a file path, got {type(target).__name__} {target!r}")
    path = Path(target)
    if not str(os.fspath(target)).strip():
        raise ValueError(f"{name} must be a non-empty file path, got {target!r}")
    if path.is_dir():
        raise ValueError(f"{name}={str(target)!r} is a folder; pass a file path such as report.json")
    check_writable_folder(path.parent, name)
    return path


def check_writable_folder(path: Path, name: str) -> None:
    """The folder, or its nearest existing ancestor, takes a new file (tried for real: root ignores modes)."""
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{name}={str(path)!r} cannot be a folder: {str(existing)!r} is a file")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ValueError(
            f"{name}={str(path)!r} cannot be written: {str(existing)!r} takes no new file ({exc.strerror or exc}); "
            "pass a folder you can write to"
        ) from exc
