"""Insert batch normalisation after hidden Linear and conv layers, as module surgery on the live model.

The norm becomes a child of the layer (``<layer>.gradmedic_bn``), applied by a forward hook to the
layer's output, so the layer's own name, parameters and ``state_dict`` keys stay as they were and the new
keys sit beside them. Its parameters join the optimizer group of the layer's weight, so the script's
LR schedulers (one entry per group) keep working, and ``state_dict()`` saves and loads.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from ..kinds.kind import RemedyName
from ..probe.module_types import is_normalization
from ..records import SATURATED, VANISHING, Diagnosis
from .context import Context
from .cure import Applied
from .optim_state import add_params, remove_params

CHILD = "gradmedic_bn"


def normalise_output(module: nn.Module, args: Any, output: Any) -> Any:
    """Forward hook: the layer's output through its inserted norm (a module-level function, so it pickles)."""
    norm = getattr(module, CHILD, None)
    if norm is None or not isinstance(output, torch.Tensor):
        return output
    if isinstance(module, nn.Linear) and output.ndim != 2:
        return norm(output.reshape(-1, output.shape[-1])).reshape(output.shape)  # [..., F] -> [N, F] -> [..., F]
    return norm(output)


def _norm_for(module: nn.Module) -> nn.Module | None:
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor):
        return None
    if isinstance(module, nn.Linear):
        norm: nn.Module = nn.BatchNorm1d(module.out_features)
    elif isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        norm = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[module.weight.ndim - 2](module.out_channels)
    else:
        return None
    return norm.to(device=weight.device, dtype=weight.dtype)


class InsertBatchNorm:
    name = RemedyName.BATCH_NORM

    def candidates(self, ctx: Context) -> list[str]:
        """Hidden Linear/conv layers with a measured activation that no norm layer follows yet."""
        if ctx.distributed or isinstance(ctx.model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            return []  # the wrapper would not synchronise the new parameters: its replicas would drift apart
        by_order = sorted(ctx.layers.values(), key=lambda i: i.order)
        out = []
        for pos, info in enumerate(by_order):
            module = ctx.module(info.name)
            if info.is_output or not info.has_weights or not info.activation or module is None:
                continue
            if hasattr(module, CHILD) or _norm_for(module) is None:
                continue
            nxt = ctx.module(by_order[pos + 1].name) if pos + 1 < len(by_order) else None
            if is_normalization(nxt):
                continue
            out.append(info.name)
        return out

    def applies_to(self, diagnosis: Diagnosis, ctx: Context) -> bool:
        return diagnosis.kind in (VANISHING, SATURATED) and bool(self.candidates(ctx))

    def apply(self, diagnosis: Diagnosis, ctx: Context) -> Applied | None:
        inserted: list[tuple[nn.Module, nn.Module, RemovableHandle]] = []
        names: list[str] = []
        for name in self.candidates(ctx):
            module = ctx.module(name)
            norm = _norm_for(module) if module is not None else None
            if module is None or norm is None:
                continue
            if not add_params(ctx.optimizers, module.weight, list(norm.parameters())):  # type: ignore[arg-type]
                continue  # a layer no optimizer steps (frozen): leave it
            norm.train(module.training)
            module.add_module(CHILD, norm)
            inserted.append((module, norm, module.register_forward_hook(normalise_output)))
            names.append(name)
        if not inserted:
            return None

        def undo() -> None:
            for module, norm, handle in inserted:
                handle.remove()
                delattr(module, CHILD)
                remove_params(ctx.optimizers, list(norm.parameters()))

        return Applied(
            action=f"insert BatchNorm after {', '.join(repr(n) for n in names)} (as '<layer>.{CHILD}'), "
            "its parameters added to the layer's optimizer group",
            reason="normalised pre-activations keep each layer in its activation's responsive range, "
            "so the gradient keeps its scale through depth",
            before={"layers": names},
            reverse=f"remove the '{CHILD}' children and their forward hooks; load older checkpoints with strict=False",
            undo=undo,
            surgery=True,
        )
