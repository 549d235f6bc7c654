"""Swap activation modules: LeakyReLU for ReLU (dead units), ELU for Sigmoid or Tanh (vanishing, saturation).

Only ``nn.Module`` activations can be swapped; functional ``F.relu`` calls live in the script's code,
which the cure never edits. The old modules are kept so the swap can be undone.
"""

from __future__ import annotations

from torch import nn

from ..kinds.kind import RemedyName
from ..records import DEAD, SATURATED, VANISHING, Diagnosis
from .context import Context
from .cure import Applied

SATURATING = (nn.Sigmoid, nn.Tanh, nn.Hardsigmoid, nn.Hardtanh)


def _replacement(kind: str, module: nn.Module) -> nn.Module | None:
    if kind == DEAD and type(module) in (nn.ReLU, nn.ReLU6):
        return nn.LeakyReLU(0.01)
    if kind in (VANISHING, SATURATED) and isinstance(module, SATURATING):
        return nn.ELU()
    return None


class SwapActivation:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = RemedyName.LEAKY_ACTIVATION if kind == DEAD else RemedyName.NON_SATURATING_ACTIVATION

    def targets(self, diagnosis: Diagnosis, ctx: Context) -> dict[str, nn.Module]:
        """Activation module name -> replacement, for the hidden layers this diagnosis concerns."""
        if self.kind == DEAD:
            names = [ctx.layers[n].activation_module for n in diagnosis.evidence["dead_fraction"] if n in ctx.layers]
        else:
            names = [i.activation_module for i in ctx.layers.values() if not i.is_output]
        out: dict[str, nn.Module] = {}
        for name in dict.fromkeys(n for n in names if n):
            module = ctx.module(name)
            new = _replacement(self.kind, module) if module is not None else None
            if new is not None:
                out[name] = new
        return out

    def applies_to(self, diagnosis: Diagnosis, ctx: Context) -> bool:
        return diagnosis.kind in ((DEAD,) if self.kind == DEAD else (VANISHING, SATURATED)) and bool(
            self.targets(diagnosis, ctx)
        )

    def apply(self, diagnosis: Diagnosis, ctx: Context) -> Applied | None:
        targets = self.targets(diagnosis, ctx)
        if not targets:
            return None
        old: dict[str, nn.Module] = {}
        for name, new in targets.items():
            parent_name, _, child = name.rpartition(".")
            parent = ctx.model.get_submodule(parent_name)
            old[name] = getattr(parent, child)
            setattr(parent, child, new)

        def undo() -> None:
            for name, module in old.items():
                parent_name, _, child = name.rpartition(".")
                setattr(ctx.model.get_submodule(parent_name), child, module)

        first_old = next(iter(old.values()))
        first_new = next(iter(targets.values()))
        return Applied(
            action=f"swap {type(first_old).__name__} for {type(first_new).__name__} in {', '.join(repr(n) for n in old)}",
            reason=(
                "a leaky activation keeps a gradient for negative inputs, so units cannot die"
                if self.kind == DEAD
                else "a non-saturating activation passes the gradient back without shrinking it"
            ),
            before={"modules": {n: type(m).__name__ for n, m in old.items()}},
            reverse=f"put the {type(first_old).__name__} modules back in place of {', '.join(old)}",
            undo=undo,
            surgery=True,
        )
