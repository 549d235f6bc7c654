"""Checks of the PyTorch arguments of ``watch()``: the model, the optimizers and treatment plans. A wrong
argument is a programming error, so it fails at once, before anything is attached, with a ``TypeError`` or
``ValueError`` that names it and says what to pass. The plain options are checked in ``option_checks.py``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import torch
from torch import nn

from .option_checks import check_treat_form
from .remedies.cure import Cure


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
    check_treat_form(treat)
    if isinstance(treat, bool):
        return {} if treat else None
    from .remedies.plans import with_plans

    with_plans(treat)  # raises TypeError on a malformed plan, naming what is wrong
    return treat
