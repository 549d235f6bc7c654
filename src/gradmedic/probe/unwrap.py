"""What ``watch`` is handed, made into what it can hook: the module that runs and the optimizer that steps.

Frameworks wrap both. DistributedDataParallel and DataParallel hold the model in ``.module``.
accelerate's ``AcceleratedOptimizer`` and Lightning's ``LightningOptimizer`` hold the real optimizer in ``.optimizer`` (the first subclasses ``torch.optim.Optimizer`` without
running its ``__init__``, so it has no hook tables); ``torch.compile`` returns an ``OptimizedModule``
that holds the model in ``._orig_mod``. The wrappers call through to the inner objects, so hooks on
those see every step. Anything else that is not a module or an optimizer gets a ``TypeError`` that
says what to pass.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

_MAX_DEPTH = 8  # wrappers of wrappers; a cycle of ``.optimizer`` references ends here


def unwrap_model(model: Any) -> nn.Module:
    """The module to hook: ``model`` itself, or the one a ``torch.compile``, DDP or DataParallel wrapper holds.

    FSDP is left wrapped: the monitor recognises it and says it is not watched (distributed.py).
    """
    for _ in range(_MAX_DEPTH):
        inner = getattr(model, "_orig_mod", None)
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            inner = model.module
        if not isinstance(model, nn.Module) or not isinstance(inner, nn.Module):
            break
        model = inner
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"gradmedic.watch expected the model as a torch.nn.Module, got {type(model).__name__}; "
            "pass the module you train (for a Hugging Face pipeline, pipeline.model)"
        )
    return model


def compile_wrapper(model: Any) -> nn.Module | None:
    """The ``torch.compile`` wrapper ``model`` is, if it is one (its hooks run outside the compiled graph)."""
    if isinstance(model, nn.Module) and isinstance(getattr(model, "_orig_mod", None), nn.Module):
        return model
    return None


def is_compiled_in_place(model: nn.Module) -> bool:
    """``model.compile()`` was called: its whole ``__call__``, hooks included, runs compiled."""
    return getattr(model, "_compiled_call_impl", None) is not None


def unwrap_optimizer(optimizer: Any) -> Any:
    """The optimizer to hook: ``optimizer`` itself, or the ``torch.optim.Optimizer`` inside its wrappers.

    A learning-rate scheduler is left alone (it has an ``.optimizer`` too, but passing one is a
    mistake the caller should hear about).
    """
    current = optimizer
    for _ in range(_MAX_DEPTH):
        inner = getattr(current, "optimizer", None)
        if inner is None or isinstance(current, torch.optim.lr_scheduler.LRScheduler):
            break
        current = inner
    if isinstance(current, torch.optim.Optimizer):
        optimizer = current
    if isinstance(optimizer, torch.optim.Optimizer) and not hasattr(optimizer, "_optimizer_step_pre_hooks"):
        raise TypeError(
            f"{type(optimizer).__name__} subclasses torch.optim.Optimizer without initialising it, and holds no "
            "inner optimizer in .optimizer; pass the torch optimizer it wraps"
        )
    return optimizer


def unwrap(model: Any, optimizer: Any) -> tuple[nn.Module, Any]:
    """``(model, optimizer)`` unwrapped; ``optimizer`` may be one optimizer or a list or tuple of them."""
    if isinstance(optimizer, Sequence) and not isinstance(optimizer, (str, bytes)):
        return unwrap_model(model), [unwrap_optimizer(opt) for opt in optimizer]
    return unwrap_model(model), unwrap_optimizer(optimizer)
