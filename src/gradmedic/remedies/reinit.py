"""Re-initialise badly scaled layers with a variance-preserving scale for their activation, early in a run.

He init (Kaiming) for ReLU-like activations, Xavier/Glorot with the activation's gain for tanh and
sigmoid. It applies only while the run is young and only to layers whose weight scale is off by more
than a factor of two, since a trained layer's weights carry what it has learned.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..kinds.kind import RemedyName
from ..records import SATURATED, VANISHING, ActivationKind, Diagnosis
from .context import Context
from .cure import Applied
from .optim_state import reset_state


def _target_std(weight: torch.Tensor, kind: ActivationKind) -> float:
    receptive = weight[0][0].numel() if weight.ndim > 2 else 1
    fan_in, fan_out = weight.shape[1] * receptive, weight.shape[0] * receptive
    if kind == "relu":
        return math.sqrt(2.0 / fan_in)
    gain = nn.init.calculate_gain("tanh" if kind == "tanh" else "sigmoid")
    return gain * math.sqrt(2.0 / (fan_in + fan_out))


class Reinitialise:
    name = RemedyName.INIT

    def off_scale(self, ctx: Context) -> dict[str, tuple[float, float, ActivationKind]]:
        """Hidden weight layers whose std is off the target: name -> (std, target, activation kind)."""
        last = list(ctx.history)[-1] if ctx.history else None
        out: dict[str, tuple[float, float, ActivationKind]] = {}
        for info in ctx.layers.values():
            if info.is_output or not info.has_weights or last is None:
                continue
            act = last.layers[info.name].activation if info.name in last.layers else None
            module = ctx.module(info.name)
            weight = getattr(module, "weight", None)
            if act is None or act.kind not in ("relu", "tanh", "sigmoid") or not isinstance(weight, nn.Parameter):
                continue
            if weight.ndim < 2:
                continue
            std, target = float(weight.detach().float().std()), _target_std(weight, act.kind)
            off_by = ctx.config.treat_reinit_off_by
            if not target / off_by <= std <= target * off_by:
                out[info.name] = (std, target, act.kind)
        return out

    def applies_to(self, diagnosis: Diagnosis, ctx: Context) -> bool:
        return (
            diagnosis.kind in (VANISHING, SATURATED)
            and diagnosis.first_step <= ctx.config.treat_reinit_early_steps
            and bool(self.off_scale(ctx))
        )

    @torch.no_grad()
    def apply(self, diagnosis: Diagnosis, ctx: Context) -> Applied | None:
        layers = self.off_scale(ctx)
        if not layers:
            return None
        for name, (_, target, _) in layers.items():
            module = ctx.module(name)
            weight: nn.Parameter = module.weight  # type: ignore[union-attr,assignment]
            weight.normal_(0.0, target)
            reset_state(ctx.optimizers, weight, torch.arange(weight.shape[0]), dim=0)
            bias = getattr(module, "bias", None)
            if isinstance(bias, nn.Parameter):
                bias.zero_()
                reset_state(ctx.optimizers, bias, torch.arange(bias.shape[0]), dim=0)
        kinds = {k for _, _, k in layers.values()}
        scheme = "He" if kinds == {"relu"} else "Xavier/Glorot" if "relu" not in kinds else "He or Xavier"
        return Applied(
            action=f"re-initialise {', '.join(repr(n) for n in layers)} with {scheme} scale, zero biases",
            reason=f"their weight scale was more than {ctx.config.treat_reinit_off_by:g}x off the "
            "variance-preserving scale for their activation",
            before={
                "weight_std": {n: s for n, (s, _, _) in layers.items()},
                "target_std": {n: t for n, (_, t, _) in layers.items()},
            },
            reverse="not reversible in flight: the earlier weights were replaced (the run was young)",
        )
