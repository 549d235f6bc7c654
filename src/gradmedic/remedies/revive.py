"""Revive dead units (ReDo, Sokar et al. 2023): fresh incoming weights, zero outgoing weights, reset state.

A dead unit's incoming weights and bias are drawn again with He init; its outgoing weights in the next
layer are set to zero, so the network computes the same function at the moment of revival and the unit
re-enters through learning. The optimizer's running moments for those rows are reset. The cure works on
the layer that produces the activation, so functional ``F.relu`` is revived like ``nn.ReLU``. When the
units died after large updates, the learning rate is lowered too, or they would die again.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..kinds.kind import RemedyName
from ..records import DEAD, Diagnosis
from .context import Context
from .cure import Applied
from .lower_lr import lower, lowered_text
from .optim_state import reset_state


def _rows(module: nn.Module, units: int) -> nn.Parameter | None:
    weight = getattr(module, "weight", None)
    if not isinstance(weight, nn.Parameter) or weight.ndim < 2 or units % weight.shape[0]:
        return None
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        return None
    return weight


def per_channel(dead: np.ndarray, channels: int) -> np.ndarray:
    """A dead mask over a flattened feature map [C * H * W] (a functional ReLU read at the next Linear's input)
    as one flag per channel: a channel is dead when every one of its positions is."""
    return np.asarray(dead.reshape(channels, -1).all(axis=1)) if dead.shape[0] != channels else dead


def _consumer(ctx: Context, layer: str, units: int) -> nn.Parameter | None:
    """The weight of the next layer in depth that reads ``units`` inputs along dim 1."""
    info = ctx.layers[layer]
    later = sorted((i for i in ctx.layers.values() if i.order > info.order and i.has_weights), key=lambda i: i.order)
    if not later:
        return None
    weight = getattr(ctx.module(later[0].name), "weight", None)
    if isinstance(weight, nn.Parameter) and weight.ndim >= 2 and weight.shape[1] == units:
        return weight
    return None


@torch.no_grad()
def revive(ctx: Context, layer: str, dead: np.ndarray) -> int:
    module = ctx.module(layer)
    if module is None:
        return 0
    weight = _rows(module, int(dead.shape[0]))
    if weight is None:
        return 0
    flat = int(dead.shape[0])  # units as measured: channels, or channels x positions of a flattened map
    dead = per_channel(dead, int(weight.shape[0]))
    index = torch.as_tensor(np.flatnonzero(dead), device=weight.device)
    if index.numel() == 0:
        return 0
    fresh = torch.empty_like(weight)
    nn.init.kaiming_normal_(fresh, nonlinearity="relu")
    weight[index] = fresh[index]
    reset_state(ctx.optimizers, weight, index, dim=0)
    bias = getattr(module, "bias", None)
    if isinstance(bias, nn.Parameter) and bias.shape[0] == dead.shape[0]:
        bias[index] = 0.0
        reset_state(ctx.optimizers, bias, index, dim=0)
    out = _consumer(ctx, layer, int(dead.shape[0]))
    out = out if out is not None else _consumer(ctx, layer, flat)
    if out is not None:
        block = out.shape[1] // int(dead.shape[0])  # positions per channel when the next layer reads a flat map
        columns = (index[:, None] * block + torch.arange(block, device=index.device)).flatten()
        out[:, columns] = 0.0
        reset_state(ctx.optimizers, out, columns, dim=1)
    return int(index.numel())


class ReviveDeadUnits:
    name = RemedyName.REVIVE_UNITS

    def applies_to(self, diagnosis: Diagnosis, ctx: Context) -> bool:
        return diagnosis.kind == DEAD and any(
            (mask := ctx.dead_mask(name)) is not None and mask.any() for name in diagnosis.evidence["dead_fraction"]
        )

    def apply(self, diagnosis: Diagnosis, ctx: Context) -> Applied | None:
        fractions = diagnosis.evidence["dead_fraction"]
        revived: dict[str, int] = {}
        for name in sorted(fractions, key=lambda n: ctx.layers[n].order if n in ctx.layers else 0):
            mask = ctx.dead_mask(name)
            if mask is not None and mask.any():
                count = revive(ctx, name, mask)
                if count:
                    revived[name] = count
        if not revived:
            return None
        ratio = ctx.recent_update_ratio()
        lowered = lower(ctx) if ratio is not None and ratio > ctx.config.treat_revive_large_update else None
        where = ", ".join(f"{n} units of '{layer}'" for layer, n in revived.items())
        action = f"revive {where}: fresh He-init incoming weights, zero outgoing weights, reset optimizer state"
        reason = "these units were zero for every example, so no gradient could bring them back"
        if lowered:
            action += f"; {lowered_text(ctx)}"
            reason += f"; the updates were large (update ratio up to {ratio:.1e}), which is what killed them"
        return Applied(
            action=action,
            reason=reason,
            before={"dead_fraction": dict(fractions), "update_ratio": ratio},
            reverse="not reversible in flight: the dead units' old weights carried no signal",
        )
