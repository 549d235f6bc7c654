"""Leave the model as the checkup found it: module modes, buffers, gradients and the random generators.

The pass runs in training mode (BatchNorm normalises over the batch, as in the first training step) with
dropout switched off, since dropout zeros units on purpose. When the model is already in training mode,
each module keeps its own flag (a BatchNorm frozen with ``.eval()`` stays frozen).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

DROPOUT_TYPES: tuple[type[nn.Module], ...] = (nn.modules.dropout._DropoutNd,)


@contextmanager
def preserved(model: nn.Module) -> Iterator[None]:
    """Restore every module's mode, every buffer (BatchNorm running statistics), every ``.grad`` and the
    global random generators (CPU and the model's CUDA devices) on the way out, whatever happens inside."""
    modes = [(module, module.training) for module in model.modules()]
    buffers = [
        (owner, name, buffer, buffer.detach().clone())
        for owner in model.modules()
        for name, buffer in owner.named_buffers(recurse=False)
    ]
    grads = [(p, p.grad) for p in model.parameters()]
    cuda = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=cuda):
        try:
            yield
        finally:
            for module, flag in modes:
                module.training = flag
            with torch.no_grad():
                for owner, name, buffer, saved in buffers:
                    setattr(owner, name, buffer)  # the very tensor object, in case forward replaced it
                    buffer.copy_(saved)
            for p, grad in grads:
                p.grad = grad


def set_pass_modes(model: nn.Module) -> None:
    """Training mode for the pass (unless the model is in it already), dropout off."""
    if not model.training:
        model.train()
    for module in model.modules():
        if isinstance(module, DROPOUT_TYPES):
            module.training = False
