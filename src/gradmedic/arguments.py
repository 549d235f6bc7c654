"""Argument checks for ``watch()`` and ``gradmedic run``: a wrong argument is a programming error, so it
fails at once, before anything is attached, with a ``TypeError`` or ``ValueError`` that names the argument
and says what to pass. Nothing here creates a file or a folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import torch
from torch import nn

from .kinds.kind import FailureKind
from .remedies.cure import Cure
from .sinks.base import Sink


def check_flag(value: Any, name: str) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")


def check_model_type(model: Any) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module with trainable parameters, got {type(model).__name__}; "
            "pass the model you train: gradmedic.watch(model, optimizer)"
        )


def as_optimizers(optimizer: Any) -> list[torch.optim.Optimizer]:
    """The optimizer(s) as a list, each checked to be a ``torch.optim.Optimizer`` (``None`` is no optimizer:
    the monitor then counts backward passes)."""
    if optimizer is None:
        return []
    optimizers = list(optimizer) if isinstance(optimizer, (list, tuple)) else [optimizer]
    if not optimizers:
        raise ValueError(
            "optimizer is an empty list: pass the optimizer(s) that train the model, or none at all (watch(model)) for weights updated by hand"
        )
    for opt in optimizers:
        if not isinstance(opt, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer (or a list of them), got {type(opt).__name__}; "
                "pass the optimizer itself (for a scheduler, pass scheduler.optimizer)"
            )
    return optimizers


def check_optimizers_train(model: nn.Module, optimizers: Iterable[torch.optim.Optimizer]) -> None:
    """Every optimizer must update some of the model's parameters, or its steps would measure nothing.

    An optimizer that also updates parameters outside the model (a learnable loss temperature) is fine:
    those parameters are not watched.
    """
    owned = {id(p) for p in model.parameters()}
    for opt in optimizers:
        params = [p for group in opt.param_groups for p in group["params"]]
        if not any(id(p) in owned for p in params):
            raise ValueError(
                f"the optimizer ({type(opt).__name__}, {len(params)} parameters) updates none of the parameters of "
                f"{type(model).__name__}, so nothing would be measured; pass the optimizer built from this model's "
                "parameters, e.g. torch.optim.Adam(model.parameters())"
            )


def check_treat(treat: Any) -> Mapping[str, Sequence[Cure]] | None:
    """``treat``: False (None: no treatment), True (the built-in plans), or plans (family -> cures)."""
    if isinstance(treat, bool):
        return {} if treat else None
    if isinstance(treat, Mapping):
        from .remedies.plans import with_plans

        with_plans(treat)  # raises TypeError on a malformed plan, naming what is wrong
        return treat
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
