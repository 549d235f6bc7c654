"""Rescale a recurrent weight whose spectral radius is 1 or more down to 0.9, so the signal stops growing through time.

Above radius 1 a vanilla RNN's hidden state and its gradient grow by about the radius at every time step:
over a long sequence they overflow whatever the learning rate, and every step is dropped. Scaling the
recurrent matrix below 1 is the one change that makes the gradient finite again (Pascanu et al. 2013:
radius < 1 is sufficient for the gradient not to explode through a linear recurrence). The optimizer's
state for the weight (momentum, Adam moments) is reset: it was gathered at the old scale.
"""

from __future__ import annotations

import torch

from ..kinds.kind import RemedyName
from ..probe.recurrent_weights import spectral_radius
from ..records import EXPLODING, LOSS_DIVERGENCE, NON_FINITE, Diagnosis
from .context import Context
from .cure import Applied

ITERATIONS = 50


def _weights(diagnosis: Diagnosis, ctx: Context) -> list[tuple[str, torch.nn.Parameter]]:
    out = []
    for key, cause in (diagnosis.evidence.get("through_time") or {}).items():
        module = ctx.module(str(cause.get("layer", "")))
        param = getattr(module, str(cause.get("param", "")), None) if module is not None else None
        if isinstance(param, torch.nn.Parameter) and param.ndim == 2 and param.shape[0] == param.shape[1]:
            out.append((key, param))
    return out


class RescaleRecurrent:
    name = RemedyName.RESCALE_RECURRENT
    unsticks = True  # acts on the weights, not on a step: it helps a run whose every step is dropped

    def applies_to(self, diagnosis: Diagnosis, ctx: Context) -> bool:
        """When the gradient overflowed before any update (the weights themselves are the cause), or when
        every step is dropped. An explosion that built up in training is the updates' doing as much as
        the radius': rollback and clipping come first there (rnn_long_sequence ends better with them)."""
        if diagnosis.kind not in (EXPLODING, NON_FINITE, LOSS_DIVERGENCE) or not _weights(diagnosis, ctx):
            return False
        return bool(diagnosis.evidence.get("from_start")) or ctx.stuck

    def apply(self, diagnosis: Diagnosis, ctx: Context) -> Applied | None:
        changed: list[tuple[torch.nn.Parameter, torch.Tensor]] = []
        radii: dict[str, float] = {}
        restored = _restore_before_onset(ctx)
        target = ctx.config.treat_recurrent_radius
        with torch.no_grad():
            for key, param in _weights(diagnosis, ctx):
                if not torch.isfinite(param).all():
                    continue  # damaged weights: a rollback, not a rescale, repairs them
                radius = float(spectral_radius(param, None, ITERATIONS)[0])
                if radius <= target:
                    continue
                changed.append((param, param.detach().clone()))
                param.mul_(target / radius)
                radii[key] = radius
                for opt in ctx.optimizers:
                    opt.state.pop(param, None)  # moments gathered at the old scale
        if not changed:
            return None

        def undo() -> None:
            with torch.no_grad():
                for param, old in changed:
                    param.copy_(old)

        shown = ", ".join(f"'{k}' from {r:.3g}" for k, r in radii.items())
        back = f"roll the model and optimizer back to step {restored} and " if restored is not None else ""
        return Applied(
            action=f"{back}rescale the recurrent weight {shown} to spectral radius {target}",
            reason="a spectral radius of 1 or more grows the hidden state and the gradient at every time step; "
            "over the sequence it overflows whatever the learning rate",
            before={"spectral_radius": radii},
            reverse=f"multiply the weight back by radius / {target} (the old radius is recorded above)",
            undo=None if restored is not None else undo,  # a rollback cannot be undone in flight
            surgery=False,
        )


def _restore_before_onset(ctx: Context) -> int | None:
    """Restore the snapshot from before the onset when an overflowing step was applied since it; its step, or None.

    The first overflowing gradient may still be finite (1e17, say): the step it makes wrecks the weights,
    and rescaling the recurrent matrix alone would leave the rest of them wrecked.
    """
    snapshot = ctx.snapshots.before(ctx.onset)
    if snapshot is None:
        return None
    dropped = {step for step, _ in ctx.gate.log.skipped}
    applied = [step for step in range(snapshot.step, ctx.gate.step) if step not in dropped]
    if not applied:
        return None
    ctx.snapshots.restore(snapshot)
    return snapshot.step
